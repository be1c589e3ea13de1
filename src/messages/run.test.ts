import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { parseRun } from "./run.ts";
import type { ParseRunResult } from "./run.ts";
import { LegacyRunSchema } from "./run-schemas.ts";
import type { PortEntity, Run } from "./views.ts";

/** Parsed JSON. Tests change what is inside (at times to invalid values), reaching it with `obj`. */
type Json = Record<string, unknown>;

/** The object at a dot path inside parsed JSON, e.g. `obj(message, "trigger.by")`. */
const obj = (value: unknown, path: string): Json => path.split(".").reduce((at, key) => at[key] as Json, value as Json);

const load = (name: string): Json => JSON.parse(readFileSync(new URL(`./fixtures/runs/${name}`, import.meta.url), "utf8"));

function accepted(result: ParseRunResult): Run {
  if (!result.ok) throw new Error(`expected the run to be accepted, got: ${result.reason}`);
  return result.run;
}

describe("Port's run messages (fixtures)", () => {
  test("legacy CREATE", () => {
    const message = load("legacy-create.json");
    const run = accepted(parseRun(message));
    expect(run).toEqual({
      id: "r_q2mGf9ZYkFRnZJjB",
      action: "create_vm",
      operation: "CREATE",
      blueprint: "vm",
      entity: null,
      inputs: { cpu: 2, memory: 4, region: "eu-west-1" },
      secretInputs: [],
      orgId: "org_sYG4DOJZNGy8bYnt",
      user: { id: "auth0|638879fa62c686d381b36ecb", email: "dev@example.com", name: "Dana Dev" },
      origin: "API",
      triggeredAt: "2026-07-14T11:38:10.629Z",
      shape: "legacy",
      forAgent: false,
      raw: message,
    });
    expect(run.raw).toBe(message);
  });

  test("legacy DAY-2 carries the full entity", () => {
    const message = load("legacy-day2.json");
    const run = accepted(parseRun(message));
    expect(run).toMatchObject({
      id: "r_HardNzG6kzc9vWOQ",
      action: "deploy",
      operation: "DAY-2",
      blueprint: "microservice",
      inputs: { version: "2.14.0", environment: "staging" },
      secretInputs: [],
      orgId: "org_sYG4DOJZNGy8bYnt",
      user: { id: "auth0|5f1c", email: "lee@example.com", name: "Lee Ops" },
      origin: "UI",
      triggeredAt: "2026-08-02T08:12:44.010Z",
      shape: "legacy",
      forAgent: false,
    });
    expect(run.entity).toEqual(obj(message, "payload.entity") as PortEntity);
    expect(run.entity?.icon).toBe("Microservice");
  });

  test("agent-style message (legacy + signature headers)", () => {
    const run = accepted(parseRun(load("agent-signed.json")));
    expect(run).toMatchObject({
      id: "r_jE5FhDURh4Uen2Qr",
      action: "Create",
      operation: "CREATE",
      blueprint: "Service",
      entity: null,
      inputs: {},
      secretInputs: [],
      orgId: "test_org",
      user: { id: "test_user", email: null, name: null },
      origin: "UI",
      triggeredAt: "2022-11-16T16:31:32.447Z",
      shape: "agent",
      forAgent: true,
    });
  });
});

describe("legacy tolerance", () => {
  test("nulls and missing optional parts, as Port sends them", () => {
    const message = load("legacy-create.json");
    delete obj(message, "trigger.by").user;
    delete obj(message, "trigger").origin;
    message.payload = { entity: null, action: null, properties: null };
    obj(message, "context").blueprint = null;
    const run = accepted(parseRun(message));
    expect(run).toMatchObject({
      operation: null,
      blueprint: null,
      inputs: {},
      secretInputs: [],
      user: { id: "h2Mf13aRSCYQCUPIcqufoP4XRLwAt8Od@clients", email: null, name: null },
      origin: null,
    });
  });

  test("an entity named only in the context becomes { identifier }; censored inputs are listed", () => {
    const message = load("legacy-day2.json");
    obj(message, "payload").entity = null;
    obj(message, "payload").censoredProperties = ["token"];
    const run = accepted(parseRun(message));
    expect(run.entity).toEqual({ identifier: "checkout-service" });
    expect(run.secretInputs).toEqual(["token"]);
  });

  test("payload.action.trigger as an Actions-v2 trigger object; unknown operations become null", () => {
    const message = load("legacy-day2.json");
    obj(message, "payload.action").trigger = { type: "self-service", operation: "DELETE" };
    expect(accepted(parseRun(message)).operation).toBe("DELETE");
    obj(message, "payload.action").trigger = "DAY_3";
    expect(accepted(parseRun(message)).operation).toBeNull();
  });

  test("unknown fields are kept, at every level", () => {
    const message = load("legacy-day2.json");
    message.newTopLevel = { a: 1 };
    obj(message, "payload").extra = "kept";
    obj(message, "trigger.by.user").nickname = "lee";
    const run = accepted(parseRun(message));
    expect((run.raw as Json).newTopLevel).toEqual({ a: 1 });
    const output = v.parse(LegacyRunSchema, message) as Json;
    expect(output.newTopLevel).toEqual({ a: 1 });
    expect(obj(output, "payload").extra).toBe("kept");
    expect(obj(output, "trigger.by.user").nickname).toBe("lee");
    expect(obj(output, "payload.action").invocationMethod).toEqual({ type: "KAFKA" });
  });
});

