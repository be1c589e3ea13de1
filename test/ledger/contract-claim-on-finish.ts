import { describe, expect, test } from "bun:test";
import type { Ledger, PendingReport } from "../../src/ledger/ledger.ts";
import { log, rec, T0, terminal } from "./contract.ts";

/**
 * Part of the ledger contract (`contract.ts` runs it for every store): a finish that claims the reports it
 * queues (`finishWorkAndClaim`), so the process that finished a run delivers its status without claiming
 * it from the outbox. A store without it says so by not having the method, and its finishes and claims
 * are the two steps the rest of the contract tests.
 */
type Open = () => Promise<Ledger>;

const by = { owner: "reporter-1", leaseMs: 1_000 };
const ended = { status: "SUCCESS", summary: "SUCCESS summary" };
const said = (reports: PendingReport[]) =>
  reports.map((r) => `${r.runId} ${r.call.kind === "log" ? r.call.message : r.call.kind === "update" ? `status:${r.call.patch.status}` : r.call.kind}`);

/** `keys` accepted and claimed by `o1` at T0. */
async function running(ledger: Ledger, keys: string[]): Promise<void> {
  await ledger.commit({ records: keys.map((k) => rec(k)), deadLetters: [], reports: [] }, T0);
  expect(await ledger.claimWork({ owner: "o1", limit: keys.length, leaseMs: 1_000, now: T0 })).toHaveLength(keys.length);
}

export function claimOnFinishContract(open: Open, claims: boolean): void {
  if (!claims) {
    test("this store has no finish that claims: a run's reports are claimed from the outbox after its finish", async () => {
      const ledger = await open();
      expect(ledger.finishWorkAndClaim).toBeUndefined();
    });
    return;
  }

  describe("a finish that claims its reports", () => {
    const finishClaiming = (ledger: Ledger, key: string, reports: Parameters<Ledger["finishWork"]>[2], now = T0 + 1, owner = "o1") =>
      (ledger.finishWorkAndClaim as NonNullable<Ledger["finishWorkAndClaim"]>)(key, owner, reports, now, ended, by);

    test("hands its reports back in queue order, leased: no other claim takes them until the lease ends; settled, they are gone", async () => {
      const ledger = await open();
      await running(ledger, ["run:r_a"]);
      const { held, claimed } = await finishClaiming(ledger, "run:r_a", [log("r_a", "one"), terminal("r_a")]);
      expect(held).toBe(true);
      expect(said(claimed)).toEqual(["r_a one", "r_a status:SUCCESS"]);
      expect(claimed.every((r) => r.attempts === 0 && typeof r.id === "string")).toBe(true);
      expect(await ledger.claimReports({ owner: "reporter-2", limit: 10, leaseMs: 1_000, now: T0 + 2 })).toEqual([]);
      // The lease is a real one: unsettled when it ends, they go out again (to anyone).
      expect(said(await ledger.claimReports({ owner: "reporter-2", limit: 10, leaseMs: 1_000, now: T0 + 1 + 1_000 }))).toEqual([
        "r_a one",
        "r_a status:SUCCESS",
      ]);
      for (const report of claimed) await ledger.settleReport(report.id, { type: "delivered" }, T0 + 3_000);
      expect(await ledger.counts()).toMatchObject({ pendingReports: 0, runningWork: 0, doneWork: 1 });
      expect(await ledger.claimReports({ owner: "reporter-2", limit: 10, leaseMs: 1_000, now: T0 + 10_000 })).toEqual([]);
    });

    test("a run with reports still undelivered keeps the new ones behind them: none is claimed, and a claim hands out all, in order", async () => {
      const ledger = await open();
      await running(ledger, ["run:r_b"]);
      await ledger.appendReports([log("r_b", "early")], T0);
      const { held, claimed } = await finishClaiming(ledger, "run:r_b", [terminal("r_b")]);
      expect({ held, claimed }).toEqual({ held: true, claimed: [] });
      expect(said(await ledger.claimReports({ owner: "reporter-2", limit: 10, leaseMs: 1_000, now: T0 + 2 }))).toEqual(["r_b early", "r_b status:SUCCESS"]);
    });

    test("an owner that lost the item claims nothing and queues nothing", async () => {
      const ledger = await open();
      await running(ledger, ["run:r_c"]);
      expect(await ledger.claimWork({ owner: "o2", limit: 1, leaseMs: 1_000, now: T0 + 5_000 })).toHaveLength(1);
      expect(await finishClaiming(ledger, "run:r_c", [terminal("r_c")], T0 + 5_001)).toEqual({ held: false, claimed: [] });
      expect(await ledger.counts()).toMatchObject({ pendingReports: 0, runningWork: 1 });
    });

    test("finishes at the same moment each get their own run's reports; a plain finish beside them leaves its reports to a claim", async () => {
      const ledger = await open();
      await running(ledger, ["run:r_d", "run:r_e", "run:r_f"]);
      const [d, e, f] = await Promise.all([
        finishClaiming(ledger, "run:r_d", [log("r_d", "d"), terminal("r_d")]),
        finishClaiming(ledger, "run:r_e", [terminal("r_e", "FAILURE")]),
        ledger.finishWork("run:r_f", "o1", [terminal("r_f")], T0 + 1, ended),
      ]);
      expect(said(d?.claimed ?? [])).toEqual(["r_d d", "r_d status:SUCCESS"]);
      expect(said(e?.claimed ?? [])).toEqual(["r_e status:FAILURE"]);
      expect(f).toBe(true);
      expect(said(await ledger.claimReports({ owner: "reporter-2", limit: 10, leaseMs: 1_000, now: T0 + 2 }))).toEqual(["r_f status:SUCCESS"]);
      const ids = [...(d?.claimed ?? []), ...(e?.claimed ?? [])].map((r) => r.id);
      expect(new Set(ids).size).toBe(3);
    });
  });
}
