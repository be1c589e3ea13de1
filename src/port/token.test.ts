import { describe, expect, test } from "bun:test";
import { createPortEmulator } from "../emulator/port-emulator.ts";
import type { PortEmulatorState } from "../emulator/port-emulator.ts";
import { createPortClient } from "./client.ts";
import type { PortLogger } from "./deps.ts";
import type { FetchFn } from "./http.ts";
import { testRetryPolicy } from "../shared/retry.ts";
import { createMemoryTokenStore, createTokenCache } from "./token.ts";
import type { IssuedToken, SharedTokenStore } from "./token.ts";

function setup(expiresInS = 3 * 3600) {
  let nowMs = 0;
  let issued = 0;
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  let failNext = false;
  const fetchToken = async (): Promise<IssuedToken> => {
    issued++;
    const n = issued;
    if (gate) await gate;
    if (failNext) {
      failNext = false;
      throw new Error("token endpoint down");
    }
    return { accessToken: `t${n}`, expiresInS };
  };
  const cache = createTokenCache({ fetchToken, clock: () => nowMs });
  return {
    cache,
    issued: () => issued,
    advance: (ms: number) => (nowMs += ms),
    hold: () => (gate = new Promise((r) => (release = r))),
    release: () => {
      gate = undefined;
      release?.();
    },
    failNext: () => (failNext = true),
  };
}

describe("token cache", () => {
  test("fetches once and reuses the token", async () => {
    const s = setup();
    expect(await s.cache.get()).toBe("t1");
    expect(await s.cache.get()).toBe("t1");
    expect(s.issued()).toBe(1);
  });

  test("concurrent callers share one refresh", async () => {
    const s = setup();
    s.hold();
    const waiting = Array.from({ length: 20 }, () => s.cache.get());
    s.release();
    expect(new Set(await Promise.all(waiting))).toEqual(new Set(["t1"]));
    expect(s.issued()).toBe(1);
  });

  test("refreshes 5 minutes before expiry for a 3-hour token", async () => {
    const s = setup();
    await s.cache.get();
    s.advance(3 * 3600_000 - 5 * 60_000 - 1);
    expect(await s.cache.get()).toBe("t1");
    s.advance(1);
    expect(await s.cache.get()).toBe("t2");
  });

  test("uses 10% of the lifetime as margin for short-lived tokens", async () => {
    const s = setup(60);
    await s.cache.get();
    s.advance(53_999);
    expect(await s.cache.get()).toBe("t1");
    s.advance(1);
    expect(await s.cache.get()).toBe("t2");
  });

  test("a failed refresh inside the margin falls back to the still-valid token", async () => {
    const s = setup(60);
    await s.cache.get();
    s.advance(55_000);
    s.failNext();
    expect(await s.cache.get()).toBe("t1");
    s.advance(5_000); // expired now
    s.failNext();
    await expect(s.cache.get()).rejects.toThrow("token endpoint down");
  });

  test("invalidate forgets only the rejected token", async () => {
    const s = setup();
    await s.cache.get();
    s.cache.invalidate("stale-token-from-elsewhere");
    expect(await s.cache.get()).toBe("t1");
    s.cache.invalidate("t1");
    expect(await s.cache.get()).toBe("t2");
    expect(s.issued()).toBe(2);
  });
});

// ---- shared store (replicas) ------------------------------------------------------------------------------

/**
 * Several caches ("replicas") sharing one memory store, against a fake token endpoint that keeps one active
 * token under Port's older rule, the strict case for sharing (a new token revokes the previous one):
 * `active()` is the only token it would accept. Sleep advances the injected clock and
 * yields a macrotask, so waiting replicas poll without spending wall time.
 */
function sharedSetup(opts: { expiresInS?: number; replicas?: number; store?: SharedTokenStore } = {}) {
  const expiresInS = opts.expiresInS ?? 3 * 3600;
  let nowMs = 1_700_000_000_000;
  const clock = () => nowMs;
  let issued = 0;
  let active: string | undefined;
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const sleeps: number[] = [];
  const lines: string[] = [];
  const record = (level: string) => (event: string, fields?: Record<string, unknown>) => void lines.push(`${level} ${event} ${JSON.stringify(fields)}`);
  const logger: PortLogger = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
  const fetchToken = async (): Promise<IssuedToken> => {
    issued++;
    const token = `t${issued}`;
    if (gate) await gate;
    active = token; // a new token revokes the previous one
    return { accessToken: token, expiresInS };
  };
  const store = opts.store ?? createMemoryTokenStore({ clock });
  const sleep = async (ms: number) => {
    sleeps.push(ms);
    nowMs += ms;
    await new Promise((r) => setTimeout(r, 0));
  };
  const caches = Array.from({ length: opts.replicas ?? 2 }, () =>
    createTokenCache({ fetchToken, clock, sleep, logger, shared: store, pollMs: 50, lockTtlMs: 10_000 }),
  );
  return {
    caches,
    store,
    lines,
    sleeps,
    now: () => nowMs,
    issued: () => issued,
    active: () => active,
    advance: (ms: number) => (nowMs += ms),
    hold: () => (gate = new Promise((r) => (open = r))),
    release: () => {
      gate = undefined;
      open?.();
    },
  };
}

