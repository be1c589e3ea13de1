import { afterEach, expect, test } from "bun:test";
import Redis from "ioredis";
import { loadConfig } from "../../src/config.ts";
import { createPortEmulator, type PortEmulator } from "../../src/emulator/port-emulator.ts";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { createRedisLedger } from "../../src/ledger/redis.ts";
import { createLogger } from "../../src/log.ts";
import { createRedisRateStore } from "../../src/port/rate-store-redis.ts";
import { createRedisTokenStore } from "../../src/port/token-store-redis.ts";
import { createService, type Service } from "../../src/service.ts";
import { createRegistry } from "../../src/targets/registry.ts";
import { ORG, runMessage, SINK_TOKEN } from "../support/harness.ts";
import { getRedis } from "../support/redis.ts";

/**
 * One probe per pause. Port answers 429 with `Retry-After: 1` for 10 s while 200 runs wait to be reported.
 * portside runs as in production — default retry policies and outbox, the real fetch, Port (the emulator) on
 * a loopback socket — and Port counts every call it gets. In the window one call goes first, the others wait
 * for its answer, and after each pause one probes: at most about one call a second for the organisation,
 * however many replicas share its budget. After the window every report goes out.
 *
 * The runs end together after portside had been idle a moment, so what the limiter last heard is stale
 * when they come (on main: 200 calls at once, every one refused; two replicas: a second replica kept
 * sending for up to a second after the other was refused).
 */
const WINDOW_MS = 10_000;
const RUNS = 200;
/** Longer than the limiter's quiet spell (1 s): nothing was heard from Port for a while. */
const IDLE_MS = 1_500;

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  cleanup = [];
});

function servePort(): { emulator: PortEmulator; url: string } {
  const emulator = createPortEmulator({});
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  cleanup.push(async () => void server.stop(true));
  return { emulator, url: `http://127.0.0.1:${server.port}` };
}

function startReplica(portUrl: string, ledger: Ledger, shared?: { redisUrl: string; prefix: string }): Service {
  const config = loadConfig({ ORG_ID: ORG, SINK_TOKEN, PORT_CLIENT_ID: "emulator-client-id", PORT_CLIENT_SECRET: "emulator-client-secret", LEDGER: "memory" });
  // Shared as assemble() shares them when replicas are on one Redis: Port's token and its rate budget.
  const stores = shared && {
    rateStore: createRedisRateStore({ url: shared.redisUrl, prefix: shared.prefix }),
    tokenStore: createRedisTokenStore({ url: shared.redisUrl, prefix: shared.prefix }),
  };
  const service = createService({
    config,
    ledger,
    registry: createRegistry(
      {
        runs: {
          deploy: async (run) => {
            await run.log(`deploying ${run.id}`);
            return { summary: `done ${run.id}` };
          },
        },
      },
      "test-handlers.ts",
    ),
    logger: createLogger({ level: "error", sink: () => {} }),
    port: { baseUrl: portUrl, clientId: "emulator-client-id", clientSecret: "emulator-client-secret" },
    ...stores,
  });
  service.start();
  cleanup.push(async () => {
    await service.stop(1_000);
    await stores?.rateStore.close();
    await stores?.tokenStore.close();
  });
  return service;
}

async function post(service: Service, emulator: PortEmulator, ids: string[]): Promise<void> {
  for (const id of ids) emulator.state.declareRun(id);
  const body = ids.map((id) => JSON.stringify(runMessage(id))).join("\n");
  const res = await service.app.request("/sink/runs", { method: "POST", body, headers: { authorization: `Bearer ${SINK_TOKEN}` } });
  expect(res.status).toBe(200);
}

async function waitUntil(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** The window of 429s over `replicas` (the runs shared out between them), and what Port saw. */
async function windowOf429(emulator: PortEmulator, replicas: Service[]): Promise<void> {
  // Each replica has its token before the window: the token endpoint is not what this is about.
  const warm = replicas.map((_, i) => `r_warm_${i}`);
  await Promise.all(replicas.map((replica, i) => post(replica, emulator, [warm[i] as string])));
  await waitUntil(() => warm.every((id) => emulator.state.ended(id)), "the warm-up runs", 10_000);
  await Bun.sleep(IDLE_MS);

  emulator.state.refuseFor(WINDOW_MS, { retryAfterS: 1 });
  const windowStart = Date.now();
  const windowEnd = emulator.state.refusingUntilMs;
  const ids = Array.from({ length: RUNS }, (_, i) => `r_herd_${i}`);
  const share = Math.ceil(RUNS / replicas.length);
  await Promise.all(replicas.map((replica, i) => post(replica, emulator, ids.slice(i * share, (i + 1) * share))));
  await waitUntil(() => ids.every((id) => emulator.state.ended(id)), `all ${RUNS} runs reported`, WINDOW_MS + 30_000);

  const inWindow = emulator.state.calls.filter((c) => c.atMs >= windowStart && c.atMs < windowEnd);
  const bySecond = new Map<number, number>();
  for (const c of inWindow) bySecond.set(Math.floor((c.atMs - windowStart) / 1000), (bySecond.get(Math.floor((c.atMs - windowStart) / 1000)) ?? 0) + 1);
  console.log(`${replicas.length} replica(s): ${inWindow.length} calls in the 10 s window, by second ${JSON.stringify(Object.fromEntries(bySecond))}`);
  expect(inWindow.length).toBeLessThanOrEqual(12);
  expect(inWindow.every((c) => c.status === 429)).toBe(true);
  for (const id of ids) {
    expect(emulator.state.runs.get(id)).toMatchObject({ status: "SUCCESS", summary: `done ${id}` });
    expect(emulator.state.runs.get(id)?.logs.map((l) => l.message)).toEqual([`deploying ${id}`]);
  }
  // After the window the terminal statuses went ahead of the logs still waiting.
  const after = emulator.state.calls.filter((c) => c.atMs >= windowEnd && c.status < 300);
  const firstLog = after.findIndex((c) => c.endpoint === "postLog");
  expect(after.slice(0, firstLog).every((c) => c.endpoint === "patchRun")).toBe(true);
}

test("one process: a 10 s window of 429 with Retry-After 1 gets at most one call a second; then all 200 runs are reported", async () => {
  const { emulator, url } = servePort();
  const ledger = createMemoryLedger();
  cleanup.push(() => ledger.close());
  await windowOf429(emulator, [startReplica(url, ledger)]);
}, 60_000);

test("two replicas sharing a Redis rate store: at most one call a second between them in the window; then all 200 runs are reported", async () => {
  const { emulator, url } = servePort();
  const redis = await getRedis();
  const db = 1 + Math.floor(Math.random() * 14);
  const redisUrl = `${redis.url}/${db}`;
  const prefix = `herd-${crypto.randomUUID()}`;
  const ledgers = [createRedisLedger({ url: redisUrl, prefix }), createRedisLedger({ url: redisUrl, prefix })];
  cleanup.push(async () => {
    for (const ledger of ledgers) await ledger.close();
    const client = new Redis(redisUrl);
    const keys = await client.keys(`${prefix}:*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });
  await windowOf429(
    emulator,
    ledgers.map((ledger) => startReplica(url, ledger, { redisUrl, prefix })),
  );
}, 60_000);
