import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { readBody } from "./body.ts";
import { ChangeSchema, parseChange } from "./change.ts";
import type { ParseChangeResult } from "./change.ts";
import type { Change } from "./views.ts";

/** Parsed JSON. Tests change what is inside (at times to invalid values), reaching it with `obj`. */
type Json = Record<string, unknown>;

/** The object at a dot path inside parsed JSON, e.g. `obj(message, "trigger.by")`. */
const obj = (value: unknown, path: string): Json => path.split(".").reduce((at, key) => at[key] as Json, value as Json);

const load = (name: string): Json => JSON.parse(readFileSync(new URL(`./fixtures/changes/${name}`, import.meta.url), "utf8"));

/** Node's SHA-256, to check the WebCrypto digest against an independent implementation. */
const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

async function parse(value: unknown): Promise<ParseChangeResult> {
  return parseChange(value, JSON.stringify(value));
}

async function accepted(value: unknown): Promise<Change> {
  const result = await parse(value);
  if (!result.ok) throw new Error(`expected the change to be accepted, got: ${result.reason}`);
  return result.change;
}

describe("change-log fixtures", () => {
  test("entity CREATE", async () => {
    const message = load("entity-create.json");
    expect(await accepted(message)).toEqual({
      action: "CREATE",
      resourceType: "entity",
      blueprint: "microservice",
      identifier: "billing-api",
      runId: null,
      before: null,
      after: obj(message, "diff.after"),
      orgId: "org_sYG4DOJZNGy8bYnt",
      byPort: false,
      userId: "auth0|5f1c",
      origin: "UI",
      at: "2026-07-16T09:01:00.000Z",
      digest: sha256(JSON.stringify(message)),
      raw: message,
    });
  });

  test("entity UPDATE", async () => {
    const message = load("entity-update.json");
    const change = await accepted(message);
    expect(change).toMatchObject({
      action: "UPDATE",
      resourceType: "entity",
      blueprint: "vm",
      identifier: "storage-example",
      userId: "h2Mf13aRSCYQCUPIcqufoP4XRLwAt8Od@clients",
      origin: "API",
      byPort: false,
    });
    expect(change.before?.properties).toMatchObject({ free_storage: 6 });
    expect(change.after?.properties).toMatchObject({ free_storage: 0.5 });
  });

  test("TIMER_EXPIRED: no diff, sent by Port itself", async () => {
    const message = load("timer-expired.json");
    expect(await accepted(message)).toMatchObject({
      action: "TIMER_EXPIRED",
      resourceType: "entity",
      blueprint: "sandbox",
      identifier: "sandbox-42",
      before: null,
      after: null,
      byPort: true,
      userId: null,
      at: "2026-09-01T16:50:00+02:00",
    });
  });
});

describe("every action and resource type", () => {
  const trigger = { by: { orgId: "org_abc", userId: "x@clients" }, origin: "API", at: "2026-03-01T10:00:00.000Z" };

  test("entity DELETE: after is null", async () => {
    const before = { identifier: "old-vm", blueprint: "vm", properties: {} };
    const change = await accepted({
      action: "DELETE",
      resourceType: "entity",
      status: "SUCCESS",
      trigger,
      context: { blueprint: "vm", entity: "old-vm" },
      diff: { before, after: null },
    });
    expect(change).toMatchObject({ action: "DELETE", identifier: "old-vm", before, after: null });
  });

  test("run changes: the run id identifies them", async () => {
    const after = { id: "r_1", status: "SUCCESS", action: { identifier: "deploy" } };
    const message = {
      action: "UPDATE",
      resourceType: "run",
      status: "SUCCESS",
      trigger,
      context: { runId: "r_1", blueprint: "microservice" },
      diff: { before: { id: "r_1", status: "IN_PROGRESS" }, after },
    };
    expect(await accepted(message)).toMatchObject({ resourceType: "run", runId: "r_1", identifier: "r_1", blueprint: "microservice" });
    const created = { action: "CREATE", resourceType: "run", status: "SUCCESS", trigger, context: {}, diff: { before: null, after } };
    expect(await accepted(created)).toMatchObject({ runId: null, identifier: "r_1", blueprint: null });
  });

  test("blueprint changes: the blueprint is what changed", async () => {
    const message = {
      action: "CREATE",
      resourceType: "blueprint",
      status: "SUCCESS",
      trigger,
      context: null,
      diff: { before: null, after: { identifier: "vm", title: "VM", schema: {} } },
    };
    expect(await accepted(message)).toMatchObject({ resourceType: "blueprint", identifier: "vm", blueprint: "vm" });
  });

  test("unknown fields are kept", async () => {
    const message: Json = { ...load("entity-update.json"), changelogDestination: { type: "KAFKA" }, newField: [1] };
    obj(message, "diff.after").icon = "Server";
    expect((await accepted(message)).raw).toBe(message);
    const output = v.parse(ChangeSchema, message) as Json;
    expect(output.changelogDestination).toEqual({ type: "KAFKA" });
    expect(output.newField).toEqual([1]);
    expect(obj(output, "diff.after").icon).toBe("Server");
  });
});

describe("refusals", () => {
  test("not an object", async () => {
    expect(await parseChange("x", '"x"')).toEqual({ ok: false, reason: "not a change-log message: expected a JSON object, got a string" });
  });

  test("an unknown action", async () => {
    expect(await parse({ ...load("entity-update.json"), action: "PATCH" })).toEqual({
      ok: false,
      reason: 'invalid change-log message: action: expected one of "CREATE", "UPDATE", "DELETE", "TIMER_EXPIRED", got a string',
    });
  });

  test("an unknown resource type", async () => {
    expect(await parse({ ...load("entity-update.json"), resourceType: "action" })).toEqual({
      ok: false,
      reason: 'invalid change-log message: resourceType: expected one of "entity", "run", "blueprint", got a string',
    });
  });

  test("an UPDATE without its diff; an organisation of the wrong type", async () => {
    const message = load("entity-update.json");
    delete message.diff;
    obj(message, "trigger.by").orgId = null;
    expect(await parse(message)).toEqual({
      ok: false,
      reason: "invalid change-log message: trigger.by.orgId: expected a string, got null; diff: required, but missing",
    });
  });

  test("a DELETE whose before is not an object", async () => {
    const message = { ...load("entity-update.json"), action: "DELETE", diff: { before: "gone", after: null } };
    expect(await parse(message)).toEqual({
      ok: false,
      reason: "invalid change-log message: diff.before: expected an object, got a string",
    });
  });
});

describe("digest", () => {
  test("same record in any body form → same text → same digest", async () => {
    const message = load("entity-create.json");
    const compact = JSON.stringify(message);
    const bodies = [JSON.stringify(message, null, 2), `[${compact}]`, `${compact}\r\n`, `\n${compact}\n\n`, JSON.stringify(compact)];
    const digests = new Set<string>();
    for (const body of bodies) {
      const [record] = [...readBody(body)];
      if (!record?.ok) throw new Error("expected a parsed record");
      const result = await parseChange(record.value, record.text);
      if (!result.ok) throw new Error(result.reason);
      digests.add(result.change.digest);
    }
    expect([...digests]).toEqual([sha256(compact)]);
  });
});
