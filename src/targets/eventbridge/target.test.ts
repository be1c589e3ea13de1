import { expect, test } from "bun:test";
import { eventBridge, EventBridgeOptionsError, readTarget } from "./target.ts";

test("eventBridge() is plain data the executor can re-run after a crash", () => {
  expect(eventBridge({ bus: "platform", status: "deferred" })).toEqual({ kind: "eventbridge", rerunOnInterrupt: true, bus: "platform", status: "deferred" });
  expect(eventBridge()).toEqual({ kind: "eventbridge", rerunOnInterrupt: true });
});

test("bad options fail when the handler module loads, naming the option", () => {
  expect(() => eventBridge({ bus: "not a bus!" })).toThrow(EventBridgeOptionsError);
  expect(() => eventBridge({ bus: "not a bus!" })).toThrow("bus: must be an event bus name or an event-bus ARN");
  expect(() => eventBridge({ source: "aws.ec2" })).toThrow("source: must not start with `aws.`");
  expect(() => eventBridge({ stauts: "deferred" } as never)).toThrow('unknown key "stauts"');
  expect(() => eventBridge({ bus: "arn:aws:events:eu-west-1:123456789012:event-bus/platform" })).not.toThrow();
});

test("readTarget re-checks a target written as a plain object", () => {
  expect(readTarget({ kind: "eventbridge", bus: "b" })).toEqual({ ok: true, options: { bus: "b" } });
  expect(readTarget({ kind: "eventbridge", status: "later" })).toMatchObject({ ok: false, reason: expect.stringContaining("status") });
});
