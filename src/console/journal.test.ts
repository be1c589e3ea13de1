import { expect, test } from "bun:test";
import { createJournal } from "./journal.ts";

const clockAt = (start: number) => {
  let now = start;
  return {
    clock: () => now,
    tick: (ms: number) => {
      now += ms;
    },
  };
};

test("a run's story, in time order: received, started, what Port answered and took, ended", () => {
  const t = clockAt(1_000);
  const j = createJournal({ clock: t.clock });
  j.received("r1", "sink/runs", "req-1");
  t.tick(5);
  j.started("r1", "deploy", 1);
  t.tick(5);
  j.ended("r1", "deploy", "SUCCESS", "done");
  t.tick(5);
  j.portCall("r1", "postLog", 201);
  j.delivered("r1", { kind: "log", message: "one\ntwo" });
  j.delivered("r1", { kind: "entity", blueprint: "service", entity: { identifier: "checkout" } });
  j.portCall("r1", "patchRun", undefined);
  expect(j.get("r1")).toEqual({
    runId: "r1",
    action: "deploy",
    source: "sink/runs",
    requestId: "req-1",
    phase: "SUCCESS",
    attempts: 1,
    receivedAt: 1_000,
    startedAt: 1_005,
    endedAt: 1_010,
    summary: "done",
    events: [
      { at: 1_000, what: "received", detail: "from sink/runs, request req-1" },
      { at: 1_005, what: "started", detail: "attempt 1" },
      { at: 1_010, what: "ended", detail: "SUCCESS: done" },
      { at: 1_015, what: "port", detail: "postLog 201" },
      { at: 1_015, what: "log", detail: "one" },
      { at: 1_015, what: "log", detail: "two" },
      { at: 1_015, what: "entity", detail: "service/checkout" },
      { at: 1_015, what: "port", detail: "patchRun no answer" },
    ],
  });
  // Port answers about runs it never saw are not kept.
  j.portCall("r_unknown", "patchRun", 200);
  expect(j.get("r_unknown")).toBeUndefined();
});

test("newest first, filtered by action, phase and time; bounded, the run first seen longest ago goes first", () => {
  const t = clockAt(0);
  const j = createJournal({ capacity: 3, clock: t.clock });
  for (const [id, action] of [
    ["a", "deploy"],
    ["b", "break"],
    ["c", "deploy"],
  ] as const) {
    t.tick(10);
    j.received(id, "sink/runs");
    j.started(id, action, 1);
  }
  j.ended("b", "break", "FAILURE", "no");
  expect(j.list().map((r) => r.runId)).toEqual(["c", "b", "a"]);
  expect(j.list({ action: "deploy" }).map((r) => r.runId)).toEqual(["c", "a"]);
  expect(j.list({ phase: "FAILURE" }).map((r) => r.runId)).toEqual(["b"]);
  expect(j.list({ since: 20 }).map((r) => r.runId)).toEqual(["c", "b"]);
  expect(j.list({ limit: 1 }).map((r) => r.runId)).toEqual(["c"]);
  expect(j.list()[0]?.events).toEqual([]);
  t.tick(10);
  j.received("d", "kafka/org.runs");
  expect(j.list().map((r) => r.runId)).toEqual(["d", "c", "b"]);
  expect(j.get("a")).toBeUndefined();
});

test("a run that logs without end keeps its first and latest events, 200 at most", () => {
  const j = createJournal();
  j.received("r", "sink/runs");
  for (let i = 0; i < 1_000; i++) j.delivered("r", { kind: "log", message: `line ${i}` });
  const events = j.get("r")?.events ?? [];
  expect(events).toHaveLength(201);
  expect(events[1]?.detail).toBe("line 0");
  expect(events.at(-1)?.detail).toBe("line 999");
});
