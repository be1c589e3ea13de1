/**
 * Where the replicas of one deployment share Port's rate budget: one organisation has one budget, so a 429
 * seen by one replica must pause them all, only one of them may probe when the pause is over, and while the
 * budget is short their paced calls take turns from one timeline. Implementations: `createMemoryRateStore`
 * (one process, and tests standing in for replicas) and `createRedisRateStore` (rate-store-redis.ts).
 * Times are epoch ms: keep replica clocks in sync.
 */
import type { Clock } from "../shared/time.ts";

export interface RateStore {
  /** The pause every replica honours: when it ends (epoch ms), or null when none is set (or it was cleared). */
  pausedUntil(): Promise<number | null>;
  /** Sets the pause to end at `untilMs`, unless it already ends later. */
  pause(untilMs: number): Promise<void>;
  /**
   * The probe after a pause was answered: the pause is cleared (unless it was extended past `nowMs` since)
   * and `owner`'s probe lock released, so every replica goes on.
   */
  resume(owner: string, nowMs: number): Promise<void>;
  /** Takes the right to send the one probe call for `ttlMs`; true when `owner` holds it now. */
  tryProbe(owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the probe lock if `owner` holds it (the probe failed to get an answer, or met another 429). */
  releaseProbe(owner: string): Promise<void>;
  /** Reserves the next paced send time: the later of `nowMs` and the next free slot; the one after is `intervalMs` later. */
  takeSlot(nowMs: number, intervalMs: number): Promise<number>;
}

/** A rate store in memory: for one process, and for tests where several limiters play replicas. */
export function createMemoryRateStore(opts: { clock?: Clock } = {}): RateStore {
  const clock = opts.clock ?? Date.now;
  let pausedUntil: number | null = null;
  let probe: { owner: string; untilMs: number } | null = null;
  let nextSlotMs = 0;
  return {
    async pausedUntil() {
      return pausedUntil;
    },
    async pause(untilMs) {
      pausedUntil = Math.max(pausedUntil ?? 0, untilMs);
    },
    async resume(owner, nowMs) {
      if (pausedUntil !== null && pausedUntil <= nowMs) pausedUntil = null;
      if (probe?.owner === owner) probe = null;
    },
    async tryProbe(owner, ttlMs) {
      if (probe && probe.owner !== owner && clock() < probe.untilMs) return false;
      probe = { owner, untilMs: clock() + ttlMs };
      return true;
    },
    async releaseProbe(owner) {
      if (probe?.owner === owner) probe = null;
    },
    async takeSlot(nowMs, intervalMs) {
      const slot = Math.max(nowMs, nextSlotMs);
      // Whole milliseconds, as the Redis store keeps them.
      nextSlotMs = Math.round(slot + intervalMs);
      return slot;
    },
  };
}
