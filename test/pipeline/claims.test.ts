import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { createRedisLedger } from "../../src/ledger/redis.ts";
import { createSqliteLedger } from "../../src/ledger/sqlite.ts";
import { eventBridge } from "../../src/targets/eventbridge/target.ts";
import { eventBridgeEnv, eventBridgeTargets, startEventBridgeServer, type EventBridgeServer } from "../support/eventbridge-server.ts";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";
import { getRedis } from "../support/redis.ts";

/**
 * The executor claims only what it can start: runs for free handler slots, and changes bound only for
 * targets into the room on targets. A run is never claimed to be handed back, so its attempt count stays
 * true and a crash can never make a run that did not start look interrupted.
 */

const dir = mkdtempSync(join(tmpdir(), "portside-claims-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
let server: EventBridgeServer | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  server?.stop();
  h = server = undefined;
});

/** The ledger, counting what the executor hands back and the runs it claims. */
function counting(ledger: Ledger) {
  const seen = { releases: 0, claimedRuns: new Map<string, number>() };
  const wrapped: Ledger = {
    ...ledger,
    async claimWork(opts) {
      const items = await ledger.claimWork(opts);
      for (const item of items) if (item.kind === "run") seen.claimedRuns.set(item.key, (seen.claimedRuns.get(item.key) ?? 0) + 1);
      return items;
    },
    async releaseWork(key, owner) {
      seen.releases++;
      return ledger.releaseWork(key, owner);
    },
  };
  return { ledger: wrapped, seen };
}

const template = JSON.parse(readFileSync(new URL("../../src/messages/fixtures/changes/entity-update.json", import.meta.url), "utf8"));
const changeLines = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => JSON.stringify({ ...template, context: { entity: `svc-${from + i}`, blueprint: "svc" } })).join("\n");
const runsBody = (ids: string[]) => ids.map((id) => JSON.stringify(runMessage(id, "deploy"))).join("\n");

/** One slot (CONCURRENCY=1) held by a run until `release()`; every change goes to EventBridge only. */
async function slotHeld(ledger: Ledger, options: { start?: boolean; emulator?: Harness["emulator"] } = {}) {
  server = startEventBridgeServer();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const started: string[] = [];
  const counted = counting(ledger);
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async (run) => {
          started.push(run.id);
          await gate;
          return { summary: `done ${run.id}` };
        },
      },
      changes: [{ to: eventBridge() }],
    },
    env: eventBridgeEnv(server, { CONCURRENCY: "1" }),
    targets: eventBridgeTargets({ lingerMs: 5 }),
    ledger: counted.ledger,
    ...(options.start === false ? { start: false } : {}),
    ...(options.emulator ? { emulator: options.emulator } : {}),
  });
  return { harness: h, server, started, release, seen: counted.seen };
}

/** The attempt each run started with, from the run.started log lines. */
const attempts = (harness: Harness) =>
  harness.logs
    .map((line) => JSON.parse(line) as { event: string; runId?: string; attempt?: number })
    .filter((line) => line.event === "run.started")
    .map((line) => line.attempt);

async function changesFlowWhileTheSlotIsHeld(ledger: Ledger, runs: number, changes: number) {
  const { harness, server, started, release, seen } = await slotHeld(ledger);
  expect((await harness.post("/sink/runs", runsBody(["r_slow"]))).status).toBe(200);
  await harness.waitUntil(() => started.length === 1, "the first run to take the only slot");
  const waiting = Array.from({ length: runs }, (_, i) => `r_waits_${i}`);
  for (let i = 0; i < runs; i += 100) expect((await harness.post("/sink/runs", runsBody(waiting.slice(i, i + 100)))).status).toBe(200);

  // Changes keep coming in batches of 100, four requests at a time, while the slot stays taken.
  let next = 0;
  const sender = async () => {
    while (next < changes) {
      const from = next;
      next += 100;
      expect((await harness.post("/sink/changes", changeLines(from, Math.min(100, changes - from)))).status).toBe(200);
    }
  };
  await Promise.all([sender(), sender(), sender(), sender()]);
  await harness.waitUntil(
    () => new Set(server.published.map((e) => e.detail.idempotencyKey)).size === changes,
    `all ${changes} changes to be published`,
    60_000,
  );

  expect(started).toEqual(["r_slow"]);
  expect(seen.releases).toBe(0);
  // Only the run that started was ever claimed.
  expect([...seen.claimedRuns.keys()]).toEqual(["run:r_slow"]);

  release();
  await harness.waitForTerminal(["r_slow", ...waiting], 60_000);
  for (const id of waiting) expect(harness.emulator.state.terminalStatus(id)).toBe("SUCCESS");
  expect(attempts(harness).every((attempt) => attempt === 1)).toBe(true);
  expect(attempts(harness)).toHaveLength(runs + 1);
  expect(seen.releases).toBe(0);
  expect([...seen.claimedRuns.values()].every((n) => n === 1)).toBe(true);
}

