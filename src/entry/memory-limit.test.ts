import { describe, expect, test } from "bun:test";
import { createLogger } from "../log.ts";
import { createMemoryLimit } from "./memory-limit.ts";

const MB = 1024 * 1024;

/** A governor over a fake process: `resident` is what it reads, each collection takes `collectMs` and frees `frees`. */
function setup(opts: { limitMb: number; residentMb: number; collectMs?: number; freesMb?: number }) {
  let now = 1_000;
  let resident = opts.residentMb * MB;
  const lines: string[] = [];
  const limit = createMemoryLimit({
    limitBytes: opts.limitMb * MB,
    residentBytes: () => resident,
    collect: () => {
      now += opts.collectMs ?? 10;
      resident -= (opts.freesMb ?? 0) * MB;
    },
    logger: createLogger({ level: "debug", sink: (line) => lines.push(line) }),
    clock: () => now,
    intervalMs: 250,
  });
  limit.stop(); // driven by hand below
  return {
    limit,
    lines,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe("the soft memory limit", () => {
  test("below the limit nothing is collected", () => {
    const { limit, advance } = setup({ limitMb: 128, residentMb: 100 });
    for (let i = 0; i < 20; i++) {
      limit.check();
      advance(250);
    }
    expect(limit.stats().collections).toBe(0);
  });

  test("above it, one full collection; below again, none", () => {
    const { limit, advance, lines } = setup({ limitMb: 128, residentMb: 180, freesMb: 70 });
    limit.check();
    expect(limit.stats()).toEqual({ collections: 1, collectMs: 10 });
    advance(250);
    limit.check();
    expect(limit.stats().collections).toBe(1);
    // It came back under the limit: nothing to say.
    expect(lines.filter((l) => l.includes("memory.over_limit"))).toEqual([]);
  });

  test("collections take at most a quarter of the time, however far above the limit the live data stays", () => {
    const { limit, advance } = setup({ limitMb: 128, residentMb: 300, collectMs: 80 });
    // 10 s of checks every 50 ms; each collection takes 80 ms, so the next waits 320 ms from its start.
    for (let t = 0; t < 10_000; t += 50) {
      limit.check();
      advance(50);
    }
    const { collections, collectMs } = limit.stats();
    expect(collections).toBeGreaterThan(20);
    // The wall time is the 10 s of checks plus the collections themselves.
    expect(collectMs / (10_000 + collectMs)).toBeLessThanOrEqual(0.25);
  });

  test("live data above the limit is logged once a minute, saying to raise MEMORY_LIMIT_MB", () => {
    const { limit, advance, lines } = setup({ limitMb: 128, residentMb: 300 });
    for (let t = 0; t < 125_000; t += 250) {
      limit.check();
      advance(250);
    }
    const over = lines.filter((l) => l.includes("memory.over_limit"));
    expect(over).toHaveLength(3); // at 0, ~60 s and ~120 s
    const first = JSON.parse(over[0] ?? "{}") as Record<string, unknown>;
    expect(first).toMatchObject({ level: "warn", residentMb: 300, limitMb: 128 });
    expect(String(first.message)).toContain("raise MEMORY_LIMIT_MB");
  });
});
