import { describe, expect, test } from "bun:test";
import { capWarning, readBudget } from "./rate-headers.ts";

const T0 = 1_700_000_000_000;
const MAX = 300_000;
const headers = (h: Record<string, string | number>) => new Headers(Object.entries(h).map(([k, v]): [string, string] => [k, String(v)]));
/** 2100-01-01T00:00:00Z, epoch seconds. */
const YEAR_2100_S = 4_102_444_800;

describe("Port's budget headers", () => {
  test("x-ratelimit-reset is read as epoch seconds above 1e9, else as seconds from now", () => {
    expect(readBudget(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 3, "x-ratelimit-reset": 1_700_000_030 }), T0, MAX)?.resetAtMs).toBe(
      T0 + 30_000,
    );
    expect(readBudget(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 3, "x-ratelimit-reset": 30 }), T0, MAX)?.resetAtMs).toBe(T0 + 30_000);
    expect(readBudget(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 3 }), T0, MAX)).toBeUndefined();
    expect(readBudget(headers({ "x-ratelimit-limit": "x", "x-ratelimit-remaining": 3, "x-ratelimit-reset": 3 }), T0, MAX)).toBeUndefined();
  });

  test("a reset further off than the bound is taken as the bound", () => {
    expect(readBudget(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 0, "x-ratelimit-reset": YEAR_2100_S }), T0, MAX)?.resetAtMs).toBe(T0 + MAX);
    expect(readBudget(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 0, "x-ratelimit-reset": 315_360_000 }), T0, MAX)?.resetAtMs).toBe(T0 + MAX);
  });
});

describe("a longer wait than portside takes", () => {
  function warnings() {
    const lines: { event: string; fields: Record<string, unknown> | undefined }[] = [];
    const record = (event: string, fields?: Record<string, unknown>) => void lines.push({ event, fields });
    return { lines, logger: { debug: () => {}, info: () => {}, warn: record, error: record } };
  }

  test("is said once, in one line with the numbers only", () => {
    const { lines, logger } = warnings();
    const warn = capWarning(logger, MAX);
    warn(headers({ "retry-after": 315_360_000, "x-ratelimit-remaining": 0, "x-ratelimit-reset": T0 / 1000 + 315_360_000 }), T0);
    warn(headers({ "retry-after": 315_360_000 }), T0 + 1_000);
    warn(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 0, "x-ratelimit-reset": YEAR_2100_S }), T0);
    expect(lines.map((l) => [l.event, l.fields?.askedS, l.fields?.takenS])).toEqual([["port.rate.wait_capped", 315_360_000, 300]]);
  });

  test("a reset in 2100 with nothing remaining is a longer ask too; with some remaining it asks no wait", () => {
    const { lines, logger } = warnings();
    const warn = capWarning(logger, MAX);
    warn(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 5, "x-ratelimit-reset": YEAR_2100_S }), T0);
    expect(lines).toEqual([]);
    warn(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 0, "x-ratelimit-reset": YEAR_2100_S }), T0);
    expect(lines.map((l) => l.fields?.askedS)).toEqual([YEAR_2100_S - T0 / 1000]);
  });

  test("echoes nothing of the header but the number it read", () => {
    const { lines, logger } = warnings();
    const at = new Date(T0 + 3_600_000).toUTCString();
    capWarning(logger, MAX)(headers({ "retry-after": at }), T0);
    expect(lines).toHaveLength(1);
    expect(JSON.stringify(lines)).not.toContain(at);
    expect(lines[0]?.fields?.askedS).toBe(3_600);
  });

  test("waits within the bound are not mentioned", () => {
    const { lines, logger } = warnings();
    const warn = capWarning(logger, MAX);
    warn(headers({ "retry-after": 300, "x-ratelimit-reset": T0 / 1000 + 300 }), T0);
    // A window of Port's own length, its reset rounded up to the second.
    warn(headers({ "x-ratelimit-remaining": 0, "x-ratelimit-reset": Math.ceil((T0 + MAX + 1) / 1000) }), T0 + 1);
    expect(lines).toEqual([]);
  });
});
