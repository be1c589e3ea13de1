import { describe, expect, test } from "bun:test";
import { backoffMs, canRetry, fitsInProcess, retryDelay, serverDelayMs } from "./retry.ts";
import type { RetryPolicy } from "./retry.ts";

const policy: RetryPolicy = { initialMs: 100, maxMs: 1_000, factor: 2, maxAttempts: 4 };
const NOW_MS = Date.UTC(2026, 2, 1, 10, 0, 0);

describe("backoffMs", () => {
  test("grows exponentially up to the cap (upper bound with random → 1)", () => {
    const top = () => 0.999_999;
    expect([1, 2, 3, 4, 5, 10].map((a) => backoffMs(policy, a, top))).toEqual([99, 199, 399, 799, 999, 999]);
  });

  test("full jitter: anywhere from 0 to the bound", () => {
    expect(backoffMs(policy, 3, () => 0)).toBe(0);
    expect(backoffMs(policy, 3, () => 0.5)).toBe(200);
  });

  test("a misbehaving random source is clamped", () => {
    expect(backoffMs(policy, 1, () => 7)).toBe(100);
    expect(backoffMs(policy, 1, () => -1)).toBe(0);
  });
});

describe("serverDelayMs", () => {
  test("Retry-After in seconds", () => {
    expect(serverDelayMs(new Headers({ "retry-after": "3" }), NOW_MS)).toBe(3_000);
    expect(serverDelayMs(new Headers({ "retry-after": "0.5" }), NOW_MS)).toBe(500);
  });

  test("Retry-After as an HTTP date", () => {
    const at = new Date(NOW_MS + 42_000).toUTCString();
    expect(serverDelayMs(new Headers({ "retry-after": at }), NOW_MS)).toBe(42_000);
    const past = new Date(NOW_MS - 5_000).toUTCString();
    expect(serverDelayMs(new Headers({ "retry-after": past }), NOW_MS)).toBe(0);
  });

  test("x-ratelimit-reset (epoch seconds) when nothing remains", () => {
    const reset = String(NOW_MS / 1000 + 12);
    expect(serverDelayMs(new Headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }), NOW_MS)).toBe(12_000);
    expect(serverDelayMs(new Headers({ "x-ratelimit-remaining": "5", "x-ratelimit-reset": reset }), NOW_MS)).toBeUndefined();
  });

  test("a small x-ratelimit-reset is read as seconds from now", () => {
    expect(serverDelayMs(new Headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": "30" }), NOW_MS)).toBe(30_000);
  });

  test("at most the given bound, however far off the server says", () => {
    expect(serverDelayMs(new Headers({ "retry-after": "315360000" }), NOW_MS, 300_000)).toBe(300_000);
    expect(serverDelayMs(new Headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": "4102444800" }), NOW_MS, 300_000)).toBe(300_000);
    expect(serverDelayMs(new Headers({ "retry-after": "3" }), NOW_MS, 300_000)).toBe(3_000);
    expect(retryDelay(policy, 1, { nowMs: NOW_MS, headers: new Headers({ "retry-after": "315360000" }), maxServerMs: 300_000 }).delayMs).toBe(300_000);
  });

  test("Retry-After wins over rate-limit headers; garbage is ignored", () => {
    const h = new Headers({ "retry-after": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "99" });
    expect(serverDelayMs(h, NOW_MS)).toBe(2_000);
    expect(serverDelayMs(new Headers({ "retry-after": "soon" }), NOW_MS)).toBeUndefined();
    expect(serverDelayMs(new Headers(), NOW_MS)).toBeUndefined();
  });
});

describe("retryDelay", () => {
  test("uses the server's wait when given, else backoff", () => {
    expect(retryDelay(policy, 1, { nowMs: NOW_MS, headers: new Headers({ "retry-after": "5" }) })).toEqual({ delayMs: 5_000, source: "server" });
    expect(retryDelay(policy, 2, { nowMs: NOW_MS, random: () => 0.5 })).toEqual({ delayMs: 100, source: "backoff" });
  });

  test("attempt budget and the in-process limit", () => {
    expect(canRetry(policy, 3)).toBe(true);
    expect(canRetry(policy, 4)).toBe(false);
    expect(fitsInProcess(policy, 1_000)).toBe(true);
    expect(fitsInProcess(policy, 1_001)).toBe(false);
  });
});
