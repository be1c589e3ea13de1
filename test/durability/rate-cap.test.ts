import { Database } from "bun:sqlite";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { DEFAULT_RATE_BUDGET, type PortEmulatorState } from "../../src/emulator/port-emulator-state.ts";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { createRedisLedger } from "../../src/ledger/redis.ts";
import { ReportState } from "../../src/ledger/sqlite-schema.ts";
import { createSqliteLedger } from "../../src/ledger/sqlite.ts";
import { createHarness, type Harness, runMessage } from "../support/harness.ts";
import { getRedis } from "../support/redis.ts";

/**
 * Port's numbers are capped. One answer asking for years — a 429 with `Retry-After: 315360000`, a 200
 * whose `x-ratelimit-reset` is in 2100 with nothing remaining — once put every pending report off to then
 * in the ledger (a restart did not help) or stalled reporting until a restart. With PORT_MAX_WAIT_MS set,
 * every report is delivered within that bound, nothing in the ledger is ever due later than it, and the
 * ask is logged once. Checked on every kind of ledger, its rows read directly where it has rows to read.
 */
const BOUND_MS = 2_000;
const RUNS = 20;
/** 2100-01-01T00:00:00Z in epoch seconds: a window of Port's budget that ends then. */
const YEAR_2100_S = 4_102_444_800;

interface Store {
  ledger: Ledger;
  /** Pending reports whose rows say they are due after `atMs` (read from the store itself, not through the ledger). */
  dueAfter?: (atMs: number) => Promise<number>;
  cleanup?: () => Promise<void>;
}

const dir = mkdtempSync(join(tmpdir(), "portside-rate-cap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const STORES: [string, () => Promise<Store>][] = [
  ["memory", async () => ({ ledger: createMemoryLedger() })],
  [
    "sqlite",
    async () => {
      const path = join(dir, `ledger-${++files}.sqlite`);
      const ledger = createSqliteLedger({ path });
      const dueAfter = async (atMs: number) => {
        const db = new Database(path, { readonly: true });
        try {
          const reports = db
            .query<{ n: number }, [number, number]>("SELECT count(*) AS n FROM report WHERE state = ?1 AND due_at > ?2")
            .get(ReportState.pending, atMs);
          const runs = db.query<{ n: number }, [number]>("SELECT count(*) AS n FROM outbox_run WHERE due_at > ?1").get(atMs);
          return (reports?.n ?? 0) + (runs?.n ?? 0);
        } finally {
          db.close();
        }
      };
      return { ledger, dueAfter };
    },
  ],
  [
    "redis",
    async () => {
      const url = (await getRedis()).url;
      const prefix = `rate-cap-${crypto.randomUUID()}`;
      const ledger = createRedisLedger({ url, prefix });
      const client = new Redis(url);
      const dueAfter = async (atMs: number) => {
        let late = 0;
        for (const key of await client.keys(`${prefix}:r:*`)) {
          const [state, due] = await client.hmget(key, "state", "due");
          if (state === "pending" && Number(due) > atMs) late++;
        }
        return late + (await client.zcount(`${prefix}:rready`, `(${atMs}`, "+inf"));
      };
      const cleanup = async () => {
        const keys = await client.keys(`${prefix}:*`);
        if (keys.length > 0) await client.del(...keys);
        client.disconnect();
      };
      return { ledger, dueAfter, cleanup };
    },
  ],
];

let h: Harness | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await h?.stop();
  await cleanup?.();
  h = undefined;
  cleanup = undefined;
});

describe.each(STORES)("%s ledger", (_name, open) => {
  /**
   * Warms the token up, lets `ask` make Port's next answers ask for years and posts the runs; once Port has
   * asked (`asked`, over the calls since), `restore` lets Port answer as usual again.
   */
  async function scenario(opts: {
    ask: (state: PortEmulatorState) => void;
    asked: (calls: PortEmulatorState["calls"]) => boolean;
    restore?: (state: PortEmulatorState) => void;
  }) {
    const store = await open();
    cleanup = store.cleanup;
    h = await createHarness({
      ledger: store.ledger,
      env: { PORT_MAX_WAIT_MS: String(BOUND_MS) },
      handlers: {
        runs: {
          deploy: async (run) => {
            await run.log(`deploying ${run.id}`);
            return { summary: `done ${run.id}` };
          },
        },
      },
    });
    const harness = h;
    const state = harness.emulator.state;
    await harness.post("/sink/runs", JSON.stringify(runMessage("r_warm")));
    await harness.waitForTerminal(["r_warm"]);

    const before = state.calls.length;
    opts.ask(state);
    const ids = Array.from({ length: RUNS }, (_, i) => `r_cap_${i}`);
    await harness.post("/sink/runs", ids.map((id) => JSON.stringify(runMessage(id))).join("\n"));
    await harness.waitUntil(() => opts.asked(state.calls.slice(before)), "Port's answer asking for years");
    const askedAtMs = state.calls[before]?.atMs ?? Date.now();
    opts.restore?.(state);

    // Once the runs are done and the reporter holds nothing, every report waiting is in the ledger.
    await harness.waitUntil(async () => {
      const counts = await store.ledger.counts();
      return counts.pendingWork + counts.runningWork === 0 && (await store.ledger.leaseHolders()).length === 0;
    }, "every run done and no report claimed");
    const latestMs = Date.now() + BOUND_MS;
    const { pendingReports } = await store.ledger.counts();
    expect(pendingReports).toBeGreaterThan(0);
    if (store.dueAfter) expect(await store.dueAfter(latestMs)).toBe(0);
    // Through the ledger too: by the bound from now, every waiting report can be claimed.
    const claimable = await store.ledger.claimReports({ owner: "inspector", limit: 10_000, limitRuns: 10_000, leaseMs: 1, now: latestMs });
    await store.ledger.expireLeases(["inspector"], Date.now());
    expect(claimable).toHaveLength(pendingReports);

    await harness.waitForTerminal(ids, BOUND_MS + 5_000);
    const lastMs = Math.max(...ids.map((id) => state.runs.get(id)?.endedAtMs ?? Number.POSITIVE_INFINITY));
    expect(lastMs - askedAtMs).toBeLessThanOrEqual(BOUND_MS + 1_500);
    for (const id of ids) expect(state.runs.get(id)).toMatchObject({ status: "SUCCESS", summary: `done ${id}` });
    const warnings = harness.logs.filter((line) => line.includes('"port.rate.wait_capped"'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"level":"warn"');
  }

  test("a 429 with Retry-After: 315360000: every report is delivered within the bound; nothing in the ledger is due later", async () => {
    await scenario({
      ask: (state) => state.rateLimitNext(1, 315_360_000),
      asked: (calls) => calls.some((c) => c.status === 429),
    });
  }, 30_000);

  test("a 200 with x-ratelimit-reset in 2100 and nothing remaining: every report is delivered within the bound; nothing in the ledger is due later", async () => {
    await scenario({
      // A window that ends in 2100 with a budget of one call: every answer says nothing remains until then.
      ask: (state) => {
        state.rateLimit = { limit: 1, periodS: YEAR_2100_S, whenExceeded: "throttle", throttleMs: 0, resetAs: "epoch" };
      },
      asked: (calls) => calls.some((c) => c.status < 300),
      restore: (state) => {
        state.rateLimit = { ...DEFAULT_RATE_BUDGET };
      },
    });
  }, 30_000);
});
