import { afterAll, describe, expect, test } from "bun:test";
import { Redis } from "ioredis";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createRedisLedger } from "../../src/ledger/redis.ts";
import { getRedis } from "../support/redis.ts";
import { ledgerContract, log, rec, T0 } from "./contract.ts";

// No Redis is a failure with instructions (see getRedis), never a skip.
const { url } = await getRedis();
const admin = new Redis(url);
const run = `portside-test:${process.pid}:${Date.now()}`;
let ledgers = 0;
const prefixes = new WeakMap<Ledger, string>();
const open = (prefix = `${run}:${++ledgers}`) => {
  const ledger = createRedisLedger({ url, prefix });
  prefixes.set(ledger, prefix);
  return ledger;
};

async function dropKeys(pattern: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await admin.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== "0");
}

ledgerContract(
  "redis",
  async () => open(),
  () => dropKeys(`${run}:*`),
  {
    // Another replica: its own connection, the same prefix.
    sibling: async (ledger) => open(prefixes.get(ledger)),
  },
);

afterAll(async () => {
  await dropKeys(`${run}:*`);
  await admin.quit();
});

describe("redis ledger", () => {
  test("ledgers under different prefixes share a Redis without seeing each other", async () => {
    const a = open();
    const b = open();
    try {
      expect(await a.commit({ records: [rec("run:x")], deadLetters: [], reports: [log("r", "m")] }, T0)).toEqual({ records: ["accepted"], deadLetters: [] });
      expect(await b.commit({ records: [rec("run:x")], deadLetters: [], reports: [] }, T0)).toEqual({ records: ["accepted"], deadLetters: [] });
      expect(await b.counts()).toMatchObject({ pendingWork: 1, pendingReports: 0 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("a 100-record commit is one round trip; scripts are loaded again after SCRIPT FLUSH", async () => {
    const client = new Redis(url);
    let sent = 0;
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((...args: Parameters<typeof send>) => {
      sent += 1;
      return send(...args);
    }) as typeof client.sendCommand;
    const ledger = createRedisLedger({ client, prefix: `${run}:trips` });
    try {
      await ledger.commit({ records: [rec("run:warm")], deadLetters: [], reports: [] }, T0);
      sent = 0;
      const records = Array.from({ length: 100 }, (_, i) => rec(`run:${i}`, i % 3 === 0 ? "lane" : null));
      const poison = { key: "parked:run:x", kind: "run" as const, reason: "r", source: "s", raw: "{}", runId: "r2", reports: [log("r2", "parked")] };
      const result = await ledger.commit({ records, deadLetters: [poison, poison], reports: [log("r1", "x")] }, T0);
      expect(sent).toBe(1);
      expect(result.records.every((o) => o === "accepted")).toBe(true);
      expect(result.deadLetters).toEqual(["accepted", "duplicate"]);
      expect(await ledger.counts()).toMatchObject({ pendingReports: 2, deadLetters: 1 });
      await admin.script("FLUSH");
      expect((await ledger.claimWork({ owner: "o", limit: 5, leaseMs: 1_000, now: T0 })).length).toBe(5);
    } finally {
      await ledger.close();
      expect(client.status).toBe("ready");
      await client.quit();
    }
  });

  test("a dead letter parked before dead letters had keys reads with a legacy key, is removable, and blocks nothing", async () => {
    const prefix = `${run}:legacy`;
    await admin.hset(`${prefix}:seq`, "dl", 1);
    await admin.hset(`${prefix}:dl:1`, "kind", "run", "reason", "old", "source", "sink/runs", "raw", "{}", "parkedAt", T0);
    await admin.zadd(`${prefix}:dls`, 1, "1");
    const ledger = open(prefix);
    try {
      const old = {
        id: "1",
        key: "legacy:1",
        kind: "run" as const,
        reason: "old",
        source: "sink/runs",
        rawEncoding: "utf8" as const,
        size: 2,
        runId: null,
        parkedAt: T0,
      };
      expect(await ledger.listDeadLetters()).toEqual([old]);
      expect(await ledger.getDeadLetter("1")).toEqual({ ...old, raw: "{}" });
      const again = { key: "legacy:1", kind: "run" as const, reason: "new", source: "sink/runs", raw: "{}", runId: null };
      expect((await ledger.commit({ records: [], deadLetters: [again], reports: [] }, T0 + 1)).deadLetters).toEqual(["accepted"]);
      expect(await ledger.removeDeadLetter("1")).toBe(true);
      expect((await ledger.listDeadLetters()).map((d) => [d.id, d.key])).toEqual([["2", "legacy:1"]]);
      expect((await ledger.commit({ records: [], deadLetters: [again], reports: [] }, T0 + 2)).deadLetters).toEqual(["duplicate"]);
    } finally {
      await ledger.close();
    }
  });

  test("work pending in the earlier single pending set (written before an upgrade) is counted and claimed by its kind", async () => {
    const prefix = `${run}:legacy-pending`;
    const ledger = open(prefix);
    try {
      await ledger.commit({ records: [rec("run:old"), rec("change:old", null, "change")], deadLetters: [], reports: [] }, T0);
      // As an earlier portside left them: both keys in one set.
      for (const kind of ["run", "change"]) {
        const moved = await admin.zrange(`${prefix}:pending:${kind}`, 0, -1, "WITHSCORES");
        await admin.del(`${prefix}:pending:${kind}`);
        if (moved.length > 0) await admin.zadd(`${prefix}:pending`, moved[1] as string, moved[0] as string);
      }
      expect(await ledger.counts()).toMatchObject({ pendingWork: 2 });
      expect((await ledger.claimWork({ owner: "o1", limit: 10, kind: "change", leaseMs: 1_000, now: T0 })).map((w) => w.key)).toEqual(["change:old"]);
      expect((await ledger.claimWork({ owner: "o1", limit: 10, leaseMs: 1_000, now: T0 })).map((w) => [w.key, w.attempt])).toEqual([["run:old", 1]]);
      expect(await admin.exists(`${prefix}:pending`)).toBe(0);
    } finally {
      await ledger.close();
    }
  });

  test("a run ended before its status report was kept in its hash: the history finds the report among its last ones", async () => {
    const prefix = `${run}:legacy-status`;
    const ledger = open(prefix);
    try {
      const record = (id: string) => ({ ...rec(`run:${id}`), action: "deploy" });
      await ledger.commit({ records: [record("r_old"), record("r_logs")], deadLetters: [], reports: [] }, T0);
      await ledger.claimWork({ owner: "o1", limit: 10, leaseMs: 1_000, now: T0 });
      const update = { runId: "r_old", call: { kind: "update" as const, patch: { status: "SUCCESS" as const, summary: "ok" } } };
      await ledger.finishWork("run:r_old", "o1", [update, log("r_old", "after")], T0 + 1, { status: "SUCCESS", summary: "ok" });
      await ledger.finishWork("run:r_logs", "o1", [log("r_logs", "only logs")], T0 + 1, { status: "DEFERRED", summary: null });
      // As an earlier portside left them: no statusReport in the work hashes.
      for (const id of ["r_old", "r_logs"]) await admin.hdel(`${prefix}:w:run:${id}`, "statusReport");
      const claimed = await ledger.claimReports({ owner: "rep", limit: 10, leaseMs: 1_000, now: T0 + 2 });
      const status = claimed.find((r) => r.call.kind === "update");
      await ledger.settleReport(status?.id ?? "", { type: "failed", error: "Port answered 404 not_found: gone" }, T0 + 3);

      const expected = { r_old: { state: "failed" as const, attempts: 1, error: "Port answered 404 not_found: gone" }, r_logs: null };
      expect(Object.fromEntries((await ledger.listRuns({ limit: 10 })).runs.map((r) => [r.runId, r.statusReport]))).toEqual(expected);
      expect((await ledger.getRun("r_old"))?.statusReport).toEqual(expected.r_old);
    } finally {
      await ledger.close();
    }
  });

  test("calls after close are refused", async () => {
    const ledger = open();
    await ledger.close();
    await ledger.close();
    await expect(ledger.counts()).rejects.toThrow(/closed/);
  });
});
