import { afterAll, afterEach, describe, expect, test } from "bun:test";
import type { DeadLetterInput, DeadLetterSummary, Ledger, PendingReport, WorkKind, WorkRecord } from "../../src/ledger/ledger.ts";
import type { ReportInput } from "../../src/port/calls.ts";
import { deadLetterBounds, unsettledContract } from "./contract-bounds.ts";
import { historyContract } from "./contract-history.ts";

/**
 * The one behaviour every ledger shares. `memory.test.ts`, `sqlite.test.ts` and `redis.test.ts` run it
 * against their store; a store passes only if it passes all of it. Times are explicit (`T0 + n`), so
 * leases and back-off are tested without sleeping.
 */
export interface ContractOptions {
  /**
   * Opens a second ledger over the same store as `ledger` (another replica or connection). Where a store
   * cannot be shared (memory) it is omitted and the two-replica test is not part of that store's contract.
   */
  sibling?: (ledger: Ledger) => Promise<Ledger>;
}

export const T0 = 1_700_000_000_000;

export const rec = (key: string, lane: string | null = null, kind: WorkKind = "run"): WorkRecord => ({
  key,
  kind,
  body: JSON.stringify({ key, note: "ünïcode ✓" }),
  source: "sink/runs",
  lane,
});
export const log = (runId: string, message: string): ReportInput => ({ runId, call: { kind: "log", message } });
export const terminal = (runId: string, status: "SUCCESS" | "FAILURE" = "SUCCESS"): ReportInput => ({
  runId,
  call: { kind: "update", patch: { status, summary: `${status} summary` } },
});
/** Dead letter `n`; the same `n` is the same poison record (the same dedupe key). */
const deadLetter = (n: number, runId: string | null = null) => ({
  key: `parked:run:${n}`,
  kind: "run" as const,
  reason: `reason ${n}`,
  source: "sink/runs",
  raw: `{"raw":${n}}`,
  runId,
});
/** Dead letter `n` as a list shows it (no bytes; their size) once parked at `parkedAt`. */
const listed = (n: number, runId: string | null, parkedAt: number) => {
  const { raw, ...rest } = deadLetter(n, runId);
  return { ...rest, rawEncoding: "utf8" as const, size: raw.length, id: expect.any(String) as string, parkedAt };
};
/** Dead letter `n` with the reports that go with parking it (queued only when it is newly parked). */
const poison = (n: number, runId: string, reports: DeadLetterInput["reports"] = [terminal(runId, "FAILURE")]): DeadLetterInput => ({
  ...deadLetter(n, runId),
  reports,
});

const messages = (reports: PendingReport[]) =>
  reports.map((r) => (r.call.kind === "log" ? r.call.message : r.call.kind === "update" ? `status:${r.call.patch.status}` : r.call.kind));
const byRun = (reports: PendingReport[]) => {
  const runs = new Map<string, string[]>();
  for (const r of reports) runs.set(r.runId, [...(runs.get(r.runId) ?? []), ...messages([r])]);
  return Object.fromEntries(runs);
};
const lease = { leaseMs: 1_000, now: T0 };