/** Lets pending promise callbacks and timers run (no wall-time waiting beyond a few macrotasks). */
const settle = () => new Promise((r) => setTimeout(r, 5));

describe("token cache with a shared store", () => {
  test("two replicas with many concurrent callers fetch one token between them", async () => {
    const s = sharedSetup();
    s.hold();
    const waiting = s.caches.flatMap((cache) => Array.from({ length: 20 }, () => cache.get()));
    await settle();
    s.release();
    expect(new Set(await Promise.all(waiting))).toEqual(new Set(["t1"]));
    expect(s.issued()).toBe(1);
    expect(s.active()).toBe("t1");
    // Later calls are served from each replica's own copy.
    expect(await s.caches[0]!.get()).toBe("t1");
    expect(await s.caches[1]!.get()).toBe("t1");
    expect(s.issued()).toBe(1);
  });

  test("a replica starting later takes the shared token instead of fetching (and revoking) its own", async () => {
    const s = sharedSetup({ replicas: 3 });
    expect(await s.caches[0]!.get()).toBe("t1");
    s.advance(60 * 60_000);
    expect(await s.caches[1]!.get()).toBe("t1");
    expect(await s.caches[2]!.get()).toBe("t1");
    expect(s.issued()).toBe(1);
  });

  test("a rejected shared token is refreshed exactly once across the replicas", async () => {
    const s = sharedSetup();
    await s.caches[0]!.get();
    await s.caches[1]!.get();
    s.hold();
    for (const cache of s.caches) cache.invalidate("t1");
    const waiting = s.caches.flatMap((cache) => Array.from({ length: 10 }, () => cache.get()));
    await settle();
    s.release();
    expect(new Set(await Promise.all(waiting))).toEqual(new Set(["t2"]));
    expect(s.issued()).toBe(2);
  });

  test("a replica whose token was replaced elsewhere takes the replacement instead of fetching", async () => {
    const s = sharedSetup();
    await s.caches[0]!.get();
    await s.caches[1]!.get();
    s.caches[0]!.invalidate("t1");
    expect(await s.caches[0]!.get()).toBe("t2");
    // Replica 1 still holds t1, which Port no longer accepts: its 401 leads to the store, not to Port.
    expect(await s.caches[1]!.get()).toBe("t1");
    s.caches[1]!.invalidate("t1");
    expect(await s.caches[1]!.get()).toBe("t2");
    expect(s.issued()).toBe(2);
    expect(s.active()).toBe("t2");
  });

  test("a token due for refresh is refreshed by one replica; the others wait for it and take it", async () => {
    const s = sharedSetup();
    await s.caches[0]!.get();
    await s.caches[1]!.get();
    s.advance(3 * 3600_000 - 5 * 60_000); // the refresh margin of a 3-hour token
    s.hold();
    const waiting = s.caches.flatMap((cache) => Array.from({ length: 10 }, () => cache.get()));
    await settle();
    s.release();
    expect(new Set(await Promise.all(waiting))).toEqual(new Set(["t2"]));
    expect(s.issued()).toBe(2);
  });

  test("a lock whose holder died expires, and the waiting replica then fetches", async () => {
    const s = sharedSetup();
    expect(await s.store.lock("a-replica-that-died", 10_000)).toBe(true);
    const lockedUntil = s.now() + 10_000;
    expect(await s.caches[0]!.get()).toBe("t1");
    expect(s.issued()).toBe(1);
    expect(s.now()).toBeGreaterThanOrEqual(lockedUntil); // injected clock: it waited for the expiry, not less
    expect(s.sleeps.every((ms) => ms === 50)).toBe(true);
    // The lock was released after the refresh.
    expect(await s.store.lock("next", 10_000)).toBe(true);
  });

  test("a failed fetch releases the lock, and the next caller (here another replica) tries again", async () => {
    let n = 0;
    let nowMs = 0;
    const clock = () => nowMs;
    const store = createMemoryTokenStore({ clock });
    const fetchToken = async (): Promise<IssuedToken> => {
      n++;
      if (n === 1) throw new Error("token endpoint down");
      return { accessToken: `t${n}`, expiresInS: 3600 };
    };
    const sleep = async (ms: number) => {
      nowMs += ms;
    };
    const [a, b] = [0, 1].map(() => createTokenCache({ fetchToken, clock, shared: store, sleep }));
    await expect(a!.get()).rejects.toThrow("token endpoint down");
    expect(await b!.get()).toBe("t2");
    expect(await a!.get()).toBe("t2");
    expect(n).toBe(2);
  });

  test("waiting longer than maxWaitMs for other replicas' refreshes, a replica fetches on its own", async () => {
    let nowMs = 0;
    const inner = createMemoryTokenStore({ clock: () => nowMs });
    const busy: SharedTokenStore = { ...inner, lock: async () => false }; // someone always holds the lock
    let n = 0;
    const cache = createTokenCache({
      fetchToken: async () => ({ accessToken: `t${++n}`, expiresInS: 3600 }),
      clock: () => nowMs,
      shared: busy,
      lockTtlMs: 1_000,
      sleep: async (ms) => {
        nowMs += ms;
      },
    });
    expect(await cache.get()).toBe("t1");
    expect(nowMs).toBe(2_000); // default maxWaitMs: twice the lock's lifetime, on the injected clock
    expect(await inner.get()).toMatchObject({ token: "t1" }); // and still shares it
  });

  test("a store that fails falls back to a token of this process's own, and never logs the token", async () => {
    const broken: SharedTokenStore = {
      get: () => Promise.reject(new Error("redis unreachable")),
      put: () => Promise.reject(new Error("redis unreachable")),
      lock: () => Promise.reject(new Error("redis unreachable")),
      unlock: () => Promise.reject(new Error("redis unreachable")),
    };
    const s = sharedSetup({ replicas: 1, store: broken });
    expect(await s.caches[0]!.get()).toBe("t1");
    expect(await s.caches[0]!.get()).toBe("t1");
    expect(s.issued()).toBe(1);
    expect(s.lines.some((l) => l.includes("port.token.store_failed") && l.includes("redis unreachable"))).toBe(true);
    expect(s.lines.join("\n")).not.toContain('"t1"');
  });

  test("the store keeps a token until it expires and a lock until its time is up", async () => {
    let nowMs = 0;
    const store = createMemoryTokenStore({ clock: () => nowMs });
    await store.put({ token: "x", expiresAtMs: 1_000, refreshAtMs: 900 });
    expect(await store.get()).toEqual({ token: "x", expiresAtMs: 1_000, refreshAtMs: 900 });
    expect(await store.lock("a", 100)).toBe(true);
    expect(await store.lock("b", 100)).toBe(false);
    await store.unlock("b"); // not b's lock
    expect(await store.lock("b", 100)).toBe(false);
    nowMs = 100;
    expect(await store.lock("b", 100)).toBe(true);
    await store.unlock("a"); // a's lock expired; b's stays
    expect(await store.lock("c", 100)).toBe(false);
    nowMs = 1_000;
    expect(await store.get()).toBeNull();
  });
});

