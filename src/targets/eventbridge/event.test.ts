import { describe, expect, test } from "bun:test";
import type { Change, Run } from "../../messages/views.ts";
import { changeDetailType, changeEvent, entryBytes, runEvent } from "./event.ts";

const defaults = { bus: "default-bus", source: "portside" };

const run: Run = {
  id: "r_1",
  action: "create_vm",
  operation: "CREATE",
  blueprint: "vm",
  entity: null,
  inputs: { region: "eu-west-1" },
  secretInputs: [],
  orgId: "org_1",
  user: { id: "u1", email: "lee@example.com", name: "Lee" },
  origin: "UI",
  triggeredAt: "2026-08-02T08:12:44.010Z",
  shape: "legacy",
  forAgent: false,
  raw: { original: true },
};

const change: Change = {
  action: "UPDATE",
  resourceType: "entity",
  blueprint: "microservice",
  identifier: "checkout",
  runId: null,
  before: {},
  after: {},
  orgId: "org_1",
  byPort: false,
  userId: "u1",
  origin: "API",
  at: null,
  digest: "ab12",
  raw: { original: true },
};

describe("entryBytes: EventBridge's own size rule", () => {
  test("UTF-8 bytes of Source, DetailType, Detail and Resources; +14 for Time; the bus does not count", () => {
    const base = { Source: "ab", DetailType: "cd", Detail: '{"k":"é€"}', EventBusName: "a-very-long-bus-name-that-is-free" };
    // é is 2 bytes, € is 3: Detail is 13 bytes.
    expect(entryBytes(base)).toBe(2 + 2 + 13);
    expect(entryBytes({ ...base, Time: new Date() })).toBe(17 + 14);
    expect(entryBytes({ ...base, Resources: ["arn:aws:ec2:x", "ü"] })).toBe(17 + 13 + 2);
  });
});

describe("run events", () => {
  test("conventions: Source and bus from defaults, DetailType port.run.<action>, Time from the trigger", () => {
    const event = runEvent(run, {}, defaults);
    expect(event.entry).toMatchObject({
      EventBusName: "default-bus",
      Source: "portside",
      DetailType: "port.run.create_vm",
      Time: new Date("2026-08-02T08:12:44.010Z"),
    });
    expect(event.entry.Resources).toBeUndefined();
    expect(event.bytes).toBe(entryBytes(event.entry));
    expect(event.idempotencyKey).toBe("r_1");
  });

  test("Detail: version, idempotency key, who reports the status, the view without raw, and raw", () => {
    const detail = JSON.parse(runEvent(run, { status: "deferred" }, defaults).entry.Detail);
    const { raw, ...view } = run;
    expect(detail).toEqual({ version: 1, kind: "run", idempotencyKey: "r_1", statusReportedBy: "consumer", run: view, raw });
  });

  test("target options override the defaults; an unparseable time is left out", () => {
    const event = runEvent(
      { ...run, triggeredAt: "yesterday" },
      { bus: "b", source: "s", detailType: "vm.requested", resources: ["arn:aws:ec2:eu-west-1:123456789012:instance/i-1"] },
      defaults,
    );
    expect(event.entry).toMatchObject({
      EventBusName: "b",
      Source: "s",
      DetailType: "vm.requested",
      Resources: ["arn:aws:ec2:eu-west-1:123456789012:instance/i-1"],
    });
    expect(event.entry.Time).toBeUndefined();
  });
});

describe("change events", () => {
  test("DetailType port.change.<resourceType>.<blueprint>.<action>; the digest is the idempotency key", () => {
    const event = changeEvent(change, {}, defaults);
    expect(event.entry.DetailType).toBe("port.change.entity.microservice.UPDATE");
    expect(changeDetailType({ resourceType: "blueprint", blueprint: null, action: "DELETE" })).toBe("port.change.blueprint._.DELETE");
    const { raw, ...view } = change;
    expect(JSON.parse(event.entry.Detail)).toEqual({ version: 1, kind: "change", idempotencyKey: "ab12", change: view, raw });
    expect(event.entry.Time).toBeUndefined();
  });
});
