import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { RunLocatorSchema } from "./locator.ts";
import type { RunLocator } from "./locator.ts";
import { parseRun } from "./run.ts";
import type { ParseRunResult } from "./run.ts";
import type { Run } from "./views.ts";

type Json = Record<string, unknown>;

const load = (name: string): Json => JSON.parse(readFileSync(new URL(`./fixtures/runs/${name}`, import.meta.url), "utf8"));

function accepted(result: ParseRunResult): Run {
  if (!result.ok) throw new Error(`expected the run to be accepted, got: ${result.reason}`);
  return result.run;
}

/** Renders a payload template the way Port does for the path-only expressions it uses. */
function render(template: unknown, data: unknown): unknown {
  if (typeof template === "string") {
    const match = /^\{\{\s*\.([\w.]+)\s*\}\}$/.exec(template);
    if (!match?.[1]) return template;
    return match[1].split(".").reduce<unknown>((at, key) => (at == null ? null : ((at as Json)[key] ?? null)), data);
  }
  if (template !== null && typeof template === "object") {
    return Object.fromEntries(Object.entries(template).map(([k, value]) => [k, render(value, data)]));
  }
  return template;
}

const template = JSON.parse(readFileSync(new URL("../../connectors/port-action-payload.json", import.meta.url), "utf8")) as Json;

const triggerData = (operation: string, entity: unknown): Json => ({
  inputs: { version: "2.14.0", token: "b64-ciphertext" },
  trigger: {
    by: { orgId: "org_abc", userId: "auth0|123", user: { email: "a@b.io", firstName: "Ada", lastName: "B", id: "auth0|123" } },
    origin: "UI",
    at: "2026-03-01T10:00:00.000Z",
    operation,
  },
  event: null,
  entity,
  action: { identifier: "deploy", blueprint: "microservice", encryptedProperties: ["token"] },
  run: { id: "r_Q2mGf9ZYkFRnZJjB" },
});

describe("portside's Actions-v2 template", () => {
  test("the shipped template renders into a message portside accepts (DAY-2)", () => {
    const entity = { identifier: "checkout", title: "Checkout", blueprint: "microservice", team: [], properties: {}, relations: {} };
    const message = render(template, triggerData("DAY-2", entity));
    const run = accepted(parseRun(message));
    expect(run).toEqual({
      id: "r_Q2mGf9ZYkFRnZJjB",
      action: "deploy",
      operation: "DAY-2",
      blueprint: "microservice",
      entity,
      inputs: { version: "2.14.0", token: "b64-ciphertext" },
      secretInputs: ["token"],
      orgId: "org_abc",
      user: { id: "auth0|123", email: "a@b.io", name: "Ada B" },
      origin: "UI",
      triggeredAt: "2026-03-01T10:00:00.000Z",
      shape: "template",
      forAgent: false,
      raw: message,
    });
  });

  test("CREATE: Port renders the entity as {}, which means no entity", () => {
    const run = accepted(parseRun(render(template, triggerData("CREATE", {}))));
    expect(run.entity).toBeNull();
    expect(run.operation).toBe("CREATE");
  });

  test("operation falls back to trigger.operation; extra keys are kept", () => {
    const message = render(template, triggerData("DELETE", null)) as Json;
    delete message.operation;
    message.team = "payments";
    const run = accepted(parseRun(message));
    expect(run.operation).toBe("DELETE");
    expect((run.raw as Json).team).toBe("payments");
  });
});

describe("portside template refusals", () => {
  test("template refusals", () => {
    const message = render(template, triggerData("DAY-2", { title: "no identifier" })) as Json;
    message.inputs = "version=2";
    expect(parseRun(message)).toEqual({
      ok: false,
      reason: "invalid portside template run: entity.identifier: required, but missing; inputs: expected an object, " + "got a string",
      runId: "r_Q2mGf9ZYkFRnZJjB",
    });
    expect(parseRun({ ...message, portside: 2, runId: null, inputs: {} })).toEqual({
      ok: false,
      reason:
        "invalid portside template run: portside: expected 1, got a number; runId: expected a string, got null; " + "entity.identifier: required, but missing",
      runId: null,
    });
  });
});

describe("custom templates with a run locator", () => {
  const locator: RunLocator = { runIdPath: "meta.run.id", actionPath: "meta.action", orgIdPath: "meta.org", inputsPath: "data" };
  const message = {
    meta: { run: { id: "r_custom1" }, action: "rotate_keys", org: "org_abc" },
    data: { keyId: "k1" },
    entity: "vault-1",
    extra: true,
  };

  test("parts are read from the configured paths, the rest from the defaults", () => {
    const run = accepted(parseRun(message, { locator }));
    expect(run).toEqual({
      id: "r_custom1",
      action: "rotate_keys",
      operation: null,
      blueprint: null,
      entity: { identifier: "vault-1" },
      inputs: { keyId: "k1" },
      secretInputs: [],
      orgId: "org_abc",
      user: { id: null, email: null, name: null },
      origin: null,
      triggeredAt: null,
      shape: "custom",
      forAgent: false,
      raw: message,
    });
  });

  test("Port's legacy shape is still accepted when a locator is configured", () => {
    expect(accepted(parseRun(load("legacy-create.json"), { locator })).shape).toBe("legacy");
  });

  test("a refusal names the configured path and still finds the run id", () => {
    const broken = { ...message, meta: { run: { id: "r_custom1" } }, data: [1] };
    expect(parseRun(broken, { locator })).toEqual({
      ok: false,
      reason: "invalid run (custom locator): meta.action: required, but missing; meta.org: required, but missing; " + "data: expected an object, got an array",
      runId: "r_custom1",
    });
  });

  test("the locator config is itself validated", () => {
    expect(v.safeParse(RunLocatorSchema, locator).success).toBe(true);
    const bad = v.safeParse(RunLocatorSchema, { runIdPath: "meta..id", actionPath: "" });
    expect(bad.success).toBe(false);
    expect(bad.issues?.map((i) => i.message)).toEqual(["expected a dot path such as meta.run.id", "expected a dot path such as meta.run.id"]);
  });
});