export function ledgerContract(name: string, makeLedger: () => Promise<Ledger>, cleanup: () => Promise<void>, options: ContractOptions = {}): void {
  describe(`${name} ledger contract`, () => {
    const opened: Ledger[] = [];
    const open = async () => {
      const ledger = await makeLedger();
      opened.push(ledger);
      return ledger;
    };
    afterEach(async () => {
      for (const ledger of opened.splice(0)) await ledger.close();
    });
    afterAll(cleanup);

    /** Commits records and claims them all for `owner`. */
    async function claimAll(ledger: Ledger, keys: string[], owner = "o1") {
      await ledger.commit({ records: keys.map((k) => rec(k)), deadLetters: [], reports: [] }, T0);
      return ledger.claimWork({ owner, limit: keys.length, ...lease });
    }

    historyContract(open);

    describe("commit", () => {
      test("accepts new keys and recognises duplicates across and within batches", async () => {
        const ledger = await open();
        expect(await ledger.commit({ records: [rec("run:a"), rec("run:b"), rec("run:a")], deadLetters: [], reports: [] }, T0)).toEqual({
          records: ["accepted", "accepted", "duplicate"],
          deadLetters: [],
        });
        expect(
          await ledger.commit(
            { records: [rec("run:b"), rec("change:c", null, "change"), rec("change:c", null, "change")], deadLetters: [], reports: [] },
            T0 + 1,
          ),
        ).toEqual({
          records: ["duplicate", "accepted", "duplicate"],
          deadLetters: [],
        });
        expect((await ledger.counts()).pendingWork).toBe(3);
        expect(await ledger.commit({ records: [], deadLetters: [], reports: [] }, T0)).toEqual({ records: [], deadLetters: [] });
      });

      test("finished work stays a duplicate (until purged)", async () => {
        const ledger = await open();
        await claimAll(ledger, ["run:a"]);
        expect(await ledger.finishWork("run:a", "o1", [], T0 + 1)).toBe(true);
        expect(await ledger.commit({ records: [rec("run:a")], deadLetters: [], reports: [] }, T0 + 2)).toEqual({ records: ["duplicate"], deadLetters: [] });
        expect(await ledger.claimWork({ owner: "o2", limit: 10, ...lease })).toEqual([]);
      });

      test("parks dead letters and queues reports in the same commit", async () => {
        const ledger = await open();
        const outcomes = await ledger.commit({ records: [rec("run:a")], deadLetters: [deadLetter(1, "r_bad")], reports: [terminal("r_bad", "FAILURE")] }, T0);
        expect(outcomes).toEqual({ records: ["accepted"], deadLetters: ["accepted"] });
        const [letter, ...more] = await ledger.listDeadLetters();
        expect(more).toEqual([]);
        expect(letter).toEqual(listed(1, "r_bad", T0));
        expect(letter?.key).toBe("parked:run:1");
        const reports = await ledger.claimReports({ owner: "reporter", limit: 10, ...lease });
        expect(reports).toEqual([
          { id: expect.any(String), runId: "r_bad", call: { kind: "update", patch: { status: "FAILURE", summary: "FAILURE summary" } }, attempts: 0 },
        ]);
        expect(await ledger.counts()).toEqual({
          pendingWork: 1,
          runningWork: 0,
          doneWork: 0,
          pendingReports: 1,
          failedReports: 0,
          deadLetters: 1,
          oldestHeldReportAt: T0,
        });
      });

      test("returns one outcome per record and one per dead letter, in order", async () => {
        const ledger = await open();
        const result = await ledger.commit(
          { records: [rec("run:a"), rec("run:a")], deadLetters: [deadLetter(1), deadLetter(2), deadLetter(1)], reports: [] },
          T0,
        );
        expect(result).toEqual({ records: ["accepted", "duplicate"], deadLetters: ["accepted", "accepted", "duplicate"] });
        expect(Object.keys(result).sort()).toEqual(["deadLetters", "records"]);
        expect(await ledger.commit({ records: [], deadLetters: [deadLetter(2), deadLetter(3)], reports: [] }, T0)).toEqual({
          records: [],
          deadLetters: ["duplicate", "accepted"],
        });
      });

      test("a dead letter keeps bytes that are not UTF-8 as base64, and says so", async () => {
        const ledger = await open();
        const bytes = { ...deadLetter(7), raw: "e2I6/30=", rawEncoding: "base64" as const };
        await ledger.commit({ records: [], deadLetters: [bytes, deadLetter(8)], reports: [] }, T0);
        const letters = await ledger.listDeadLetters();
        expect(letters.map((l) => [l.rawEncoding, l.size])).toEqual([
          ["base64", 5],
          ["utf8", 9],
        ]);
        expect(await ledger.getDeadLetter(letters[0]?.id ?? "")).toMatchObject({ raw: "e2I6/30=", rawEncoding: "base64" });
        await expect(ledger.commit({ records: [], deadLetters: [{ ...deadLetter(9), rawEncoding: "hex" as "utf8" }], reports: [] }, T0)).rejects.toThrow(
          /rawEncoding/,
        );
      });

      test("a dead letter that claims a run key decides it: later records with the key are duplicates", async () => {
        const ledger = await open();
        const decided = { ...poison(1, "r_c"), claims: "run:r_c" };
        expect(await ledger.commit({ records: [], deadLetters: [decided], reports: [] }, T0)).toEqual({ records: [], deadLetters: ["accepted"] });
        // The valid record that arrives later, and another invalid one with the same id, change nothing.
        const other = { ...poison(2, "r_c"), claims: "run:r_c" };
        expect(await ledger.commit({ records: [rec("run:r_c")], deadLetters: [other], reports: [] }, T0 + 1)).toEqual({
          records: ["duplicate"],
          deadLetters: ["superseded"],
        });
        expect(await ledger.claimWork({ owner: "o1", limit: 10, ...lease })).toEqual([]);
        expect(byRun(await ledger.claimReports({ owner: "reporter", limit: 100, leaseMs: 1_000, now: T0 + 1 }))).toEqual({ r_c: ["status:FAILURE"] });
        expect(await ledger.counts()).toMatchObject({ pendingWork: 0, runningWork: 0, deadLetters: 1 });
        // Purged with finished work: after the dedupe window the key is free again.
        await ledger.purge(T0 + 10);
        expect((await ledger.commit({ records: [rec("run:r_c")], deadLetters: [], reports: [] }, T0 + 20)).records).toEqual(["accepted"]);
      });

      test("a dead letter parked again after its decided key was purged decides it again, in every store", async () => {
        const ledger = await open();
        const decided = { ...poison(4, "r_e"), claims: "run:r_e" };
        await ledger.commit({ records: [], deadLetters: [decided], reports: [] }, T0);
        await ledger.purge(T0 + 10);
        // The dead letter is still parked (a duplicate), and the key is not decided again by it...
        expect((await ledger.commit({ records: [], deadLetters: [decided], reports: [] }, T0 + 20)).deadLetters).toEqual(["duplicate"]);
        // ...so, the dedupe window over, a valid record with the id is new, as in every store.
        expect((await ledger.commit({ records: [rec("run:r_e")], deadLetters: [], reports: [] }, T0 + 30)).records).toEqual(["accepted"]);
      });

      test("a dead letter that claims a key already accepted is superseded: not parked, nothing queued", async () => {
        const ledger = await open();
        await ledger.commit({ records: [rec("run:r_d")], deadLetters: [], reports: [] }, T0);
        expect((await ledger.commit({ records: [], deadLetters: [{ ...poison(3, "r_d"), claims: "run:r_d" }], reports: [] }, T0 + 1)).deadLetters).toEqual([
          "superseded",
        ]);
        expect(await ledger.counts()).toMatchObject({ pendingReports: 0, deadLetters: 0, pendingWork: 1 });
      });

      test("a batch with an invalid entry is refused whole and leaves no trace", async () => {
        const ledger = await open();
        const bad = { ...rec("run:b"), key: "" };
        await expect(ledger.commit({ records: [rec("run:a"), bad], deadLetters: [deadLetter(1)], reports: [terminal("r1")] }, T0)).rejects.toThrow();
        const noKey = { ...deadLetter(2), key: "" };
        await expect(ledger.commit({ records: [rec("run:a")], deadLetters: [deadLetter(1), noKey], reports: [terminal("r1")] }, T0)).rejects.toThrow(
          /deadLetters\[1\]\.key/,
        );
        const badReport = { ...poison(2, "r2"), reports: [{ runId: "", call: { kind: "log", message: "x" } } as const] };
        await expect(ledger.commit({ records: [rec("run:a")], deadLetters: [poison(1, "r1"), badReport], reports: [] }, T0)).rejects.toThrow(
          /deadLetters\[1\]\.reports\[0\]/,
        );
        expect(await ledger.counts()).toEqual({
          pendingWork: 0,
          runningWork: 0,
          doneWork: 0,
          pendingReports: 0,
          failedReports: 0,
          deadLetters: 0,
          oldestHeldReportAt: null,
        });
        expect(await ledger.commit({ records: [rec("run:a")], deadLetters: [], reports: [] }, T0)).toEqual({ records: ["accepted"], deadLetters: [] });
      });
    });

    describe("work", () => {
      test("claims in acceptance order, each item to one owner, with what was accepted", async () => {
        const ledger = await open();
        await ledger.commit({ records: [rec("run:a"), rec("change:b", null, "change"), rec("run:c")], deadLetters: [], reports: [] }, T0);
        const first = await ledger.claimWork({ owner: "o1", limit: 2, ...lease });
        expect(first).toEqual([
          { ...rec("run:a"), attempt: 1, acceptedAt: T0 },
          { ...rec("change:b", null, "change"), attempt: 1, acceptedAt: T0 },
        ]);
        expect((await ledger.claimWork({ owner: "o2", limit: 10, ...lease })).map((w) => w.key)).toEqual(["run:c"]);
        expect(await ledger.claimWork({ owner: "o3", limit: 10, ...lease })).toEqual([]);
        expect(await ledger.counts()).toMatchObject({ pendingWork: 0, runningWork: 3 });
      });

      test("claims of one kind take only that kind, in acceptance order; the others stay pending untouched", async () => {
        const ledger = await open();
        const records = [rec("run:a"), rec("change:b", null, "change"), rec("run:c"), rec("change:d", "lane:D", "change"), rec("change:e", "lane:D", "change")];
        await ledger.commit({ records, deadLetters: [], reports: [] }, T0);
        const changes = await ledger.claimWork({ owner: "o1", limit: 10, kind: "change", ...lease });
        // change:e waits behind change:d in its lane.
        expect(changes.map((w) => [w.key, w.kind, w.attempt])).toEqual([
          ["change:b", "change", 1],
          ["change:d", "change", 1],
        ]);
        expect(await ledger.claimWork({ owner: "o1", limit: 10, kind: "change", ...lease })).toEqual([]);
        expect(await ledger.counts()).toMatchObject({ pendingWork: 3, runningWork: 2 });
        // The runs were never claimed: their first claim is their first attempt.
        const runs = await ledger.claimWork({ owner: "o2", limit: 10, kind: "run", ...lease });
        expect(runs.map((w) => [w.key, w.attempt])).toEqual([
          ["run:a", 1],
          ["run:c", 1],
        ]);
        expect(await ledger.finishWork("change:d", "o1", [], T0 + 1)).toBe(true);
        expect((await ledger.claimWork({ owner: "o1", limit: 10, kind: "change", ...lease })).map((w) => w.key)).toEqual(["change:e"]);
      });

      test("a claim of one kind takes expired items of that kind only", async () => {
        const ledger = await open();
        await ledger.commit({ records: [rec("run:a"), rec("change:b", null, "change")], deadLetters: [], reports: [] }, T0);
        expect(await ledger.claimWork({ owner: "o1", limit: 10, ...lease })).toHaveLength(2);
        const later = { leaseMs: 1_000, now: T0 + 1_000 };
        const changes = await ledger.claimWork({ owner: "o2", limit: 10, kind: "change", ...later });
        expect(changes.map((w) => [w.key, w.attempt])).toEqual([["change:b", 2]]);
        expect(await ledger.claimWork({ owner: "o2", limit: 10, kind: "change", ...later })).toEqual([]);
        expect((await ledger.claimWork({ owner: "o3", limit: 10, ...later })).map((w) => [w.key, w.attempt])).toEqual([["run:a", 2]]);
      });

      test("a claim of changes never returns a run, however many runs come first", async () => {
        const ledger = await open();
        const runs = Array.from({ length: 300 }, (_, i) => rec(`run:${i}`));
        await ledger.commit({ records: [...runs, rec("change:last", null, "change")], deadLetters: [], reports: [] }, T0);
        const claimed = await ledger.claimWork({ owner: "o1", limit: 5, kind: "change", ...lease });
        expect(claimed.map((w) => w.key)).toEqual(["change:last"]);
        expect(await ledger.counts()).toMatchObject({ pendingWork: 300, runningWork: 1 });
      });

      test("an expired lease hands the item to the next claimer as attempt 2; the old owner is refused", async () => {
        const ledger = await open();
        await claimAll(ledger, ["run:a"]);
        expect(await ledger.claimWork({ owner: "o2", limit: 10, leaseMs: 1_000, now: T0 + 999 })).toEqual([]);
        const [again] = await ledger.claimWork({ owner: "o2", limit: 10, leaseMs: 1_000, now: T0 + 1_000 });
        expect(again).toMatchObject({ key: "run:a", attempt: 2 });
        expect(await ledger.finishWork("run:a", "o1", [terminal("r_a")], T0 + 1_001)).toBe(false);
        expect(await ledger.claimReports({ owner: "reporter", limit: 10, ...lease })).toEqual([]);
        expect(await ledger.finishWork("run:a", "o2", [], T0 + 1_002)).toBe(true);
        expect(await ledger.counts()).toMatchObject({ runningWork: 0, doneWork: 1 });
      });

      test("takeExpired: false claims pending items only; an expired lease stays with its owner, who may still finish", async () => {
        const ledger = await open();
        await claimAll(ledger, ["run:a"]);
        await ledger.commit({ records: [rec("run:b")], deadLetters: [], reports: [] }, T0);
        const claimed = await ledger.claimWork({ owner: "o2", limit: 10, leaseMs: 1_000, now: T0 + 5_000, takeExpired: false });
        expect(claimed.map((c) => c.key)).toEqual(["run:b"]);
        expect(await ledger.finishWork("run:a", "o1", [terminal("r_a")], T0 + 5_001)).toBe(true);
        expect(await ledger.counts()).toMatchObject({ runningWork: 1, doneWork: 1, pendingReports: 1 });
      });

      test("finish by an owner that does not hold the item is refused and changes nothing", async () => {
        const ledger = await open();
        await claimAll(ledger, ["run:a"]);
        expect(await ledger.finishWork("run:a", "o2", [terminal("r_a")], T0)).toBe(false);
        expect(await ledger.finishWork("run:unknown", "o1", [], T0)).toBe(false);
        expect(await ledger.counts()).toMatchObject({ runningWork: 1, doneWork: 0, pendingReports: 0 });
        expect(await ledger.finishWork("run:a", "o1", [terminal("r_a")], T0)).toBe(true);
        expect(await ledger.finishWork("run:a", "o1", [terminal("r_a")], T0)).toBe(false);
        expect(await ledger.counts()).toMatchObject({ runningWork: 0, doneWork: 1, pendingReports: 1 });
      });

      test("the owner may still finish after its lease ran out while nobody took the item", async () => {
        const ledger = await open();
        await claimAll(ledger, ["run:a"]);
        expect(await ledger.finishWork("run:a", "o1", [], T0 + 5_000)).toBe(true);
      });

      test("finish queues the final reports with the finish", async () => {
        const ledger = await open();
        await claimAll(ledger, ["run:a"]);
        expect(await ledger.finishWork("run:a", "o1", [log("r_a", "done soon"), terminal("r_a")], T0 + 10)).toBe(true);
        const reports = await ledger.claimReports({ owner: "reporter", limit: 10, leaseMs: 1_000, now: T0 + 10 });
        expect(messages(reports)).toEqual(["done soon", "status:SUCCESS"]);
      });

      test("release returns an item without counting an attempt; only its owner can release it", async () => {
        const ledger = await open();
        await claimAll(ledger, ["run:a"]);
        await ledger.releaseWork("run:a", "o2");
        expect(await ledger.claimWork({ owner: "o3", limit: 10, ...lease })).toEqual([]);
        await ledger.releaseWork("run:a", "o1");
        const [again] = await ledger.claimWork({ owner: "o3", limit: 10, ...lease });
        expect(again).toMatchObject({ key: "run:a", attempt: 1 });
        expect(await ledger.finishWork("run:a", "o1", [], T0)).toBe(false);
      });

      test("renew extends the leases its owner holds and nobody else's", async () => {
        const ledger = await open();
        await claimAll(ledger, ["run:a", "run:b"]);
        await ledger.renewWork(["run:a", "run:unknown"], "o1", 5_000, T0 + 500);
        await ledger.renewWork(["run:b"], "o2", 5_000, T0 + 500);
        const taken = await ledger.claimWork({ owner: "o2", limit: 10, leaseMs: 60_000, now: T0 + 2_000 });
        expect(taken.map((w) => [w.key, w.attempt])).toEqual([["run:b", 2]]);
        expect(await ledger.claimWork({ owner: "o2", limit: 10, leaseMs: 1_000, now: T0 + 5_499 })).toEqual([]);
        expect((await ledger.claimWork({ owner: "o2", limit: 10, leaseMs: 1_000, now: T0 + 5_500 })).map((w) => w.key)).toEqual(["run:a"]);
      });
    });

    describe("lanes", () => {
      test("one item per lane at a time, in acceptance order; unordered items in parallel", async () => {
        const ledger = await open();
        const records = [rec("run:a1", "lane:A"), rec("run:a2", "lane:A"), rec("run:b1", "lane:B"), rec("run:u1"), rec("run:u2"), rec("run:a3", "lane:A")];
        await ledger.commit({ records, deadLetters: [], reports: [] }, T0);
        expect((await ledger.claimWork({ owner: "o1", limit: 10, ...lease })).map((w) => w.key)).toEqual(["run:a1", "run:b1", "run:u1", "run:u2"]);
        expect(await ledger.claimWork({ owner: "o2", limit: 10, ...lease })).toEqual([]);
        expect(await ledger.counts()).toMatchObject({ pendingWork: 2, runningWork: 4 });
        expect(await ledger.finishWork("run:a1", "o1", [], T0)).toBe(true);
        expect((await ledger.claimWork({ owner: "o2", limit: 10, ...lease })).map((w) => w.key)).toEqual(["run:a2"]);
        expect(await ledger.claimWork({ owner: "o2", limit: 10, ...lease })).toEqual([]);
        expect(await ledger.finishWork("run:a2", "o2", [], T0)).toBe(true);
        expect((await ledger.claimWork({ owner: "o2", limit: 10, ...lease })).map((w) => w.key)).toEqual(["run:a3"]);
      });

      test("heads of several lanes finished at once each let their own next item go, in order", async () => {
        const ledger = await open();
        const records = [
          rec("run:a1", "lane:A"),
          rec("run:b1", "lane:B"),
          rec("run:c1", "lane:C"),
          rec("run:a2", "lane:A"),
          rec("run:b2", "lane:B"),
          rec("run:a3", "lane:A"),
        ];
        await ledger.commit({ records, deadLetters: [], reports: [] }, T0);
        expect((await ledger.claimWork({ owner: "o1", limit: 10, ...lease })).map((w) => w.key)).toEqual(["run:a1", "run:b1", "run:c1"]);
        // Finished together (one moment, one owner), as an executor's finishes of one turn are.
        expect(await Promise.all(["run:a1", "run:b1", "run:c1"].map((k) => ledger.finishWork(k, "o1", [], T0)))).toEqual([true, true, true]);
        expect((await ledger.claimWork({ owner: "o1", limit: 10, ...lease })).map((w) => w.key)).toEqual(["run:a2", "run:b2"]);
        expect(await Promise.all(["run:a2", "run:b2"].map((k) => ledger.finishWork(k, "o1", [], T0)))).toEqual([true, true]);
        expect((await ledger.claimWork({ owner: "o1", limit: 10, ...lease })).map((w) => w.key)).toEqual(["run:a3"]);
      });

      test("a lane head whose lease expired comes back itself; the lane does not move on", async () => {
        const ledger = await open();
        await ledger.commit({ records: [rec("run:a1", "lane:A"), rec("run:a2", "lane:A")], deadLetters: [], reports: [] }, T0);
        await ledger.claimWork({ owner: "o1", limit: 10, ...lease });
        const again = await ledger.claimWork({ owner: "o2", limit: 10, leaseMs: 1_000, now: T0 + 1_000 });
        expect(again.map((w) => [w.key, w.attempt])).toEqual([["run:a1", 2]]);
        await ledger.releaseWork("run:a1", "o2");
        expect((await ledger.claimWork({ owner: "o3", limit: 10, leaseMs: 1_000, now: T0 + 1_000 })).map((w) => w.key)).toEqual(["run:a1"]);
      });

      test("duplicates do not join a lane; a lane that drained takes new work at once", async () => {
        const ledger = await open();
        await ledger.commit({ records: [rec("run:a1", "lane:A"), rec("run:a1", "lane:A")], deadLetters: [], reports: [] }, T0);
        expect((await ledger.counts()).pendingWork).toBe(1);
        await ledger.claimWork({ owner: "o1", limit: 10, ...lease });
        await ledger.finishWork("run:a1", "o1", [], T0);
        expect(await ledger.commit({ records: [rec("run:a1", "lane:A"), rec("run:a2", "lane:A")], deadLetters: [], reports: [] }, T0)).toEqual({
          records: ["duplicate", "accepted"],
          deadLetters: [],
        });
        expect((await ledger.claimWork({ owner: "o1", limit: 10, ...lease })).map((w) => w.key)).toEqual(["run:a2"]);
      });
    });

    describe("reports", () => {
      test("all due reports of a run come back together, in queue order", async () => {
        const ledger = await open();
        await ledger.appendReports([log("r1", "one"), log("r2", "x"), log("r1", "two")], T0);
        await ledger.appendReports([terminal("r1")], T0 + 1);
        const claimed = await ledger.claimReports({ owner: "reporter", limit: 100, leaseMs: 1_000, now: T0 + 1 });
        expect(byRun(claimed)).toEqual({ r1: ["one", "two", "status:SUCCESS"], r2: ["x"] });
        expect(new Set(claimed.map((r) => r.id)).size).toBe(4);
        expect(claimed.every((r) => r.attempts === 0)).toBe(true);
      });

      test("a claimed run is leased: nobody else gets any of it until the lease runs out", async () => {
        const ledger = await open();
        await ledger.appendReports([log("r1", "one"), log("r1", "two")], T0);
        const first = await ledger.claimReports({ owner: "a", limit: 10, ...lease });
        expect(await ledger.claimReports({ owner: "b", limit: 10, leaseMs: 1_000, now: T0 + 999 })).toEqual([]);
        const again = await ledger.claimReports({ owner: "b", limit: 10, leaseMs: 1_000, now: T0 + 1_000 });
        expect(again).toEqual(first);
      });

      test("retry moves the later reports of the run behind it, and skips the run until then", async () => {
        const ledger = await open();
        await ledger.appendReports([log("r1", "one"), log("r1", "two"), log("r2", "x")], T0);
        const claimed = await ledger.claimReports({ owner: "a", limit: 10, ...lease });
        const one = claimed.find((r) => r.runId === "r1");
        const x = claimed.find((r) => r.runId === "r2");
        if (!one || !x) throw new Error("both runs should be claimed");
        await ledger.settleReport(one.id, { type: "retry", at: T0 + 5_000, error: "Port said 503" }, T0 + 10);
        await ledger.settleReport(x.id, { type: "delivered" }, T0 + 10);
        await ledger.appendReports([log("r1", "three"), log("r2", "y")], T0 + 20);
        const meanwhile = await ledger.claimReports({ owner: "b", limit: 10, leaseMs: 1_000, now: T0 + 30 });
        expect(byRun(meanwhile)).toEqual({ r2: ["y"] });
        for (const r of meanwhile) await ledger.settleReport(r.id, { type: "delivered" }, T0 + 31);
        expect(await ledger.claimReports({ owner: "b", limit: 10, leaseMs: 1_000, now: T0 + 4_999 })).toEqual([]);
        const later = await ledger.claimReports({ owner: "b", limit: 10, leaseMs: 1_000, now: T0 + 5_000 });
        expect(messages(later)).toEqual(["one", "two", "three"]);
        expect(later.map((r) => r.attempts)).toEqual([1, 0, 0]);
      });

      test("a failed report does not block the reports after it", async () => {
        const ledger = await open();
        await ledger.appendReports([log("r1", "bad entity"), log("r1", "two"), terminal("r1")], T0);
        const [first, ...rest] = await ledger.claimReports({ owner: "a", limit: 1, ...lease });
        expect(rest).toEqual([]);
        if (!first) throw new Error("one report expected");
        await ledger.settleReport(first.id, { type: "failed", error: "422 unknown blueprint" }, T0 + 1);
        const next = await ledger.claimReports({ owner: "a", limit: 10, leaseMs: 1_000, now: T0 + 2 });
        expect(messages(next)).toEqual(["two", "status:SUCCESS"]);
        for (const r of next) await ledger.settleReport(r.id, { type: "delivered" }, T0 + 3);
        expect(await ledger.claimReports({ owner: "a", limit: 10, leaseMs: 1_000, now: T0 + 4 })).toEqual([]);
        expect(await ledger.counts()).toMatchObject({ pendingReports: 0, failedReports: 1 });
      });

      test("limit caps reports and limitRuns caps runs; the rest of a cut run follows once its part is settled", async () => {
        const ledger = await open();
        await ledger.appendReports([log("r1", "1a"), log("r2", "2a"), log("r3", "3a"), log("r1", "1b"), log("r2", "2b"), log("r3", "3b")], T0);
        const two = await ledger.claimReports({ owner: "a", limit: 100, limitRuns: 2, ...lease });
        expect(Object.keys(byRun(two)).length).toBe(2);
        expect(two.length).toBe(4);
        const cut = await ledger.claimReports({ owner: "b", limit: 1, ...lease });
        expect(cut.length).toBe(1);
        const [head] = cut;
        if (!head) throw new Error("one report expected");
        const third = head.runId;
        expect(messages(cut)).toEqual([`${third.slice(1)}a`]);
        await ledger.settleReport(head.id, { type: "delivered" }, T0 + 1);
        expect(messages(await ledger.claimReports({ owner: "b", limit: 10, leaseMs: 1_000, now: T0 + 1 }))).toEqual([`${third.slice(1)}b`]);
      });

      test("settling an unknown report changes nothing; a settled report is not claimed again", async () => {
        const ledger = await open();
        await ledger.settleReport("999999", { type: "delivered" }, T0);
        await ledger.settleReport("not-an-id", { type: "delivered" }, T0);
        await ledger.appendReports([log("r1", "one")], T0);
        const [one] = await ledger.claimReports({ owner: "a", limit: 10, ...lease });
        if (!one) throw new Error("one report expected");
        await ledger.settleReport(one.id, { type: "delivered" }, T0);
        await ledger.settleReport(one.id, { type: "retry", at: T0, error: "late" }, T0);
        expect(await ledger.claimReports({ owner: "a", limit: 10, leaseMs: 1_000, now: T0 + 10_000 })).toEqual([]);
        expect(await ledger.counts()).toMatchObject({ pendingReports: 0, failedReports: 0 });
      });
    });

    describe("dead letters", () => {
      test("list in parking order with pagination; get; remove", async () => {
        const ledger = await open();
        await ledger.commit({ records: [], deadLetters: [deadLetter(0, "r0"), deadLetter(1), deadLetter(2)], reports: [] }, T0);
        await ledger.commit({ records: [], deadLetters: [deadLetter(3), deadLetter(4)], reports: [] }, T0 + 1);
        const all = await ledger.listDeadLetters();
        expect(all.map((d) => d.reason)).toEqual(["reason 0", "reason 1", "reason 2", "reason 3", "reason 4"]);
        expect(all.map((d) => d.parkedAt)).toEqual([T0, T0, T0, T0 + 1, T0 + 1]);
        const ids = all.map((d) => d.id);
        expect(new Set(ids).size).toBe(5);
        expect((await ledger.listDeadLetters({ limit: 2 })).map((d) => d.id)).toEqual(ids.slice(0, 2));
        expect((await ledger.listDeadLetters({ limit: 2, after: ids[1] })).map((d) => d.id)).toEqual(ids.slice(2, 4));
        expect(await ledger.listDeadLetters({ after: ids[4] })).toEqual([]);
        expect(await ledger.getDeadLetter(ids[0] ?? "")).toEqual({ ...(all[0] as DeadLetterSummary), raw: '{"raw":0}' });
        expect(await ledger.removeDeadLetter(ids[1] ?? "")).toBe(true);
        expect(await ledger.removeDeadLetter(ids[1] ?? "")).toBe(false);
        expect(await ledger.getDeadLetter(ids[1] ?? "")).toBeUndefined();
        expect((await ledger.listDeadLetters({ after: ids[1] })).map((d) => d.id)).toEqual(ids.slice(2));
        expect(await ledger.getDeadLetter("nope")).toBeUndefined();
        expect(await ledger.removeDeadLetter("nope")).toBe(false);
        expect((await ledger.counts()).deadLetters).toBe(4);
      });
    });

    describe("dead-letter dedupe", () => {
      test("a key already parked is a duplicate, across batches and within one; nothing is written", async () => {
        const ledger = await open();
        expect((await ledger.commit({ records: [], deadLetters: [deadLetter(1, "r1")], reports: [] }, T0)).deadLetters).toEqual(["accepted"]);
        const resent = { ...deadLetter(1, "r1"), reason: "other words", raw: "other bytes" };
        expect((await ledger.commit({ records: [], deadLetters: [resent, deadLetter(2), deadLetter(2)], reports: [] }, T0 + 1)).deadLetters).toEqual([
          "duplicate",
          "accepted",
          "duplicate",
        ]);
        const all = await ledger.listDeadLetters();
        expect(all.map((d) => [d.key, d.reason, d.parkedAt])).toEqual([
          ["parked:run:1", "reason 1", T0],
          ["parked:run:2", "reason 2", T0 + 1],
        ]);
        expect((await ledger.counts()).deadLetters).toBe(2);
        // Purge forgets work and reports, never dead letters: the key stays parked.
        await ledger.purge(T0 + 1_000_000);
        expect((await ledger.commit({ records: [], deadLetters: [deadLetter(1)], reports: [] }, T0 + 2)).deadLetters).toEqual(["duplicate"]);
        expect((await ledger.counts()).deadLetters).toBe(2);
      });

      test("a dead letter's reports are queued only when it is newly parked; the batch's reports always", async () => {
        const ledger = await open();
        const batch = {
          records: [],
          deadLetters: [poison(1, "r_p", [log("r_p", "parked"), terminal("r_p", "FAILURE")]), poison(1, "r_p", [log("r_p", "again")])],
          reports: [log("r_x", "always")],
        };
        expect(await ledger.commit(batch, T0)).toEqual({ records: [], deadLetters: ["accepted", "duplicate"] });
        expect(await ledger.commit(batch, T0 + 1)).toEqual({ records: [], deadLetters: ["duplicate", "duplicate"] });
        const reports = await ledger.claimReports({ owner: "reporter", limit: 100, leaseMs: 1_000, now: T0 + 1 });
        expect(byRun(reports)).toEqual({ r_p: ["parked", "status:FAILURE"], r_x: ["always", "always"] });
        expect(await ledger.counts()).toMatchObject({ pendingReports: 4, deadLetters: 1 });
        const [letter] = await ledger.listDeadLetters();
        expect(letter).toEqual(listed(1, "r_p", T0));
        expect(letter && "reports" in letter).toBe(false);
      });

      test("removing a dead letter frees its key: parking it again works and queues its reports again", async () => {
        const ledger = await open();
        await ledger.commit({ records: [], deadLetters: [poison(1, "r_p"), poison(2, "r_q")], reports: [] }, T0);
        const first = await ledger.claimReports({ owner: "reporter", limit: 100, ...lease });
        for (const r of first) await ledger.settleReport(r.id, { type: "delivered" }, T0 + 1);
        const [one, two] = await ledger.listDeadLetters();
        if (!one || !two) throw new Error("two dead letters expected");
        expect(await ledger.removeDeadLetter(one.id)).toBe(true);
        expect(await ledger.commit({ records: [], deadLetters: [poison(1, "r_p"), poison(2, "r_q")], reports: [] }, T0 + 2)).toEqual({
          records: [],
          deadLetters: ["accepted", "duplicate"],
        });
        const again = await ledger.claimReports({ owner: "reporter", limit: 100, leaseMs: 1_000, now: T0 + 2 });
        expect(byRun(again)).toEqual({ r_p: ["status:FAILURE"] });
        const all = await ledger.listDeadLetters();
        expect(all.map((d) => [d.key, d.parkedAt])).toEqual([
          ["parked:run:2", T0],
          ["parked:run:1", T0 + 2],
        ]);
        expect(all[1]?.id).not.toBe(one.id);
        // Removing the new one frees the key once more; the old id stays gone.
        expect(await ledger.removeDeadLetter(one.id)).toBe(false);
        expect(await ledger.removeDeadLetter(all[1]?.id ?? "")).toBe(true);
        expect((await ledger.commit({ records: [], deadLetters: [deadLetter(1)], reports: [] }, T0 + 3)).deadLetters).toEqual(["accepted"]);
      });
    });

    describe("leases", () => {
      test("leaseHolders is empty when nothing is leased", async () => {
        const ledger = await open();
        expect(await ledger.leaseHolders()).toEqual([]);
        await ledger.commit({ records: [rec("run:a")], deadLetters: [deadLetter(1, "r1")], reports: [log("r1", "x")] }, T0);
        expect(await ledger.leaseHolders()).toEqual([]);
        const [a] = await ledger.claimWork({ owner: "o1", limit: 1, ...lease });
        const [r] = await ledger.claimReports({ owner: "rep", limit: 10, ...lease });
        expect((await ledger.leaseHolders()).sort()).toEqual(["o1", "rep"]);
        await ledger.finishWork(a?.key ?? "", "o1", [], T0 + 1);
        await ledger.settleReport(r?.id ?? "", { type: "delivered" }, T0 + 1);
        expect(await ledger.leaseHolders()).toEqual([]);
      });

      test("leaseHolders lists the owners of running work and of claimed reports, live or expired, each once, and no others", async () => {
        const ledger = await open();
        await ledger.commit({ records: ["run:a", "run:b", "run:c", "run:d", "run:e", "run:f"].map((k) => rec(k)), deadLetters: [], reports: [] }, T0);
        await ledger.claimWork({ owner: "o1", limit: 2, ...lease }); // a, b
        await ledger.claimWork({ owner: "o2", limit: 1, ...lease }); // c
        await ledger.claimWork({ owner: "finisher", limit: 1, ...lease }); // d
        await ledger.claimWork({ owner: "releaser", limit: 1, ...lease }); // e
        await ledger.claimWork({ owner: "expired", limit: 1, leaseMs: 10, now: T0 }); // f, lease ran out
        expect(await ledger.finishWork("run:d", "finisher", [], T0 + 1)).toBe(true);
        await ledger.releaseWork("run:e", "releaser");
        await ledger.appendReports([log("r1", "1"), log("r2", "2"), log("r3", "3"), log("r4", "4")], T0);
        const [x] = await ledger.claimReports({ owner: "rep1", limit: 10, limitRuns: 1, ...lease });
        await ledger.claimReports({ owner: "rep2", limit: 10, limitRuns: 1, ...lease });
        await ledger.claimReports({ owner: "rep1", limit: 10, limitRuns: 1, ...lease });
        const [settled] = await ledger.claimReports({ owner: "settler", limit: 10, limitRuns: 1, ...lease });
        await ledger.settleReport(settled?.id ?? "", { type: "delivered" }, T0 + 1);
        expect((await ledger.leaseHolders()).sort()).toEqual(["expired", "o1", "o2", "rep1", "rep2"]);
        // An expired work lease another owner took over is no longer held by the first owner.
        const taken = await ledger.claimWork({ owner: "o3", limit: 10, leaseMs: 1_000, now: T0 + 10 });
        expect(taken.map((w) => [w.key, w.attempt])).toEqual([
          ["run:e", 1],
          ["run:f", 2],
        ]);
        // A retry ends the run's lease.
        await ledger.settleReport(x?.id ?? "", { type: "retry", at: T0 + 60_000, error: "503" }, T0 + 1);
        expect((await ledger.leaseHolders()).sort()).toEqual(["o1", "o2", "o3", "rep1", "rep2"]);
      });

      test("expireLeases frees the named owners' work at once, as a later attempt; other owners keep theirs", async () => {
        const ledger = await open();
        await ledger.commit(
          { records: [rec("run:a"), rec("run:l1", "lane"), rec("run:l2", "lane"), rec("run:b"), rec("run:c")], deadLetters: [], reports: [] },
          T0,
        );
        expect((await ledger.claimWork({ owner: "dead", limit: 2, ...lease })).map((w) => w.key)).toEqual(["run:a", "run:l1"]);
        expect((await ledger.claimWork({ owner: "alive", limit: 1, ...lease })).map((w) => w.key)).toEqual(["run:b"]);
        expect(await ledger.expireLeases(["dead", "unknown"], T0 + 10)).toEqual({ work: 2, reports: 0 });
        expect((await ledger.leaseHolders()).sort()).toEqual(["alive"]);
        expect(await ledger.counts()).toMatchObject({ pendingWork: 4, runningWork: 1 });
        // Long before the 1 s lease would have run out; the lane still runs one item at a time.
        const again = await ledger.claimWork({ owner: "o3", limit: 10, leaseMs: 1_000, now: T0 + 10 });
        expect(again.map((w) => [w.key, w.attempt])).toEqual([
          ["run:a", 2],
          ["run:l1", 2],
          ["run:c", 1],
        ]);
        expect(await ledger.finishWork("run:a", "dead", [], T0 + 11)).toBe(false);
        expect(await ledger.finishWork("run:b", "alive", [], T0 + 11)).toBe(true);
        expect(await ledger.finishWork("run:l1", "o3", [], T0 + 11)).toBe(true);
        expect((await ledger.claimWork({ owner: "o3", limit: 10, leaseMs: 1_000, now: T0 + 12 })).map((w) => [w.key, w.attempt])).toEqual([["run:l2", 1]]);
        expect(await ledger.expireLeases(["dead"], T0 + 20)).toEqual({ work: 0, reports: 0 });
        expect(await ledger.expireLeases([], T0 + 20)).toEqual({ work: 0, reports: 0 });
        expect(await ledger.counts()).toMatchObject({ pendingWork: 0, runningWork: 3, doneWork: 2 });
      });

      test("expireLeases frees the named owners' report runs at once; other owners keep theirs", async () => {
        const ledger = await open();
        await ledger.appendReports([log("r1", "one"), log("r2", "x"), log("r1", "two"), log("r3", "y")], T0);
        const dead = await ledger.claimReports({ owner: "dead", limit: 10, limitRuns: 2, ...lease });
        const alive = await ledger.claimReports({ owner: "alive", limit: 10, ...lease });
        expect(new Set(dead.map((r) => r.runId)).size).toBe(2);
        expect(new Set(alive.map((r) => r.runId)).size).toBe(1);
        expect(await ledger.claimReports({ owner: "o3", limit: 10, leaseMs: 1_000, now: T0 + 10 })).toEqual([]);
        expect(await ledger.expireLeases(["dead"], T0 + 10)).toEqual({ work: 0, reports: 2 });
        expect((await ledger.leaseHolders()).sort()).toEqual(["alive"]);
        const again = await ledger.claimReports({ owner: "o3", limit: 10, leaseMs: 1_000, now: T0 + 10 });
        expect(byRun(again)).toEqual(byRun(dead));
        expect(again.map((r) => r.id).sort()).toEqual(dead.map((r) => r.id).sort());
        expect(await ledger.claimReports({ owner: "o4", limit: 10, leaseMs: 1_000, now: T0 + 10 })).toEqual([]);
        expect((await ledger.leaseHolders()).sort()).toEqual(["alive", "o3"]);
      });

      test("expireLeases refuses anything but a list of owners", async () => {
        const ledger = await open();
        await expect(ledger.expireLeases([""], T0)).rejects.toThrow(/owners\[0\]/);
        await expect(ledger.expireLeases(["o1"], Number.NaN)).rejects.toThrow(/now/);
      });
    });

    deadLetterBounds(open);
    unsettledContract(open, claimAll);

    describe("purge", () => {
      test("forgets finished work finished before the cut; such a key is accepted again (the dedupe window ends)", async () => {
        const ledger = await open();
        await claimAll(ledger, ["run:a", "run:b", "run:c"]);
        await ledger.commit({ records: [rec("run:d")], deadLetters: [], reports: [] }, T0 - 10_000);
        await ledger.finishWork("run:a", "o1", [], T0 + 100);
        await ledger.finishWork("run:b", "o1", [], T0 + 200);
        expect(await ledger.purge(T0 + 150)).toEqual({ work: 1, reports: 0 });
        expect(await ledger.commit({ records: [rec("run:a"), rec("run:b"), rec("run:c"), rec("run:d")], deadLetters: [], reports: [] }, T0 + 300)).toEqual({
          records: ["accepted", "duplicate", "duplicate", "duplicate"],
          deadLetters: [],
        });
        expect(await ledger.counts()).toMatchObject({ pendingWork: 2, runningWork: 1, doneWork: 1 });
      });

      test("forgets settled reports settled before the cut, never undelivered ones", async () => {
        const ledger = await open();
        await ledger.appendReports([log("r1", "a"), log("r1", "b"), log("r1", "c")], T0);
        const [a, b] = await ledger.claimReports({ owner: "x", limit: 10, ...lease });
        if (!a || !b) throw new Error("reports expected");
        await ledger.settleReport(a.id, { type: "delivered" }, T0 + 10);
        await ledger.settleReport(b.id, { type: "failed", error: "422" }, T0 + 20);
        expect(await ledger.purge(T0 + 15)).toEqual({ work: 0, reports: 1 });
        expect(await ledger.purge(T0 + 1_000_000)).toEqual({ work: 0, reports: 1 });
        expect(await ledger.counts()).toMatchObject({ pendingReports: 1, failedReports: 0 });
        expect(messages(await ledger.claimReports({ owner: "y", limit: 10, leaseMs: 1_000, now: T0 + 2_000 }))).toEqual(["c"]);
      });
    });

    test("counts", async () => {
      const ledger = await open();
      await ledger.commit(
        {
          records: [rec("run:a"), rec("run:b"), rec("run:l1", "lane"), rec("run:l2", "lane")],
          deadLetters: [deadLetter(1)],
          reports: [log("r1", "x")],
        },
        T0,
      );
      const [a] = await ledger.claimWork({ owner: "o1", limit: 1, ...lease });
      await ledger.finishWork(a?.key ?? "", "o1", [log("r2", "y"), log("r3", "z")], T0);
      await ledger.claimWork({ owner: "o1", limit: 1, ...lease });
      const [r] = await ledger.claimReports({ owner: "x", limit: 1, ...lease });
      await ledger.settleReport(r?.id ?? "", { type: "failed", error: "no" }, T0);
      expect(await ledger.counts()).toEqual({
        pendingWork: 2,
        runningWork: 1,
        doneWork: 1,
        pendingReports: 2,
        failedReports: 1,
        deadLetters: 1,
        oldestHeldReportAt: T0,
      });
    });

    describe("concurrency", () => {
      /** Commits `total` items (a tenth of them in lanes) and drains them with `workers` concurrent claimers. */
      async function hammer(ledgers: Ledger[], total = 3_000, workers = 8) {
        const [first] = ledgers;
        if (!first) throw new Error("a ledger is needed");
        const keys = Array.from({ length: total }, (_, i) => `run:h${i}`);
        for (let i = 0; i < total; i += 100) {
          const records = keys.slice(i, i + 100).map((k, j) => rec(k, (i + j) % 10 === 0 ? `lane:${(i + j) % 7}` : null));
          await first.commit({ records, deadLetters: [], reports: [] }, T0);
        }
        const claims = new Map<string, number>();
        let finished = 0;
        const worker = async (w: number) => {
          const ledger = ledgers[w % ledgers.length] ?? first;
          const owner = `worker-${w}`;
          while (finished < total) {
            const items = await ledger.claimWork({ owner, limit: 1 + (w % 5), leaseMs: 3_600_000, now: T0 });
            if (items.length === 0) await new Promise((r) => setTimeout(r, 1));
            for (const item of items) {
              claims.set(item.key, (claims.get(item.key) ?? 0) + 1);
              expect(item.attempt).toBe(1);
            }
            await Promise.all(
              items.map(async (item) => {
                expect(await ledger.finishWork(item.key, owner, [], T0)).toBe(true);
                finished += 1;
              }),
            );
          }
        };
        await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
        expect(claims.size).toBe(total);
        expect([...claims.values()].every((n) => n === 1)).toBe(true);
        expect(await first.counts()).toMatchObject({ pendingWork: 0, runningWork: 0, doneWork: total });
      }

      test("concurrent claimers on one ledger never get the same item", async () => {
        await hammer([await open()]);
      });

      if (options.sibling) {
        const sibling = options.sibling;
        test("two replicas over one store never get the same item", async () => {
          const ledger = await open();
          const other = await sibling(ledger);
          opened.push(other);
          await hammer([ledger, other]);
        });
      }
    });
  });
}