describe("refusals say what was wrong", () => {
  const refuse = (value: unknown, opts = {}) => parseRun(value, opts);

  test("not an object", () => {
    expect(refuse("hello")).toEqual({ ok: false, reason: "not a run message: expected a JSON object, got a string", runId: null });
    expect(refuse([load("legacy-create.json")])).toEqual({
      ok: false,
      reason: "not a run message: expected a JSON object, got an array",
      runId: null,
    });
    expect(refuse(null)).toEqual({ ok: false, reason: "not a run message: expected a JSON object, got null", runId: null });
  });

  test("missing run id", () => {
    const message = load("legacy-create.json");
    delete obj(message, "context").runId;
    expect(refuse(message)).toEqual({ ok: false, reason: "invalid legacy run: context.runId: required, but missing", runId: null });
  });

  test("run id of the wrong type, or empty", () => {
    const message = load("legacy-create.json");
    obj(message, "context").runId = null;
    expect(refuse(message)).toEqual({
      ok: false,
      reason: "invalid legacy run: context.runId: expected a string, got null",
      runId: null,
    });
    obj(message, "context").runId = "";
    expect(refuse(message)).toEqual({
      ok: false,
      reason: "invalid legacy run: context.runId: expected a run id, got an empty string",
      runId: null,
    });
  });

  test("wrong types elsewhere: the run id is dug out so Port can be told", () => {
    const message = load("legacy-day2.json");
    obj(message, "trigger.by").orgId = 42;
    obj(message, "payload").properties = ["2.14.0"];
    obj(message, "payload.action").trigger = 7;
    expect(refuse(message)).toEqual({
      ok: false,
      reason:
        "invalid legacy run: trigger.by.orgId: expected a string, got a number; payload.action.trigger: expected a " +
        "string or an object, got a number; payload.properties: expected an object, got an array",
      runId: "r_HardNzG6kzc9vWOQ",
    });
  });

  test("more than three problems are counted, not listed", () => {
    const message = load("legacy-day2.json");
    message.action = 1;
    message.status = 2;
    obj(message, "trigger").origin = 3;
    obj(message, "trigger").at = 4;
    obj(message, "context").blueprint = 5;
    expect(refuse(message)).toEqual({
      ok: false,
      reason:
        "invalid legacy run: action: expected a string, got a number; status: expected a string, got a number; " +
        "trigger.origin: expected a string, got a number; and 2 more",
      runId: "r_HardNzG6kzc9vWOQ",
    });
  });

  test("an entity without an identifier", () => {
    const message = load("legacy-day2.json");
    delete obj(message, "payload.entity").identifier;
    expect(refuse(message)).toMatchObject({
      ok: false,
      reason: "invalid legacy run: payload.entity.identifier: required, but missing",
    });
  });

  test("wrong resourceType: a change-log record sent to the runs endpoint", () => {
    const change = JSON.parse(readFileSync(new URL("./fixtures/changes/entity-update.json", import.meta.url), "utf8"));
    expect(refuse(change)).toEqual({
      ok: false,
      reason:
        'resourceType: expected "run", got a string: this looks like a change-log message; send ORG_ID.change.log ' +
        "records to /sink/changes, not /sink/runs",
      runId: null,
    });
    const runChange = { ...change, resourceType: "run", context: { runId: "r_1" } };
    expect(refuse(runChange)).toEqual({
      ok: false,
      reason:
        "this is a change-log message about a run (it has a diff), not an action invocation; send " +
        "ORG_ID.change.log records to /sink/changes, not /sink/runs",
      runId: null,
    });
  });

  test("resourceType of the wrong type", () => {
    const message = load("legacy-create.json");
    message.resourceType = 1;
    expect(refuse(message)).toEqual({
      ok: false,
      reason: 'invalid legacy run: resourceType: expected "run", got a number',
      runId: "r_q2mGf9ZYkFRnZJjB",
    });
  });

  test("an unrecognised shape without a locator: Port is told why, when a run id is there", () => {
    const reason =
      "not a recognised run message: expected Port's run message (resourceType \"run\"), portside's template " +
      '("portside": 1, see connectors/port-action-payload.json), or a message your configured run locator ' +
      "describes (none is configured)";
    // Not a shape portside knows, so possibly another consumer's: never reported, even with a run id in it.
    expect(refuse({ run: { id: "r_1" }, hello: "world" })).toEqual({ ok: false, reason, runId: null });
    expect(refuse({ hello: "world" })).toEqual({ ok: false, reason, runId: null });
  });
});
