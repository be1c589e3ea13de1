import { describe, expect, test } from "bun:test";
import type { Ledger, RunRecord, StatusReport, WorkRecord } from "../../src/ledger/ledger.ts";
import type { ReportInput } from "../../src/port/calls.ts";

/**
 * The run history every ledger serves (`listRuns`, `getRun`, `counts().oldestHeldReportAt`): the same runs
 * from any replica and after a restart, kept as long as retention keeps the rest. Part of the ledger
 * contract (test/ledger/contract.ts).
 */
const T0 = 1_700_000_000_000;
const lease = { leaseMs: 1_000 };

const run = (id: string, action: string, requestId?: string): WorkRecord => ({
  key: `run:${id}`,
  kind: "run",
  body: JSON.stringify({ id }),
  source: "sink/runs",
  lane: null,
  action,
  ...(requestId ? { requestId } : {}),
});
const log = (runId: string, message: string): ReportInput => ({ runId, call: { kind: "log", message } });
const status = (runId: string, s: "SUCCESS" | "FAILURE", summary: string): ReportInput => ({ runId, call: { kind: "update", patch: { status: s, summary } } });
const ids = (runs: RunRecord[]) => runs.map((r) => r.runId);

export function historyContract(open: () => Promise<Ledger>): void {
  describe("run history", () => {
    test("runs newest first, with how each came, started and ended; changes are not runs", async () => {
      const ledger = await open();
      await ledger.commit({ records: [run("r1", "deploy", "req-1"), run("r2", "break")], deadLetters: [], reports: [] }, T0);
      await ledger.commit(
        { records: [{ key: "change:c", kind: "change", body: "{}", source: "sink/changes", lane: null }, run("r3", "deploy")], deadLetters: [], reports: [] },
        T0 + 5,
      );
      await ledger.claimWork({ owner: "o1", limit: 2, now: T0 + 10, ...lease });
      await ledger.finishWork("run:r1", "o1", [status("r1", "SUCCESS", "done")], T0 + 20, { status: "SUCCESS", summary: "done" });
      await ledger.finishWork("run:r2", "o1", [], T0 + 21, { status: "FAILURE", summary: "the disk is full" });

      const page = await ledger.listRuns({ limit: 10 });
      expect(page.next).toBeNull();
      expect(page.runs.map(({ seq: _seq, ...r }) => r)).toEqual([
        {
          runId: "r3",
          action: "deploy",
          source: "sink/runs",
          requestId: null,
          state: "pending",
          attempt: 0,
          acceptedAt: T0 + 5,
          startedAt: null,
          finishedAt: null,
          status: null,
          summary: null,
          statusReport: null,
        },
        {
          runId: "r2",
          action: "break",
          source: "sink/runs",
          requestId: null,
          state: "done",
          attempt: 1,
          acceptedAt: T0,
          startedAt: T0 + 10,
          finishedAt: T0 + 21,
          status: "FAILURE",
          summary: "the disk is full",
          statusReport: null,
        },
        {
          runId: "r1",
          action: "deploy",
          source: "sink/runs",
          requestId: "req-1",
          state: "done",
          attempt: 1,
          acceptedAt: T0,
          startedAt: T0 + 10,
          finishedAt: T0 + 20,
          status: "SUCCESS",
          summary: "done",
          statusReport: { state: "pending", attempts: 0, error: null },
        },
      ]);
      await ledger.claimWork({ owner: "o2", limit: 10, now: T0 + 30, ...lease });
      expect((await ledger.getRun("r3"))?.state).toBe("running");
    });

    test("filtered by action, state, status and time; paged with `before`", async () => {
      const ledger = await open();
      for (let i = 0; i < 6; i++) await ledger.commit({ records: [run(`r${i}`, i % 2 === 0 ? "deploy" : "break")], deadLetters: [], reports: [] }, T0 + i);
      await ledger.claimWork({ owner: "o1", limit: 2, now: T0 + 10, ...lease });
      await ledger.finishWork("run:r0", "o1", [], T0 + 11, { status: "SUCCESS", summary: null });

      expect(ids((await ledger.listRuns({ limit: 10, action: "deploy" })).runs)).toEqual(["r4", "r2", "r0"]);
      expect(ids((await ledger.listRuns({ limit: 10, state: "running" })).runs)).toEqual(["r1"]);
      expect(ids((await ledger.listRuns({ limit: 10, state: "pending" })).runs)).toEqual(["r5", "r4", "r3", "r2"]);
      expect(ids((await ledger.listRuns({ limit: 10, status: "SUCCESS" })).runs)).toEqual(["r0"]);
      expect(ids((await ledger.listRuns({ limit: 10, since: T0 + 4 })).runs)).toEqual(["r5", "r4"]);

      const first = await ledger.listRuns({ limit: 2 });
      expect(ids(first.runs)).toEqual(["r5", "r4"]);
      const second = await ledger.listRuns({ limit: 2, before: first.next ?? 0 });
      expect(ids(second.runs)).toEqual(["r3", "r2"]);
      // A scan that ends before the page is full says where to go on.
      const short = await ledger.listRuns({ limit: 10, action: "nobody", scanLimit: 3 });
      expect(short.runs).toEqual([]);
      expect(ids((await ledger.listRuns({ limit: 10, before: short.next ?? 0 })).runs)).toEqual(["r2", "r1", "r0"]);
    });

    test("one run with its reports in queue order and their fate; Port's last refusal is kept after a delivery", async () => {
      const ledger = await open();
      await ledger.commit({ records: [run("r1", "deploy")], deadLetters: [], reports: [] }, T0);
      await ledger.claimWork({ owner: "o1", limit: 1, now: T0, ...lease });
      await ledger.appendReports([log("r1", "deploying")], T0 + 1);
      await ledger.finishWork("run:r1", "o1", [status("r1", "SUCCESS", "deployed")], T0 + 2, { status: "SUCCESS", summary: "deployed" });
      const [first] = await ledger.claimReports({ owner: "rep", limit: 10, now: T0 + 3, ...lease });
      await ledger.settleReport(first?.id ?? "", { type: "retry", at: T0 + 4, error: "Port answered 429: slow down" }, T0 + 3);
      const again = await ledger.claimReports({ owner: "rep", limit: 10, now: T0 + 5, ...lease });
      await ledger.settleReport(again[0]?.id ?? "", { type: "delivered" }, T0 + 6);

      const history = await ledger.getRun("r1");
      expect(history).toMatchObject({ runId: "r1", state: "done", status: "SUCCESS", summary: "deployed", reportsNotShown: 0 });
      expect(history?.reports).toEqual([
        {
          call: { kind: "log", message: "deploying" },
          state: "delivered",
          attempts: 2,
          createdAt: T0 + 1,
          settledAt: T0 + 6,
          error: "Port answered 429: slow down",
        },
        {
          call: { kind: "update", patch: { status: "SUCCESS", summary: "deployed" } },
          state: "pending",
          attempts: 0,
          createdAt: T0 + 2,
          settledAt: null,
          error: null,
        },
      ]);
      expect(await ledger.getRun("r_nobody")).toBeUndefined();
      expect(await ledger.getRun("c")).toBeUndefined();
    });

    test("a run with many reports shows its first and last ones and how many were left out", async () => {
      const ledger = await open();
      await ledger.commit({ records: [run("r1", "chatty")], deadLetters: [], reports: [] }, T0);
      await ledger.appendReports(
        Array.from({ length: 300 }, (_, i) => log("r1", `line ${i}`)),
        T0,
      );
      const history = await ledger.getRun("r1", { reportLimit: 10 });
      expect(history?.reportsNotShown).toBe(290);
      expect(history?.reports.map((r) => (r.call.kind === "log" ? r.call.message : ""))).toEqual([
        "line 0",
        "line 1",
        "line 2",
        "line 3",
        "line 4",
        "line 295",
        "line 296",
        "line 297",
        "line 298",
        "line 299",
      ]);
    });

    test("a run whose handler threw keeps the stack with how it ended, in its story only; others have none", async () => {
      const ledger = await open();
      await ledger.commit({ records: [run("r_threw", "deploy"), run("r_fine", "deploy")], deadLetters: [], reports: [] }, T0);
      await ledger.claimWork({ owner: "o1", limit: 2, now: T0, ...lease });
      const stack = "at callApi (/srv/handlers.ts:3:13)\nat async deploy (/srv/handlers.ts:8:13)";
      const reason = 'Handler for "deploy" failed: the api refused';
      await ledger.finishWork("run:r_threw", "o1", [status("r_threw", "FAILURE", reason)], T0 + 1, { status: "FAILURE", summary: reason, stack });
      await ledger.finishWork("run:r_fine", "o1", [status("r_fine", "SUCCESS", "ok")], T0 + 2, { status: "SUCCESS", summary: "ok" });

      expect(await ledger.getRun("r_threw")).toMatchObject({ status: "FAILURE", summary: reason, stack });
      expect((await ledger.getRun("r_fine"))?.stack).toBeNull();
      for (const listed of (await ledger.listRuns({ limit: 10 })).runs) expect(listed).not.toHaveProperty("stack");
      // What goes to Port is the message only.
      const reports = await ledger.claimReports({ owner: "rep", limit: 10, now: T0 + 3, ...lease });
      expect(JSON.stringify(reports)).not.toContain("handlers.ts");
    });

    test("each run says what became of the report that tells Port its status: pending (and why), delivered, refused", async () => {
      const ledger = await open();
      const runs = ["r_held", "r_took", "r_refused", "r_node", "r_none"];
      await ledger.commit({ records: runs.map((id) => run(id, "deploy")), deadLetters: [], reports: [] }, T0);
      await ledger.claimWork({ owner: "o1", limit: 10, now: T0, ...lease });
      // A node run's status is queued while it runs (by the target), before it ends DEFERRED.
      await ledger.appendReports([log("r_node", "forwarded"), status("r_node", "SUCCESS", "done")], T0 + 1);
      for (const id of ["r_held", "r_took", "r_refused"])
        await ledger.finishWork(`run:${id}`, "o1", [log(id, "last words"), status(id, "SUCCESS", "ok")], T0 + 2, { status: "SUCCESS", summary: "ok" });
      await ledger.finishWork("run:r_node", "o1", [], T0 + 2, { status: "DEFERRED", summary: null });
      await ledger.finishWork("run:r_none", "o1", [log("r_none", "deferred")], T0 + 2, { status: "DEFERRED", summary: null });

      const claimed = await ledger.claimReports({ owner: "rep", limit: 100, now: T0 + 3, ...lease });
      const statusOf = (runId: string) => claimed.find((r) => r.runId === runId && r.call.kind === "update")?.id ?? "";
      for (const r of claimed) if (r.call.kind === "log") await ledger.settleReport(r.id, { type: "delivered" }, T0 + 4);
      await ledger.settleReport(statusOf("r_held"), { type: "retry", at: T0 + 60_000, error: "Port answered 401: unauthorized" }, T0 + 4);
      await ledger.settleReport(statusOf("r_took"), { type: "delivered" }, T0 + 4);
      await ledger.settleReport(statusOf("r_refused"), { type: "failed", error: "Port answered 404 not_found: no such run" }, T0 + 4);
      await ledger.settleReport(statusOf("r_node"), { type: "delivered" }, T0 + 4);

      const expected: Record<string, StatusReport | null> = {
        r_held: { state: "pending", attempts: 1, error: "Port answered 401: unauthorized" },
        r_took: { state: "delivered", attempts: 1, error: null },
        r_refused: { state: "failed", attempts: 1, error: "Port answered 404 not_found: no such run" },
        r_node: { state: "delivered", attempts: 1, error: null },
        r_none: null,
      };
      const listed = Object.fromEntries((await ledger.listRuns({ limit: 10 })).runs.map((r) => [r.runId, r.statusReport]));
      expect(listed).toEqual(expected);
      for (const id of runs) expect((await ledger.getRun(id))?.statusReport).toEqual(expected[id] ?? null);
    });

    test("a parked run is in the history, ended FAILURE with the reason it was parked", async () => {
      const ledger = await open();
      const letter = {
        key: "parked:run:1",
        kind: "run" as const,
        reason: "inputs.version: must be a string",
        source: "sink/runs",
        raw: "{}",
        runId: "r_bad",
        claims: "run:r_bad",
      };
      await ledger.commit({ records: [], deadLetters: [letter], reports: [] }, T0);
      expect((await ledger.listRuns({ limit: 10 })).runs.map(({ seq: _seq, ...r }) => r)).toEqual([
        {
          runId: "r_bad",
          action: null,
          source: "sink/runs",
          requestId: null,
          state: "done",
          attempt: 0,
          acceptedAt: T0,
          startedAt: null,
          finishedAt: T0,
          status: "FAILURE",
          summary: "parked: inputs.version: must be a string",
          statusReport: null,
        },
      ]);
    });

    test("purge forgets a run's history with the rest", async () => {
      const ledger = await open();
      await ledger.commit({ records: [run("r_old", "deploy"), run("r_new", "deploy")], deadLetters: [], reports: [] }, T0);
      await ledger.claimWork({ owner: "o1", limit: 2, now: T0, ...lease });
      await ledger.finishWork("run:r_old", "o1", [status("r_old", "SUCCESS", "ok")], T0 + 1, { status: "SUCCESS", summary: "ok" });
      const [report] = await ledger.claimReports({ owner: "rep", limit: 10, now: T0 + 1, ...lease });
      await ledger.settleReport(report?.id ?? "", { type: "delivered" }, T0 + 2);
      await ledger.purge(T0 + 10);
      expect(ids((await ledger.listRuns({ limit: 10 })).runs)).toEqual(["r_new"]);
      expect(await ledger.getRun("r_old")).toBeUndefined();
    });

    test("the oldest held report: since when the run waiting longest has had undelivered reports, held-back ones included", async () => {
      const ledger = await open();
      expect((await ledger.counts()).oldestHeldReportAt).toBeNull();
      await ledger.appendReports([log("r1", "a")], T0);
      await ledger.appendReports([log("r2", "b")], T0 + 5);
      expect((await ledger.counts()).oldestHeldReportAt).toBe(T0);
      // Held for later (Port asked to wait): still held.
      const [a] = await ledger.claimReports({ owner: "rep", limit: 1, limitRuns: 1, now: T0 + 10, ...lease });
      await ledger.settleReport(a?.id ?? "", { type: "retry", at: T0 + 60_000, error: "Port answered 429" }, T0 + 10);
      expect((await ledger.counts()).oldestHeldReportAt).toBe(T0);
      const again = (await ledger.claimReports({ owner: "rep", limit: 10, now: T0 + 60_000, ...lease })).find((r) => r.runId === "r1");
      await ledger.settleReport(again?.id ?? "", { type: "delivered" }, T0 + 60_001);
      expect((await ledger.counts()).oldestHeldReportAt).toBe(T0 + 5);
    });
  });
}
