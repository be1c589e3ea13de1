import { type RedisSource, redisOf } from "../shared/redis.ts";
import type { RateStore } from "./rate-store.ts";

export type RedisRateStoreOptions = RedisSource & {
  /** Keys are `<prefix>:port-rate-pause`, `-probe` and `-slot` (default prefix `portside`, as the ledger's). */
  prefix?: string;
};

export interface RedisRateStore extends RateStore {
  /** Closes the connection when the store opened it (`url`); a passed `client` is the caller's to close. */
  close(): Promise<void>;
}

/** How long a pause outlives its end when no probe clears it (a replica died mid-probe): then it simply lapses. */
const PAUSE_GRACE_MS = 10 * 60_000;

/** Keeps the later of the stored end and ARGV[1]; the key lapses ARGV[2] ms after the end. */
const PAUSE = `
local current = tonumber(redis.call("GET", KEYS[1]) or "0")
local untilMs = tonumber(ARGV[1])
if untilMs > current then redis.call("SET", KEYS[1], ARGV[1], "PX", math.max(1, untilMs - tonumber(ARGV[3]) + tonumber(ARGV[2]))) end
return 1`;

/** Clears the pause unless it was extended past ARGV[2] (now) since the probe went; releases ARGV[1]'s probe lock. */
const RESUME = `
local current = tonumber(redis.call("GET", KEYS[1]) or "0")
if current <= tonumber(ARGV[2]) then redis.call("DEL", KEYS[1]) end
if redis.call("GET", KEYS[2]) == ARGV[1] then redis.call("DEL", KEYS[2]) end
return 1`;

/** Deletes the probe lock only while it still names its owner. */
const RELEASE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

/** The later of now and the next free slot; the one after it is ARGV[2] ms later. Returned as a string (exact ms). */
const SLOT = `
local slot = math.max(tonumber(ARGV[1]), tonumber(redis.call("GET", KEYS[1]) or "0"))
local nextMs = slot + tonumber(ARGV[2])
redis.call("SET", KEYS[1], string.format("%.0f", nextMs), "PX", math.max(1, math.ceil(nextMs - tonumber(ARGV[1])) + 60000))
return string.format("%.0f", slot)`;

/**
 * The replicas' shared view of Port's rate budget (see rate-store.ts), in the Redis that holds the ledger:
 * the pause end every replica honours, the one probe lock (`SET NX PX`, released by compare-and-delete) and
 * the paced timeline, each changed by one Lua script so concurrent replicas cannot interleave.
 */
export function createRedisRateStore(opts: RedisRateStoreOptions): RedisRateStore {
  const { redis, owned } = redisOf(opts, { maxRetriesPerRequest: 2 });
  const prefix = opts.prefix ?? "portside";
  const pauseKey = `${prefix}:port-rate-pause`;
  const probeKey = `${prefix}:port-rate-probe`;
  const slotKey = `${prefix}:port-rate-slot`;
  let closed = false;

  return {
    async pausedUntil() {
      const raw = await redis.get(pauseKey);
      const value = raw === null ? Number.NaN : Number(raw);
      return Number.isFinite(value) ? value : null;
    },
    async pause(untilMs) {
      await redis.eval(PAUSE, 1, pauseKey, String(Math.ceil(untilMs)), String(PAUSE_GRACE_MS), String(Date.now()));
    },
    async resume(owner, nowMs) {
      await redis.eval(RESUME, 2, pauseKey, probeKey, owner, String(Math.floor(nowMs)));
    },
    async tryProbe(owner, ttlMs) {
      if ((await redis.get(probeKey)) === owner) return true;
      return (await redis.set(probeKey, owner, "PX", Math.max(1, Math.floor(ttlMs)), "NX")) === "OK";
    },
    async releaseProbe(owner) {
      await redis.eval(RELEASE, 1, probeKey, owner);
    },
    async takeSlot(nowMs, intervalMs) {
      return Number(await redis.eval(SLOT, 1, slotKey, String(Math.floor(nowMs)), String(Math.max(0, intervalMs))));
    },
    async close() {
      if (closed || !owned) return;
      closed = true;
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
