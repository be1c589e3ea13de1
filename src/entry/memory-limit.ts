import type { Logger } from "../log.ts";

/**
 * A soft memory limit (MEMORY_LIMIT_MB), in the spirit of Go's GOMEMLIMIT. Under a burst most of
 * portside's resident memory is garbage the collector has not reached yet: Kafka fetch buffers, request
 * bodies and record texts live outside the JavaScript heap, so the heap alone does not tell the collector
 * to hurry, and the resident size grows by tens of megabytes of dead buffers (test/bench/NOTES.md, 4d).
 *
 * Every `intervalMs` (200) the resident size is read; above the limit, one full collection runs.
 * Collections are spaced so that they take at most a quarter of the wall time (a 50 ms collection waits
 * 150 ms more before the next), so live data larger than the limit costs a bounded share of CPU instead
 * of a collection loop (Go allows its collector half); that case is logged once a minute so the limit
 * can be raised. A tenth was tried first: under a burst the collections then came too far apart to hold
 * the limit (test/bench/NOTES.md).
 */
export interface MemoryLimitDeps {
  limitBytes: number;
  /** The process's resident set size in bytes. */
  residentBytes: () => number;
  /** A full, synchronous collection. */
  collect: () => void;
  logger: Logger;
  clock?: () => number;
  intervalMs?: number;
}

export interface MemoryLimitStats {
  collections: number;
  collectMs: number;
}

export interface MemoryLimit {
  /** Checks once (the timer calls this; tests call it directly). */
  check(): void;
  stats(): MemoryLimitStats;
  stop(): void;
}

/** The largest share of wall time collections may take. */
const MAX_COLLECT_SHARE = 0.25;
const STILL_OVER_LOG_MS = 60_000;

export function createMemoryLimit(deps: MemoryLimitDeps): MemoryLimit {
  const clock = deps.clock ?? (() => performance.now());
  const intervalMs = deps.intervalMs ?? 200;
  const stats: MemoryLimitStats = { collections: 0, collectMs: 0 };
  let notBefore = 0;
  let loggedOverAt = Number.NEGATIVE_INFINITY;

  function check(): void {
    const now = clock();
    if (now < notBefore || deps.residentBytes() <= deps.limitBytes) return;
    deps.collect();
    const tookMs = clock() - now;
    stats.collections++;
    stats.collectMs += tookMs;
    notBefore = now + Math.max(intervalMs, tookMs / MAX_COLLECT_SHARE);
    const after = deps.residentBytes();
    if (after > deps.limitBytes && now - loggedOverAt >= STILL_OVER_LOG_MS) {
      loggedOverAt = now;
      deps.logger.warn("memory.over_limit", {
        residentMb: Math.round(after / 1048576),
        limitMb: Math.round(deps.limitBytes / 1048576),
        message:
          "resident memory stays above MEMORY_LIMIT_MB after a collection: the live data needs more. Collections take at most a quarter of the time meanwhile; raise MEMORY_LIMIT_MB (or 0 to turn the limit off).",
      });
    }
  }

  const timer = setInterval(check, intervalMs);
  // Never what keeps the process alive.
  (timer as { unref?: () => void }).unref?.();
  return {
    check,
    stats: () => ({ ...stats }),
    stop: () => clearInterval(timer),
  };
}