/**
 * Port's two documented token rules, both one active token per credential pair: "reuse" (its API
 * reference today: a second request answers the active token again) and "replace" (older documentation:
 * a second request revokes the first). Sharing must work under both.
 */
const TOKEN_RULES = [
  { rule: "reuse", replaceTokens: false },
  { rule: "replace", replaceTokens: true },
] as const;

describe.each(TOKEN_RULES)("port clients sharing a token store, against the emulator (token rule: $rule)", ({ replaceTokens }) => {
  function replicas(opts: { store?: SharedTokenStore | null } = {}) {
    const nowMs = 1_700_000_000_000;
    const clock = () => nowMs;
    const emulator = createPortEmulator({ clock, replaceTokens });
    declareTestRuns(emulator.state);
    const fetch: FetchFn = (input, init) => Promise.resolve(emulator.app.request(input instanceof Request ? input : String(input), init));
    const store = opts.store === null ? undefined : (opts.store ?? createMemoryTokenStore({ clock }));
    const lines: string[] = [];
    const record = (event: string, fields?: Record<string, unknown>) => void lines.push(`${event} ${JSON.stringify(fields)}`);
    const logger: PortLogger = { debug: record, info: record, warn: record, error: record };
    const clients = [0, 1].map(() =>
      createPortClient({
        baseUrl: "https://api.port.emulator",
        clientId: "emulator-client-id",
        clientSecret: "emulator-client-secret",
        fetch,
        timeoutMs: 1_000,
        retry: testRetryPolicy,
        clock,
        sleep: () => new Promise((r) => setTimeout(r, 0)),
        random: () => 0.5,
        logger,
        ...(store ? { tokenStore: store } : {}),
      }),
    );
    return { clients, state: emulator.state, lines };
  }
  const unauthorised = (state: PortEmulatorState) => state.calls.filter((c) => c.status === 401).length;

  test("many concurrent calls from two replicas: one token fetch, no 401", async () => {
    const { clients, state, lines } = replicas();
    await Promise.all(clients.flatMap((client, r) => Array.from({ length: 50 }, (_, i) => client.patchRun(`r_${r}_${i}`, { status: "SUCCESS" }))));
    await Promise.all(clients.flatMap((client, r) => Array.from({ length: 50 }, (_, i) => client.postLog(`r_more_${r}_${i}`, { message: "x" }))));
    expect(state.count("token")).toBe(1);
    expect(unauthorised(state)).toBe(0);
    expect(state.count("patchRun")).toBe(100);
    const token = [...state.tokens.keys()][0] ?? "missing";
    expect(lines.join("\n")).not.toContain(token);
  });

  test("a token Port revoked (e.g. fetched by someone else) is replaced once for both replicas", async () => {
    const { clients, state } = replicas();
    await Promise.all(clients.map((client, r) => client.getRun(`r_${r}`)));
    expect(state.count("token")).toBe(1);
    state.revokeTokens();
    await Promise.all(clients.flatMap((client, r) => Array.from({ length: 20 }, (_, i) => client.patchRun(`r_${r}_${i}`, { status: "SUCCESS" }))));
    expect(state.count("token")).toBe(2);
    // Only calls already sent with the revoked token see a 401, each retried once with the new token.
    expect(state.calls.filter((c) => c.endpoint === "patchRun" && c.status === 200)).toHaveLength(40);
    expect(unauthorised(state)).toBeLessThanOrEqual(40);
  });

  test("without a store, each replica fetches its own token (and under the replace rule they revoke each other's)", async () => {
    const { clients, state } = replicas({ store: null });
    for (let i = 0; i < 4; i++) await clients[i % 2]!.patchRun(`r_${i}`, { status: "SUCCESS" });
    if (replaceTokens) {
      // A fetches t1, B fetches t2 (revoking t1), A gets a 401 and fetches t3, B gets a 401 and fetches t4.
      expect(state.count("token")).toBe(4);
      expect(unauthorised(state)).toBe(2);
    } else {
      // A fetches t1, B asks too and gets t1 back: no 401, but a token call the store would have saved.
      expect(state.count("token")).toBe(2);
      expect(unauthorised(state)).toBe(0);
      expect(state.tokens.size).toBe(1);
    }
  });
});