test("CONCURRENCY=1 held by a slow run, 300 runs pending, 20,000 changes bound for EventBridge: no run claimed and handed back, every change published, each waiting run a first attempt", async () => {
  await changesFlowWhileTheSlotIsHeld(createMemoryLedger(), 300, 20_000);
}, 120_000);

test("the same on the Redis ledger: 100 runs wait, 2,000 changes flow, nothing is handed back", async () => {
  const { url } = await getRedis();
  await changesFlowWhileTheSlotIsHeld(createRedisLedger({ url, prefix: `portside-claims:${process.pid}:${Date.now()}` }), 100, 2_000);
}, 120_000);

test("after a restart, changes left in the ledger flow while a run holds the only slot (no notify needed)", async () => {
  // A process accepts a run, then 3,000 changes, and stops before it claims any of them.
  const path = join(dir, "restart.sqlite");
  const before = await slotHeld(createSqliteLedger({ path }), { start: false });
  expect((await before.harness.post("/sink/runs", runsBody(["r_first"]))).status).toBe(200);
  for (let i = 0; i < 3_000; i += 500) expect((await before.harness.post("/sink/changes", changeLines(i, 500))).status).toBe(200);
  await before.harness.stop();
  before.server.stop();

  // The next start on the same ledger: nobody posts anything, so only the ledger can say changes wait.
  const { harness, server, started, release } = await slotHeld(createSqliteLedger({ path }), { emulator: before.harness.emulator });
  await harness.waitUntil(() => started.length === 1, "the run to take the only slot");
  await harness.waitUntil(() => server.published.length === 3_000, "the 3,000 changes to be published while the run holds the slot", 30_000);
  expect(started).toEqual(["r_first"]);
  release();
  await harness.waitForTerminal(["r_first"]);
}, 60_000);

test("a change committed by another replica is found by the poll while every slot is taken", async () => {
  const ledger = createMemoryLedger();
  const { harness, server, started, release } = await slotHeld(ledger);
  expect((await harness.post("/sink/runs", runsBody(["r_busy"]))).status).toBe(200);
  await harness.waitUntil(() => started.length === 1, "the run to take the only slot");
  // Committed straight into the shared ledger, as another replica's sink would: nobody notifies this executor.
  await ledger.commit(
    { records: [{ key: "change:elsewhere", kind: "change", body: changeLines(0, 1), source: "sink/changes", lane: null }], deadLetters: [], reports: [] },
    Date.now(),
  );
  await harness.waitUntil(() => server.published.length === 1, "the other replica's change to be published");
  release();
  await harness.waitForTerminal(["r_busy"]);
});

test("the cap on work waiting on targets is hard: TARGET_CONCURRENCY=5 never has more than five changes out at once", async () => {
  server = startEventBridgeServer();
  const inFlight = { now: 0, most: 0 };
  const ledger = createMemoryLedger();
  h = await createHarness({
    handlers: { changes: [{ to: eventBridge() }] },
    env: eventBridgeEnv(server, { CONCURRENCY: "4", TARGET_CONCURRENCY: "5" }),
    targets: (deps) => {
      const targets = eventBridgeTargets({ lingerMs: 5 })(deps);
      const runner = targets.eventbridge;
      if (!runner) throw new Error("no EventBridge runner");
      return {
        eventbridge: {
          ...runner,
          run: runner.run.bind(runner),
          async change(target, change) {
            inFlight.most = Math.max(inFlight.most, ++inFlight.now);
            try {
              return await runner.change(target, change);
            } finally {
              inFlight.now--;
            }
          },
        },
      };
    },
    ledger,
  });
  expect((await h.post("/sink/changes", changeLines(0, 200))).status).toBe(200);
  await h.waitUntil(() => server?.published.length === 200, "every change to be published");
  expect(inFlight.most).toBe(5);
});
