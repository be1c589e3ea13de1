import { describe, expect, test } from "bun:test";
import { readBudget } from "./rate-headers.ts";

const T0 = 1_700_000_000_000;
const headers = (h: Record<string, string | number>) => new Headers(Object.entries(h).map(([k, v]): [string, string] => [k, String(v)]));

describe("Port's budget headers", () => {
  test("x-ratelimit-reset is read as epoch seconds above 1e9, else as seconds from now", () => {
    expect(readBudget(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 3, "x-ratelimit-reset": 1_700_000_030 }), T0)?.resetAtMs).toBe(T0 + 30_000);
    expect(readBudget(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 3, "x-ratelimit-reset": 30 }), T0)?.resetAtMs).toBe(T0 + 30_000);
    expect(readBudget(headers({ "x-ratelimit-limit": 10, "x-ratelimit-remaining": 3 }), T0)).toBeUndefined();
    expect(readBudget(headers({ "x-ratelimit-limit": "x", "x-ratelimit-remaining": 3, "x-ratelimit-reset": 3 }), T0)).toBeUndefined();
  });
});
