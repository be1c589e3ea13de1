import { describe, expect, test } from "bun:test";
import { createPortRateLimiter, type Permit, type PortRateLimiter, RateLimitWait, type RateLimiterOptions } from "./rate-limit.ts";
import { createMemoryRateStore, type RateStore } from "./rate-store.ts";

const T0 = 1_700_000_000_000;

/**
 * A fake clock shared by every limiter of a test. A limiter's sleep moves the clock to where that sleep
 * ends (never back), after letting other work run, so waits cost no wall time and their lengths are recorded.
 */
function timeline() {
  let nowMs = T0;
  const sleeps: number[] = [];
  return {
    clock: () => nowMs,
    now: () => nowMs,
    sleeps,
    advance: (ms: number) => (nowMs += ms),
    sleep: async (ms: number) => {
      const until = nowMs + ms;
      sleeps.push(ms);
      await new Promise((r) => setTimeout(r, 0));
      nowMs = Math.max(nowMs, until);
    },
  };
}

function limiter(t: ReturnType<typeof timeline>, opts: RateLimiterOptions = {}): PortRateLimiter {
  return createPortRateLimiter({ clock: t.clock, sleep: t.sleep, pollMs: 50, ...opts });
}

const headers = (h: Record<string, string | number>) => new Headers(Object.entries(h).map(([k, v]): [string, string] => [k, String(v)]));
/** Port's budget headers: `remaining` of `limit` left, resetting `resetInS` seconds from `nowMs` (as epoch seconds). */
const budget = (nowMs: number, limit: number, remaining: number, resetInS: number) =>
  headers({
    "x-ratelimit-limit": limit,
    "x-ratelimit-remaining": remaining,
    "x-ratelimit-reset": Math.floor(nowMs / 1000) + resetInS,
    "x-ratelimit-period": 300,
  });
const refused = (retryAfterS?: number) => headers(retryAfterS === undefined ? {} : { "retry-after": retryAfterS });

/** Acquires and records when (on the fake clock) and in which order each permit was granted. */
function recorder(t: ReturnType<typeof timeline>) {
  const granted: { name: string; atMs: number; permit: Permit }[] = [];
  const rejected: { name: string; error: unknown }[] = [];
  const take = (l: PortRateLimiter, name: string, priority: "status" | "normal" = "normal", maxWaitMs = 60_000) =>
    l.acquire({ priority, maxWaitMs }).then(
      (permit) => void granted.push({ name, atMs: t.now() - T0, permit }),
      (error: unknown) => void rejected.push({ name, error }),
    );
  const permit = (name: string) => granted.find((g) => g.name === name)?.permit as Permit;
  return { granted, rejected, take, permit, names: () => granted.map((g) => g.name) };
}

const settle = async (rounds = 20) => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setTimeout(r, 0));
};