describe("port client against Port's active token reuse", () => {
  test("a refresh that gets the held token back keeps it until it expires instead of asking again and again", async () => {
    let nowMs = 1_700_000_000_000;
    const clock = () => nowMs;
    const emulator = createPortEmulator({ clock, tokenLifetimeS: 60 });
    declareTestRuns(emulator.state);
    const client = createPortClient({
      baseUrl: "https://api.port.emulator",
      clientId: "emulator-client-id",
      clientSecret: "emulator-client-secret",
      fetch: (input, init) => Promise.resolve(emulator.app.request(input instanceof Request ? input : String(input), init)),
      timeoutMs: 1_000,
      retry: testRetryPolicy,
      clock,
    });
    const tokenCalls = () => emulator.state.count("token");
    await client.getRun("r_0");
    nowMs += 55_000; // inside the 10% margin: refresh, and Port answers the same token with 5 s left
    await client.getRun("r_0");
    expect(tokenCalls()).toBe(2);
    expect(emulator.state.tokens.size).toBe(1);
    // Up to its expiry the held token serves every call: no token request for each call near the end.
    for (let t = 0; t < 49; t++) {
      nowMs += 100;
      await client.getRun("r_0");
    }
    expect(tokenCalls()).toBe(2);
    nowMs += 100; // 60 s: expired; the next call gets a new token
    await client.getRun("r_0");
    expect(tokenCalls()).toBe(3);
    expect(emulator.state.calls.filter((c) => c.status === 401)).toEqual([]);
  });
});

/** The runs these tests report on exist at Port (the emulator answers 404 for others, as Port does). */
function declareTestRuns(state: PortEmulatorState): void {
  const ids = [0, 1].flatMap((r) => [`r_${r}`, ...Array.from({ length: 100 }, (_, i) => [`r_${r}_${i}`, `r_more_${r}_${i}`]).flat()]);
  for (const id of [...ids, ...Array.from({ length: 10 }, (_, i) => `r_${i}`)]) state.declareRun(id);
}
