import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Redis } from "ioredis";
import { getRedis } from "../../test/support/redis.ts";
import { createPortEmulator, type PortEmulatorState } from "../emulator/port-emulator.ts";
import { createPortClient } from "./client.ts";
import type { FetchFn } from "./http.ts";
import { testRetryPolicy } from "../shared/retry.ts";
import { createTokenCache } from "./token.ts";
import type { IssuedToken } from "./token.ts";
import { createRedisTokenStore } from "./token-store-redis.ts";
import type { RedisTokenStore } from "./token-store-redis.ts";

/** Each test uses its own key prefix on one loopback Redis (spawned from PATH by getRedis). */
let url: string;
let admin: Redis;
const opened: RedisTokenStore[] = [];
let n = 0;
const prefix = () => `portside-test-${process.pid}-${Date.now()}-${++n}`;
/** A store on its own connection, as each replica has. */
function store(p: string, clock?: () => number): RedisTokenStore {
  const s = createRedisTokenStore({ url, prefix: p, ...(clock ? { clock } : {}) });
  opened.push(s);
  return s;
}

beforeAll(async () => {
  url = (await getRedis()).url;
  admin = new Redis(url);
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await admin.quit();
});

describe("redis token store", () => {
  test("keeps the token under <prefix>:port-token with a TTL equal to its remaining lifetime", async () => {
    const p = prefix();
    const nowMs = Date.now();
    const s = store(p, () => nowMs);
    expect(await s.get()).toBeNull();
    const entry = { token: "tok-abc", expiresAtMs: nowMs + 60_000, refreshAtMs: nowMs + 54_000 };
    await s.put(entry);
    expect(await s.get()).toEqual(entry);
    const ttl = await admin.pttl(`${p}:port-token`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    // Another replica (connection) sees it.
    expect(await store(p).get()).toEqual(entry);
  });

  test("an already expired token is not stored; an unreadable value counts as missing", async () => {
    const p = prefix();
    const s = store(p, () => 1_000);
    await s.put({ token: "old", expiresAtMs: 1_000, refreshAtMs: 900 });
    expect(await admin.exists(`${p}:port-token`)).toBe(0);
    await admin.set(`${p}:port-token`, "not json");
    expect(await s.get()).toBeNull();
    await admin.set(`${p}:port-token`, JSON.stringify({ token: 1 }));
    expect(await s.get()).toBeNull();
  });

  test("the lock is exclusive, expires, and is only released by its owner", async () => {
    const p = prefix();
    const [a, b] = [store(p), store(p)];
    expect(await a!.lock("owner-a", 10_000)).toBe(true);
    expect(await b!.lock("owner-b", 10_000)).toBe(false);
    expect(await admin.get(`${p}:port-token-lock`)).toBe("owner-a");
    const ttl = await admin.pttl(`${p}:port-token-lock`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10_000);
    await b!.unlock("owner-b"); // not b's
    expect(await b!.lock("owner-b", 10_000)).toBe(false);
    await a!.unlock("owner-a");
    expect(await b!.lock("owner-b", 10_000)).toBe(true);
    await b!.unlock("owner-b");
  });

  test("a dead holder's lock expires and a waiting replica then refreshes", async () => {
    const p = prefix();
    const s = store(p);
    expect(await s.lock("a-replica-that-died", 150)).toBe(true); // never released
    let fetches = 0;
    const fetchToken = async (): Promise<IssuedToken> => ({ accessToken: `t${++fetches}`, expiresInS: 3600 });
    const cache = createTokenCache({ fetchToken, clock: Date.now, shared: s, pollMs: 10 });
    expect(await cache.get()).toBe("t1");
    expect(fetches).toBe(1);
    expect(await admin.exists(`${p}:port-token-lock`)).toBe(0);
    expect(await store(p).get()).toMatchObject({ token: "t1" });
  });

  test("close() closes a connection the store opened, not a client it was given", async () => {
    const client = new Redis(url);
    const given = createRedisTokenStore({ client, prefix: prefix() });
    await given.close();
    expect(await client.ping()).toBe("PONG");
    await client.quit();
    const own = createRedisTokenStore({ url, prefix: prefix() });
    await own.get();
    await own.close();
    await expect(own.get()).rejects.toThrow();
  });
});

describe("two Port clients (replicas) sharing a Redis token store, against the emulator", () => {
  function replicas(p: string) {
    const emulator = createPortEmulator({});
    declareTestRuns(emulator.state);
    const fetch: FetchFn = (input, init) => Promise.resolve(emulator.app.request(input instanceof Request ? input : String(input), init));
    const clients = [0, 1].map(() =>
      createPortClient({
        baseUrl: "http://port.emulator",
        clientId: "emulator-client-id",
        clientSecret: "emulator-client-secret",
        fetch,
        timeoutMs: 5_000,
        retry: testRetryPolicy,
        tokenStore: store(p),
      }),
    );
    return { clients, state: emulator.state };
  }

  test("many concurrent calls from both: the token endpoint is hit once and no call sees a 401", async () => {
    const { clients, state } = replicas(prefix());
    await Promise.all(clients.flatMap((client, r) => Array.from({ length: 100 }, (_, i) => client.patchRun(`r_${r}_${i}`, { status: "SUCCESS" }))));
    expect(state.count("token")).toBe(1);
    expect(state.calls.filter((c) => c.status === 401)).toHaveLength(0);
    expect(state.count("patchRun")).toBe(200);
  });

  test("a revoked token is refreshed once for both replicas", async () => {
    const { clients, state } = replicas(prefix());
    await Promise.all(clients.map((client, r) => client.getRun(`r_${r}`)));
    state.revokeTokens();
    await Promise.all(clients.flatMap((client, r) => Array.from({ length: 20 }, (_, i) => client.patchRun(`r_${r}_${i}`, { status: "SUCCESS" }))));
    expect(state.count("token")).toBe(2);
    expect(state.calls.filter((c) => c.endpoint === "patchRun" && c.status === 200)).toHaveLength(40);
  });
});

/** The runs these tests report on exist at Port (the emulator answers 404 for others, as Port does). */
function declareTestRuns(state: PortEmulatorState): void {
  const ids = [0, 1].flatMap((r) => [`r_${r}`, ...Array.from({ length: 100 }, (_, i) => [`r_${r}_${i}`, `r_more_${r}_${i}`]).flat()]);
  for (const id of [...ids, ...Array.from({ length: 10 }, (_, i) => `r_${i}`)]) state.declareRun(id);
}