describe("rate limiter: pacing from the budget headers", () => {
  test("with plenty left, calls go at once, without waiting", async () => {
    const t = timeline();
    const l = limiter(t);
    const first = await l.acquire({ priority: "normal", maxWaitMs: 0 });
    first.answered(200, budget(t.now(), 1_000, 900, 60));
    for (let i = 0; i < 50; i++) (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(200, budget(t.now(), 1_000, 899 - i, 60));
    expect(t.sleeps).toEqual([]);
  });

  test("once it is short, what is left is spread to the reset, the statuses' reserve kept", async () => {
    const t = timeline();
    const l = limiter(t);
    const resetAtS = Math.floor(T0 / 1000) + 10;
    const answer = (permit: Permit, remaining: number) =>
      permit.answered(200, headers({ "x-ratelimit-limit": 100, "x-ratelimit-remaining": remaining, "x-ratelimit-reset": resetAtS }));
    answer(await l.acquire({ priority: "normal", maxWaitMs: 0 }), 10);
    // 10 left of 100, 5 (5%) kept for statuses: the other 5 are spread over the 10 s to the reset.
    const times: number[] = [];
    for (let remaining = 9; remaining >= 4; remaining--) {
      const permit = await l.acquire({ priority: "normal", maxWaitMs: 60_000 });
      times.push(t.now() - T0);
      answer(permit, remaining);
    }
    const inWindow = times.filter((ms) => ms < 10_000);
    expect(inWindow).toHaveLength(5);
    expect(inWindow[0]).toBe(0);
    for (let i = 1; i < inWindow.length; i++) expect(inWindow[i]! - inWindow[i - 1]!).toBeGreaterThanOrEqual(2_000);
    expect(times[5]).toBe(10_000); // the sixth waits for the reset
  });

  test("seconds-from-now resets pace the same way", async () => {
    const t = timeline();
    const l = limiter(t);
    (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(
      200,
      headers({ "x-ratelimit-limit": 100, "x-ratelimit-remaining": 10, "x-ratelimit-reset": 10, "x-ratelimit-period": 300 }),
    );
    const r = recorder(t);
    await Promise.all([r.take(l, "a"), r.take(l, "b")]);
    expect(r.granted.map((g) => g.atMs)).toEqual([0, 2_000]);
  });

  test("at the statuses' reserve, normal calls wait for the reset (or are turned away) while statuses still go", async () => {
    const t = timeline();
    const l = limiter(t);
    (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(200, budget(t.now(), 100, 5, 10));
    const r = recorder(t);
    await Promise.all([r.take(l, "log", "normal", 1_000), r.take(l, "status", "status", 60_000)]);
    expect(r.names()).toEqual(["status"]);
    expect(r.rejected[0]?.name).toBe("log");
    expect(r.rejected[0]?.error).toBeInstanceOf(RateLimitWait);
    expect((r.rejected[0]?.error as RateLimitWait | undefined)?.retryAfterMs).toBe(10_000);
  });

  test("after the window resets, calls are free again", async () => {
    const t = timeline();
    const l = limiter(t);
    (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(200, budget(t.now(), 100, 1, 5));
    t.advance(5_000);
    await l.acquire({ priority: "normal", maxWaitMs: 0 });
    expect(t.sleeps).toEqual([]);
  });
});

describe("rate limiter: 429", () => {
  test("pauses every call until Retry-After; then one probe, and the rest only after its answer, statuses first", async () => {
    const t = timeline();
    const l = limiter(t);
    const first = await l.acquire({ priority: "normal", maxWaitMs: 0 });
    first.answered(429, refused(5));
    expect(l.snapshot()).toMatchObject({ pausedUntilMs: T0 + 5_000, needProbe: true });
    const r = recorder(t);
    const all = Promise.all([r.take(l, "log-1"), r.take(l, "log-2"), r.take(l, "status", "status")]);
    await settle();
    expect(r.granted.map((g) => `${g.name}@${g.atMs}`)).toEqual(["status@5000"]);
    await settle();
    expect(r.names()).toEqual(["status"]); // the probe is out: nothing else goes
    r.permit("status").answered(200, new Headers());
    await all;
    expect(r.names()).toEqual(["status", "log-1", "log-2"]);
    expect(l.snapshot()).toMatchObject({ needProbe: false });
  });

  test("a probe refused again pauses again; without a Retry-After the pause doubles each time", async () => {
    const t = timeline();
    const l = limiter(t, { pauseBaseMs: 1_000 });
    (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(429, refused());
    expect(l.snapshot().pausedUntilMs).toBe(T0 + 1_000);
    const probes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const probe = await l.acquire({ priority: "normal", maxWaitMs: 60_000 });
      probes.push(t.now() - T0);
      probe.answered(429, refused());
    }
    expect(probes).toEqual([1_000, 3_000, 7_000]);
    expect(l.snapshot().pausedUntilMs).toBe(T0 + 15_000);
  });

  test("a call that would wait longer than it may is turned away at once, told when to come back", async () => {
    const t = timeline();
    const l = limiter(t);
    (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(429, refused(30));
    const error = await l.acquire({ priority: "status", maxWaitMs: 10_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitWait);
    expect((error as RateLimitWait).retryAfterMs).toBe(30_000);
    expect(t.sleeps).toEqual([]);
  });

  test("a probe that gets no answer is given back: the next call probes", async () => {
    const t = timeline();
    const l = limiter(t);
    (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(429, refused(1));
    const probe = await l.acquire({ priority: "normal", maxWaitMs: 60_000 });
    const r = recorder(t);
    const next = r.take(l, "next");
    await settle();
    expect(r.names()).toEqual([]);
    probe.failed();
    await next;
    expect(r.names()).toEqual(["next"]);
    expect(l.snapshot().needProbe).toBe(true); // still a probe: nothing was answered yet
  });
});

describe("rate limiter: one call first when what it knows is stale", () => {
  const plenty = (t: ReturnType<typeof timeline>) => budget(t.now(), 1_000, 900, 60);

  test("after a quiet spell one call goes; the others wait for its answer, then go together", async () => {
    const t = timeline();
    const l = limiter(t);
    (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(200, plenty(t));
    t.advance(1_500);
    const r = recorder(t);
    const all = Promise.all([r.take(l, "a"), r.take(l, "b"), r.take(l, "c")]);
    for (let i = 0; i < 5; i++) await settle();
    expect(r.names()).toEqual(["a"]);
    r.permit("a").answered(200, plenty(t));
    await all;
    expect(r.names()).toEqual(["a", "b", "c"]);
  });

  test("when that first call meets a 429, the others wait out the pause and one probes", async () => {
    const t = timeline();
    const l = limiter(t);
    const r = recorder(t);
    const all = Promise.all([r.take(l, "a"), r.take(l, "b"), r.take(l, "c")]);
    await settle();
    expect(r.names()).toEqual(["a"]); // a new limiter knows nothing yet
    const refusedAt = t.now() - T0;
    r.permit("a").answered(429, refused(1));
    for (let i = 0; i < 10; i++) await settle();
    expect(r.names()).toEqual(["a", "b"]);
    expect(r.granted[1]?.atMs).toBeGreaterThanOrEqual(refusedAt + 1_000);
    r.permit("b").answered(200, plenty(t));
    await all;
    expect(r.names()).toEqual(["a", "b", "c"]);
  });

  test("while calls keep being answered, nothing waits", async () => {
    const t = timeline();
    const l = limiter(t);
    (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(200, plenty(t));
    t.advance(500);
    const permits = await Promise.all([0, 1, 2].map(() => l.acquire({ priority: "normal", maxWaitMs: 0 })));
    expect(permits).toHaveLength(3);
    expect(t.sleeps).toEqual([]);
  });

  test("a call that may not wait for the first one's answer goes at its deadline; it is not turned away", async () => {
    const t = timeline();
    const l = limiter(t);
    const first = await l.acquire({ priority: "normal", maxWaitMs: 0 });
    const second = await l.acquire({ priority: "normal", maxWaitMs: 20 });
    expect(t.now() - T0).toBe(20);
    first.answered(200, plenty(t));
    second.answered(200, plenty(t));
  });

  test("when the budget's own hold ends at its reset, one call goes first and the others wait for its answer", async () => {
    const t = timeline();
    const l = limiter(t);
    (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(200, budget(t.now(), 100, 0, 5));
    const r = recorder(t);
    const all = Promise.all([r.take(l, "a"), r.take(l, "b"), r.take(l, "c")]);
    for (let i = 0; i < 20; i++) await settle();
    expect(r.granted.map((g) => `${g.name}@${g.atMs}`)).toEqual(["a@5000"]);
    r.permit("a").answered(200, budget(t.now(), 100, 99, 300));
    await all;
    expect(r.names()).toEqual(["a", "b", "c"]);
  });
});

describe("rate limiter: replicas sharing a store", () => {
  function replicas(store: RateStore = createMemoryRateStore()) {
    const t = timeline();
    return { t, a: limiter(t, { store, syncMs: 0 }), b: limiter(t, { store, syncMs: 0 }) };
  }

  test("a 429 seen by one pauses the other; only one of them probes", async () => {
    const { t, a, b } = replicas();
    (await a.acquire({ priority: "normal", maxWaitMs: 0 })).answered(429, refused(5));
    await settle();
    const r = recorder(t);
    await b.acquire({ priority: "normal", maxWaitMs: 0 }).catch(() => undefined); // reads the shared pause
    await settle();
    expect(b.snapshot()).toMatchObject({ pausedUntilMs: T0 + 5_000, needProbe: true });
    const all = Promise.all([r.take(a, "a1"), r.take(a, "a2"), r.take(b, "b1"), r.take(b, "b2")]);
    for (let i = 0; i < 10; i++) await settle();
    expect(r.granted).toHaveLength(1); // one probe between the two
    r.granted[0]?.permit.answered(200, new Headers());
    await all;
    expect(r.granted).toHaveLength(4);
  });

  test("a replica that was just told all is well still holds its next call once another meets a 429", async () => {
    const store = createMemoryRateStore();
    const t = timeline();
    const [a, b] = [limiter(t, { store }), limiter(t, { store })];
    (await b.acquire({ priority: "normal", maxWaitMs: 0 })).answered(200, budget(t.now(), 1_000, 900, 60));
    (await a.acquire({ priority: "normal", maxWaitMs: 0 })).answered(429, refused(5));
    await settle();
    const r = recorder(t);
    await Promise.all([r.take(b, "b1", "normal", 0), r.take(b, "b2", "status", 0)]);
    expect(r.names()).toEqual([]);
    expect(r.rejected.map((x) => (x.error as RateLimitWait).retryAfterMs)).toEqual([5_000, 5_000]);
  });

  test("a probe lock taken just after another replica's probe met a 429 does not probe into the pause it moved", async () => {
    const t = timeline();
    const shared = createMemoryRateStore({ clock: t.clock });
    await shared.pause(T0 + 1_000);
    // The other replica's probe is refused at the moment this one takes the lock: it moved the pause on
    // and released the lock, after this replica had last read the pause.
    const store: RateStore = {
      ...shared,
      tryProbe: async (owner, ttlMs) => {
        await shared.pause(T0 + 2_000);
        return shared.tryProbe(owner, ttlMs);
      },
    };
    const l = limiter(t, { store });
    const r = recorder(t);
    await r.take(l, "probe");
    expect(r.granted.map((g) => g.atMs)).toEqual([2_000]);
  });

  test("paced calls of both take turns on one timeline", async () => {
    const { t, a, b } = replicas();
    for (const l of [a, b]) (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(200, budget(t.now(), 100, 10, 10));
    const r = recorder(t);
    await Promise.all([r.take(a, "a1"), r.take(b, "b1"), r.take(a, "a2"), r.take(b, "b2")]);
    // One budget between the two replicas: their calls are spaced on one timeline, not each on its own.
    const times = r.granted.map((g) => g.atMs).sort((x, y) => x - y);
    expect(times[0]).toBe(0);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(2_000);
  });

  test("a store that fails is logged and the limiter goes on alone", async () => {
    const t = timeline();
    const lines: string[] = [];
    const broken: RateStore = {
      pausedUntil: () => Promise.reject(new Error("redis down")),
      pause: () => Promise.reject(new Error("redis down")),
      resume: () => Promise.reject(new Error("redis down")),
      tryProbe: () => Promise.reject(new Error("redis down")),
      releaseProbe: () => Promise.reject(new Error("redis down")),
      takeSlot: () => Promise.reject(new Error("redis down")),
    };
    const record = (event: string) => void lines.push(event);
    const l = limiter(t, { store: broken, syncMs: 0, logger: { debug: record, info: record, warn: record, error: record } });
    (await l.acquire({ priority: "normal", maxWaitMs: 0 })).answered(429, refused(2));
    const probe = await l.acquire({ priority: "normal", maxWaitMs: 60_000 });
    expect(t.now() - T0).toBe(2_000);
    probe.answered(200, new Headers());
    await settle();
    await l.acquire({ priority: "normal", maxWaitMs: 0 });
    expect(lines).toContain("port.rate.store_failed");
  });
});
