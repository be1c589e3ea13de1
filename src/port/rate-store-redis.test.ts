import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Redis } from "ioredis";
import { getRedis } from "../../test/support/redis.ts";
import { createPortRateLimiter } from "./rate-limit.ts";
import { createMemoryRateStore, type RateStore } from "./rate-store.ts";
import { createRedisRateStore, type RedisRateStore } from "./rate-store-redis.ts";

/** The same contract for the memory store and the Redis one; each Redis test on its own key prefix. */
let url: string;
let admin: Redis;
const opened: RedisRateStore[] = [];
let n = 0;
const prefix = () => `portside-test-rate-${process.pid}-${Date.now()}-${++n}`;

beforeAll(async () => {
  url = (await getRedis()).url;
  admin = new Redis(url);
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await admin.quit();
});

/** Two handles on one shared store, as two replicas have. */
const kinds: Array<[string, () => [RateStore, RateStore]]> = [
  [
    "memory",
    () => {
      const s = createMemoryRateStore();
      return [s, s];
    },
  ],
  [
    "redis",
    () => {
      const p = prefix();
      const a = createRedisRateStore({ url, prefix: p });
      const b = createRedisRateStore({ url, prefix: p });
      opened.push(a, b);
      return [a, b];
    },
  ],
];

describe.each(kinds)("%s rate store", (_name, make) => {
  test("a pause only ever moves later; resume clears it unless it was extended past now", async () => {
    const [a, b] = make();
    const now = Date.now();
    expect(await a.pausedUntil()).toBeNull();
    await a.pause(now + 5_000);
    await b.pause(now + 2_000);
    expect(await b.pausedUntil()).toBe(now + 5_000);
    await a.resume("a", now + 1_000); // extended past now: kept
    expect(await b.pausedUntil()).toBe(now + 5_000);
    await a.resume("a", now + 5_000);
    expect(await b.pausedUntil()).toBeNull();
  });

  test("one probe lock between the replicas, released only by its owner", async () => {
    const [a, b] = make();
    expect(await a.tryProbe("a", 10_000)).toBe(true);
    expect(await b.tryProbe("b", 10_000)).toBe(false);
    await b.releaseProbe("b");
    expect(await b.tryProbe("b", 10_000)).toBe(false);
    await a.releaseProbe("a");
    expect(await b.tryProbe("b", 10_000)).toBe(true);
    await b.resume("b", Date.now());
    expect(await a.tryProbe("a", 10_000)).toBe(true);
  });

  test("paced slots: one timeline for both, never before now", async () => {
    const [a, b] = make();
    const now = Date.now();
    expect(await a.takeSlot(now, 250.4)).toBe(now);
    expect(await b.takeSlot(now, 250.4)).toBe(now + 250);
    expect(await a.takeSlot(now + 10_000, 100)).toBe(now + 10_000);
  });
});

describe("redis rate store", () => {
  test("the pause lapses by itself some minutes after its end when no probe clears it", async () => {
    const p = prefix();
    const s = createRedisRateStore({ url, prefix: p });
    opened.push(s);
    await s.pause(Date.now() + 1_000);
    const ttl = await admin.pttl(`${p}:port-rate-pause`);
    expect(ttl).toBeGreaterThan(1_000);
    expect(ttl).toBeLessThanOrEqual(1_000 + 10 * 60_000 + 1_000);
  });

  test("two limiters (replicas) on one Redis: a 429 at one pauses the other", async () => {
    const p = prefix();
    const stores = [createRedisRateStore({ url, prefix: p }), createRedisRateStore({ url, prefix: p })];
    opened.push(...stores);
    const [a, b] = stores.map((store) => createPortRateLimiter({ store, syncMs: 0 }));
    (await a!.acquire({ priority: "normal", maxWaitMs: 0 })).answered(429, new Headers({ "retry-after": "60" }));
    await new Promise((r) => setTimeout(r, 50));
    await b!.acquire({ priority: "normal", maxWaitMs: 0 }).then(
      (permit) => permit.failed(),
      () => undefined,
    ); // reads the shared pause
    await new Promise((r) => setTimeout(r, 50));
    const refused = await b!.acquire({ priority: "status", maxWaitMs: 1_000 }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: "RateLimitWait" });
    expect(b!.snapshot().pausedUntilMs).toBeGreaterThan(Date.now() + 50_000);
  });
});
