import { describe, expect, test } from "bun:test";
import { createTokenCache } from "./token.ts";
import type { IssuedToken } from "./token.ts";

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
