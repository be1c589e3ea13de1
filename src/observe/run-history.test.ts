import { expect, test } from "bun:test";
import { createMemoryLedger } from "../ledger/memory.ts";
import type { WorkRecord } from "../ledger/ledger.ts";
import { createRunHistory, EVENT_EDGE_CHARS, STORY_EDGE_EVENTS } from "./run-history.ts";

const T0 = 1_700_000_000_000;
const run = (id: string, action: string): WorkRecord => ({
  key: `run:${id}`,
  kind: "run",
  body: "{}",
  source: "sink/runs",
  lane: null,
  action,
  requestId: `req-${id}`,
});
const lease = { owner: "o1", leaseMs: 60_000 };

test("a run's story in time order: received, started, ended, then each report with Port's answer and what Port took", async () => {
  const ledger = createMemoryLedger();
  await ledger.commit({ records: [run("r1", "deploy")], deadLetters: [], reports: [] }, T0);
  await ledger.claimWork({ ...lease, limit: 1, now: T0 + 5 });
  await ledger.appendReports([{ runId: "r1", call: { kind: "log", message: "one\ntwo" } }], T0 + 6);
  await ledger.finishWork(
    "run:r1",
    "o1",
    [
      { runId: "r1", call: { kind: "entity", blueprint: "service", entity: { identifier: "checkout" } } },
      { runId: "r1", call: { kind: "update", patch: { status: "SUCCESS", summary: "done" } } },
    ],
    T0 + 10,
    { status: "SUCCESS", summary: "done" },
  );
  const reports = await ledger.claimReports({ ...lease, owner: "rep", limit: 10, now: T0 + 11 });
  await ledger.settleReport(reports[0]?.id ?? "", { type: "retry", at: T0 + 12, error: "Port answered 429: slow down" }, T0 + 11);
  for (const r of await ledger.claimReports({ ...lease, owner: "rep", limit: 10, now: T0 + 12 }))
    await ledger.settleReport(r.id, { type: "delivered" }, T0 + 15);

  const history = createRunHistory(ledger);
  expect(await history.get("r1")).toEqual({
    runId: "r1",
    action: "deploy",
    source: "sink/runs",
    requestId: "req-r1",
    phase: "SUCCESS",
    attempts: 1,
    receivedAt: T0,
    startedAt: T0 + 5,
    endedAt: T0 + 10,
    summary: "done",
    report: { state: "delivered", reason: null },
    stack: null,
    events: [
      { at: T0, what: "received", detail: "from sink/runs, request req-r1" },
      { at: T0 + 5, what: "started", detail: "attempt 1" },
      { at: T0 + 10, what: "ended", detail: "SUCCESS: done" },
      { at: T0 + 15, what: "port", detail: "logs delivered on attempt 2 (before: Port answered 429: slow down)" },
      { at: T0 + 15, what: "log", detail: "one" },
      { at: T0 + 15, what: "log", detail: "two" },
      { at: T0 + 15, what: "port", detail: "entity delivered" },
      { at: T0 + 15, what: "entity", detail: "service/checkout" },
      { at: T0 + 15, what: "port", detail: "status delivered" },
    ],
  });
  expect(await history.get("r_nobody")).toBeUndefined();
});

test("lists newest first without events, by phase, action and time, paged", async () => {
  const ledger = createMemoryLedger();
  for (const [i, id] of ["a", "b", "c"].entries())
    await ledger.commit({ records: [run(id, id === "b" ? "break" : "deploy")], deadLetters: [], reports: [] }, T0 + i);
  await ledger.claimWork({ ...lease, limit: 2, now: T0 + 10 });
  await ledger.finishWork("run:b", "o1", [], T0 + 11, { status: "FAILURE", summary: "no" });
  const history = createRunHistory(ledger);
  const ids = async (filter: Parameters<typeof history.list>[0]) => (await history.list(filter)).items.map((r) => `${r.runId} ${r.phase}`);
  expect(await ids({})).toEqual(["c received", "b FAILURE", "a running"]);
  expect(await ids({ phase: "received" })).toEqual(["c received"]);
  expect(await ids({ phase: "running" })).toEqual(["a running"]);
  expect(await ids({ phase: "FAILURE" })).toEqual(["b FAILURE"]);
  expect(await ids({ action: "deploy", since: T0 + 1 })).toEqual(["c received"]);
  const first = await history.list({ limit: 2 });
  expect(first.items[0]?.events).toEqual([]);
  expect(await ids({ limit: 2, before: first.next ?? "" })).toEqual(["a running"]);
});

test("a story is bounded: long lines keep their ends, many lines keep the first and last events, and each cut says so", async () => {
  const ledger = createMemoryLedger();
  await ledger.commit({ records: [run("r_big", "chatty")], deadLetters: [], reports: [] }, T0);
  // 200 lines of 10 KB, in ten log calls: what a handler that logs too much leaves.
  const line = (i: number) => `${String(i).padStart(4, "0")}${"x".repeat(10_000)}${String(i).padStart(4, "0")}`;
  const calls = Array.from({ length: 10 }, (_, c) => ({
    runId: "r_big",
    call: { kind: "log" as const, message: Array.from({ length: 120 }, (_, i) => line(c * 120 + i)).join("\n") },
  }));
  await ledger.appendReports(calls, T0 + 1);
  for (const r of await ledger.claimReports({ ...lease, owner: "rep", limit: 100, now: T0 + 2 }))
    await ledger.settleReport(r.id, { type: "delivered" }, T0 + 3);

  const story = await createRunHistory(ledger).get("r_big");
  const events = story?.events ?? [];
  expect(events).toHaveLength(STORY_EDGE_EVENTS * 2 + 1);
  expect(events.filter((e) => e.what === "cut").map((e) => e.detail)).toEqual([
    `${1 + 10 + 1200 - STORY_EDGE_EVENTS * 2} events not shown (a story shows its first and last ${STORY_EDGE_EVENTS})`,
  ]);
  const log = events.find((e) => e.what === "log")?.detail ?? "";
  expect(log.length).toBeLessThan(EVENT_EDGE_CHARS * 2 + 100);
  expect(log).toStartWith("0000xxx");
  expect(log).toEndWith("xxx0000");
  expect(log).toContain("[…9008 characters not shown…]");
  expect(events.at(-1)?.detail).toEndWith("1199");
  // The whole story stays small whatever was logged (12 MB here).
  expect(JSON.stringify(story).length).toBeLessThan(1_100_000);
});
