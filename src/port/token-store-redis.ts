import { type RedisSource, redisOf } from "../shared/redis.ts";
import type { Clock } from "../shared/time.ts";
import type { SharedTokenEntry, SharedTokenStore } from "./token.ts";

export type RedisTokenStoreOptions = RedisSource & {
  /** Keys are `<prefix>:port-token` and `<prefix>:port-token-lock` (default prefix `portside`, as the ledger's). */
  prefix?: string;
  /** Used to turn the token's expiry (epoch ms) into its Redis TTL. */
  clock?: Clock;
};

export interface RedisTokenStore extends SharedTokenStore {
  /** Closes the connection when the store opened it (`url`); a passed `client` is the caller's to close. */
  close(): Promise<void>;
}

/** Deletes the lock only while it still names its owner, so an expired holder never frees a successor's lock. */
const UNLOCK = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

/**
 * The Port access token shared by the replicas of one deployment, kept in Redis so that one replica's token
 * fetch serves all of them: the token endpoint counts against the organisation's rate budget, and Port keeps
 * one active token per credential pair (it answers the active token again to a second request; under its
 * older documented rule a second request revoked the first, and sharing protects against that too). The
 * token lives under `<prefix>:port-token` with a TTL equal to its remaining lifetime; the refresh lock is
 * `SET <prefix>:port-token-lock <owner> NX PX <ttl>`, released by compare-and-delete.
 *
 * SECURITY: the token is a secret (it acts for the Port credentials until it expires). It is kept in the
 * same Redis that holds the ledger, which portside already treats as trusted infrastructure: restrict access
 * to it (network, AUTH/ACL, TLS with rediss://) as for the ledger. portside never logs the token.
 */
export function createRedisTokenStore(opts: RedisTokenStoreOptions): RedisTokenStore {
  const { redis, owned } = redisOf(opts, { maxRetriesPerRequest: 2 });
  const prefix = opts.prefix ?? "portside";
  const tokenKey = `${prefix}:port-token`;
  const lockKey = `${prefix}:port-token-lock`;
  const clock = opts.clock ?? Date.now;
  let closed = false;

  return {
    async get() {
      const raw = await redis.get(tokenKey);
      return raw === null ? null : parseEntry(raw);
    },
    async put(entry) {
      const ttlMs = Math.floor(entry.expiresAtMs - clock());
      if (ttlMs <= 0) return;
      const value: SharedTokenEntry = { token: entry.token, expiresAtMs: entry.expiresAtMs, refreshAtMs: entry.refreshAtMs };
      await redis.set(tokenKey, JSON.stringify(value), "PX", ttlMs);
    },
    async lock(owner, ttlMs) {
      return (await redis.set(lockKey, owner, "PX", Math.max(1, Math.floor(ttlMs)), "NX")) === "OK";
    },
    async unlock(owner) {
      await redis.eval(UNLOCK, 1, lockKey, owner);
    },
    async close() {
      if (closed || !owned) return;
      closed = true;
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** A stored entry, or null when it is not one (written by something else: treated as missing). */
function parseEntry(raw: string): SharedTokenEntry | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const { token, expiresAtMs, refreshAtMs } = value as Record<string, unknown>;
  if (typeof token !== "string" || token === "" || typeof expiresAtMs !== "number" || typeof refreshAtMs !== "number") return null;
  return { token, expiresAtMs, refreshAtMs };
}
