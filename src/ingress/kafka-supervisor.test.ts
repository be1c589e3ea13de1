import { expect, test } from "bun:test";
import { createSupervisor } from "./kafka-supervisor.ts";
import { createLogger } from "../log.ts";

/** A supervisor on a clock the test moves; its timers are real but far longer than the test. */
function setup() {
  let now = 1_000_000;
  const lines: Array<Record<string, unknown>> = [];
  const supervisor = createSupervisor({
    groupId: "g",
    logger: createLogger({ level: "debug", sink: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
    replace: () => new Promise<void>(() => {}),
    stallAfterMs: 60_000,
    giveUpAfterMs: 60_000,
    onStalled: () => {},
    onResumed: () => {},
    clock: () => now,
  });
  const events = (name: string) => lines.filter((l) => l.event === name);
  return { supervisor, events, advance: (ms: number) => (now += ms) };
}

test("down past KAFKA_RECOVERY_TIMEOUT_MS: live() turns false with the line that says why, even before its timer fires; up again, live", async () => {
  const { supervisor, events, advance } = setup();
  supervisor.joined();
  supervisor.crashed(true);
  advance(59_999);
  expect(supervisor.live()).toBe(true);
  expect(events("kafka.recovery_failed")).toEqual([]);
  advance(1);
  // The timer (60 s of real time) has not fired; /healthz asks now.
  expect(supervisor.live()).toBe(false);
  expect(events("kafka.recovery_failed")).toEqual([expect.objectContaining({ level: "error", groupId: "g", downMs: 60_000 })]);
  expect(supervisor.live()).toBe(false);
  expect(events("kafka.recovery_failed")).toHaveLength(1);
  supervisor.joined();
  expect(supervisor.live()).toBe(true);
  // Down again: counted from zero, and said again when it lasts.
  supervisor.crashed(true);
  advance(60_000);
  expect(supervisor.live()).toBe(false);
  expect(events("kafka.recovery_failed")).toHaveLength(2);
  await supervisor.stop();
});
