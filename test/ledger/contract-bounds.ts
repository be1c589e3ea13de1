import { describe, expect, test } from "bun:test";
import type { DeadLetterInput, Ledger } from "../../src/ledger/ledger.ts";
import { log, rec, T0, terminal } from "./contract.ts";

/**
 * Parts of the ledger contract (`contract.ts` runs them for every store): what a dead-letter list may cost,
 * how long dead letters stay, and the question a caller asks about its own records.
 */
type Open = () => Promise<Ledger>;

const letter = (n: number, raw: string, extra: Partial<DeadLetterInput> = {}): DeadLetterInput => ({
  key: `parked:run:bounds-${n}`,
  kind: "run",
  reason: `reason ${n}`,
  source: "sink/runs",
  raw,
  runId: null,
  ...extra,
});

export function deadLetterBounds(open: Open): void {
  describe("dead-letter bounds", () => {
    test("a list carries no record's bytes, only their size; getDeadLetter reads one letter's bytes", async () => {
      const ledger = await open();
      const big = `{"pad":"${"x".repeat(1024 * 1024)}"}`;
      const letters = [letter(1, "ünïcode ✓ 😀"), letter(2, "AAEC/w==", { rawEncoding: "base64" }), letter(3, big)];
      await ledger.commit({ records: [], deadLetters: letters, reports: [] }, T0);
      const list = await ledger.listDeadLetters();
      expect(list.map((l) => [l.size, l.rawEncoding, "raw" in l])).toEqual([
        [new TextEncoder().encode("ünïcode ✓ 😀").length, "utf8", false],
        [4, "base64", false],
        [big.length, "utf8", false],
      ]);
      for (const [i, summary] of list.entries()) {
        expect(await ledger.getDeadLetter(summary.id)).toEqual({ ...summary, raw: letters[i]?.raw ?? "" });
      }
    });

    test("purgeDeadLetters forgets the letters parked before the cut, and frees their keys", async () => {
      const ledger = await open();
      await ledger.commit({ records: [], deadLetters: [letter(1, "a", { runId: "r_1", reports: [terminal("r_1", "FAILURE")] })], reports: [] }, T0);
      await ledger.commit({ records: [], deadLetters: [letter(2, "b")], reports: [] }, T0 + 10);
      await ledger.commit({ records: [], deadLetters: [letter(3, "c")], reports: [] }, T0 + 20);
      const [first] = await ledger.listDeadLetters();
      expect(await ledger.purgeDeadLetters(T0)).toBe(0);
      expect(await ledger.purgeDeadLetters(T0 + 15)).toBe(2);
      expect((await ledger.listDeadLetters()).map((l) => l.reason)).toEqual(["reason 3"]);
      expect(await ledger.getDeadLetter(first?.id ?? "")).toBeUndefined();
      expect(await ledger.counts()).toMatchObject({ deadLetters: 1, pendingReports: 1 });
      // The key is free again: the same poison record parks anew (once).
      expect((await ledger.commit({ records: [], deadLetters: [letter(1, "a"), letter(3, "c")], reports: [] }, T0 + 30)).deadLetters).toEqual([
        "accepted",
        "duplicate",
      ]);
      expect(await ledger.purgeDeadLetters(T0 + 1_000)).toBe(2);
      expect(await ledger.listDeadLetters()).toEqual([]);
    });
  });
}

export function unsettledContract(open: Open, claimAll: (ledger: Ledger, keys: string[]) => Promise<unknown>): void {
  describe("unsettled", () => {
    test("names, in the order given, the keys of unfinished work and the runs with undelivered reports", async () => {
      const ledger = await open();
      await claimAll(ledger, ["run:running", "run:done"]);
      await ledger.finishWork("run:done", "o1", [log("r_done", "final"), terminal("r_done")], T0 + 1);
      await ledger.commit({ records: [rec("run:pending"), rec("run:waiting", "lane"), rec("run:behind", "lane")], deadLetters: [], reports: [] }, T0 + 2);
      await ledger.appendReports([log("r_delivered", "x")], T0 + 2);
      const [delivered] = (await ledger.claimReports({ owner: "rep", limit: 10, leaseMs: 1_000, now: T0 + 3 })).filter((r) => r.runId === "r_delivered");
      await ledger.settleReport(delivered?.id ?? "", { type: "delivered" }, T0 + 4);
      const keys = ["run:behind", "run:done", "run:unknown", "run:running", "run:pending", "run:waiting"];
      const runIds = ["r_unknown", "r_delivered", "r_done"];
      expect(await ledger.unsettled(keys, runIds)).toEqual({ keys: ["run:behind", "run:running", "run:pending", "run:waiting"], runIds: ["r_done"] });
      expect(await ledger.unsettled([], [])).toEqual({ keys: [], runIds: [] });
      await expect(ledger.unsettled([""], [])).rejects.toThrow(/keys\[0\]/);
    });
  });
}
