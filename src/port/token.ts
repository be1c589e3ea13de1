/**
 * One cached Port access token per client. Port keeps one active token per credential pair and its token
 * endpoint counts against the organisation's rate budget, so fetching a token per call (as port-agent does)
 * is wasteful. The cache refreshes shortly before expiry, lets exactly one refresh run at a time (concurrent
 * callers share it), and can be told a token was rejected (401) so the next caller refreshes once.
 *
 * Port's API reference says a token request while a token is active returns that same token ("active token
 * reuse"); it is replaced only once it expires. So a refresh inside the margin may hand back the token we
 * hold, with only its remaining lifetime: asking again before it expires would get it again, so the cache
 * keeps it until its expiry, and the next request after that gets a new one. A token that expires a little
 * early is what the one re-authentication on 401 is for.
 *
 * Replicas: each process has its own cache. Given a `shared` store (Redis in production), the replicas share
 * one token, so the token endpoint is asked once per deployment rather than once per replica (and, under the
 * older documented rule where a new token revoked the active one, no replica revokes another's). A cache that
 * needs a token first reads the store and takes the token found there unless it is missing, inside its
 * refresh margin, or the very token that was just rejected (then another replica has not refreshed yet).
 * Only then does it fetch, under a short lock in the store, so one replica fetches while the others poll the
 * store and take the new token. A lock whose holder died expires by itself. Times in the store are epoch ms:
 * keep replica clocks in sync.
 */
import * as v from "valibot";
import type { PortLogger } from "./deps.ts";
import type { Clock, Sleep } from "../shared/time.ts";
import { PortEvents } from "./deps.ts";
import { silentLogger } from "../log.ts";
import { realSleep } from "../shared/time.ts";
import { describeError } from "../shared/errors.ts";

export interface IssuedToken {
  accessToken: string;
  /** Lifetime as Port states it (`expiresIn`, seconds). */
  expiresInS: number;
}

/**
 * The longest access token taken. Port's are JWTs of about a kilobyte; the token goes out in the header of
 * every call (and into the shared store), so an answer with a longer one is not used.
 */
export const ACCESS_TOKEN_MAX_CHARS = 16 * 1024;

/** What portside reads of the token endpoint's answer (`{ok, accessToken, expiresIn, tokenType}`). */
const TokenAnswerSchema = v.looseObject({
  accessToken: v.pipe(v.string(), v.nonEmpty(), v.maxLength(ACCESS_TOKEN_MAX_CHARS)),
  expiresIn: v.optional(v.unknown()),
});

/** The token in the token endpoint's answer; an Error saying what is wrong (never the answer itself) otherwise. */
export function issuedToken(answer: unknown): IssuedToken {
  const parsed = v.safeParse(TokenAnswerSchema, answer);
  if (!parsed.success) {
    const tooLong = typeof (answer as { accessToken?: unknown } | null)?.accessToken === "string";
    throw new Error(
      tooLong
        ? `Port's token endpoint answered an accessToken longer than ${ACCESS_TOKEN_MAX_CHARS} characters; check PORT_API_URL points at Port's API`
        : "Port's token endpoint answered without an accessToken; check the base URL points at Port's API",
    );
  }
  const { accessToken, expiresIn } = parsed.output;
  return { accessToken, expiresInS: typeof expiresIn === "number" && Number.isFinite(expiresIn) ? expiresIn : 3 * 3600 };
}

export interface TokenCache {
  /** A token valid for a while yet; fetches one only when none is cached or it is about to expire. */
  get(): Promise<string>;
  /** Port rejected `token` (401): forget it so the next `get` refreshes. Ignored if a newer token is cached. */
  invalidate(token: string): void;
}

/** A token as kept in a shared store: the token (a secret) and when to refresh it and when it expires (epoch ms). */
export interface SharedTokenEntry {
  token: string;
  expiresAtMs: number;
  refreshAtMs: number;
}

/**
 * Where replicas keep the one token they share, plus a short lock so only one of them fetches a new one.
 * Implementations: `createRedisTokenStore` (token-store-redis.ts) and `createMemoryTokenStore` (tests).
 */
export interface SharedTokenStore {
  /** The shared token, or null when there is none (or it has expired). */
  get(): Promise<SharedTokenEntry | null>;
  /** Replaces the shared token; the store may drop it once it has expired. */
  put(entry: SharedTokenEntry): Promise<void>;
  /** Takes the refresh lock for `ttlMs` if nobody holds it; true when `owner` now holds it. */
  lock(owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the refresh lock if `owner` still holds it (never someone else's after ours expired). */
  unlock(owner: string): Promise<void>;
}

export interface TokenCacheOptions {
  /** Performs `POST /v1/auth/access_token` (with its own timeout and retries). */
  fetchToken: () => Promise<IssuedToken>;
  clock: Clock;
  /** Refresh this long before expiry at most (default 5 min)… */
  maxMarginMs?: number;
  /** …or this share of the lifetime when that is shorter (default 10%), so short-lived tokens are still used. */
  marginRatio?: number;
  logger?: PortLogger;
  /** Token shared with the other replicas; without it the cache is per process. */
  shared?: SharedTokenStore;
  /** Lifetime of the refresh lock in the shared store (default 10 s): how long others wait for a dead holder. */
  lockTtlMs?: number;
  /** How often a replica waiting for another's refresh looks at the store again (default 50 ms). */
  pollMs?: number;
  /** Waiting longer than this for other replicas' refreshes, a replica fetches on its own (default 2 × lockTtlMs). */
  maxWaitMs?: number;
  /** Used between polls of the shared store (injected by tests). */
  sleep?: Sleep;
}

interface Cached {
  token: string;
  expiresAtMs: number;
  refreshAtMs: number;
}

/** Log events of the shared mode: the store failed (the cache fetches on its own), or waiting for another replica took too long. */
const tokenStoreFailed = "port.token.store_failed";
const tokenWaitExceeded = "port.token.shared_wait_exceeded";
/** How many rejected tokens a cache remembers, so a stale shared token is never taken again. */
const REJECTED_KEPT = 8;

export function createTokenCache(opts: TokenCacheOptions): TokenCache {
  const { fetchToken, clock } = opts;
  const maxMarginMs = opts.maxMarginMs ?? 5 * 60_000;
  const marginRatio = opts.marginRatio ?? 0.1;
  const logger = opts.logger ?? silentLogger;
  const shared = opts.shared;
  let cached: Cached | undefined;
  let inFlight: Promise<string> | undefined;
  /** Tokens Port rejected (shared mode only), newest last. */
  const rejected: string[] = [];

  async function refresh(): Promise<string> {
    const issuedAtMs = clock();
    const held = cached?.token;
    try {
      const issued = await fetchToken();
      const lifetimeMs = Math.max(0, issued.expiresInS * 1000);
      const marginMs = Math.min(maxMarginMs, lifetimeMs * marginRatio);
      // Measured from when we asked, so time spent waiting for the answer never makes us overestimate.
      const expiresAtMs = issuedAtMs + lifetimeMs;
      // The token we already held, handed back (Port's active token reuse): asking again before it expires
      // would only get it again, each time with less life left, so it serves until it expires.
      const reused = issued.accessToken === held;
      cached = {
        token: issued.accessToken,
        expiresAtMs,
        refreshAtMs: reused ? expiresAtMs : expiresAtMs - marginMs,
      };
      logger.info(PortEvents.tokenRefreshed, { expiresInS: issued.expiresInS });
      return issued.accessToken;
    } catch (err) {
      // A refresh that fails inside the margin is not fatal: the old token still works until it expires.
      if (cached && clock() < cached.expiresAtMs) return cached.token;
      throw err;
    }
  }

  const start = shared ? () => refreshShared(shared) : refresh;

  return {
    get() {
      if (cached && clock() < cached.refreshAtMs) return Promise.resolve(cached.token);
      if (!inFlight) {
        inFlight = start().finally(() => {
          inFlight = undefined;
        });
      }
      return inFlight;
    },
    invalidate(token) {
      if (shared && !rejected.includes(token)) {
        rejected.push(token);
        if (rejected.length > REJECTED_KEPT) rejected.shift();
      }
      if (cached?.token === token) cached = undefined;
    },
  };

  // ---- shared mode -------------------------------------------------------------------------------------

  function refreshShared(store: SharedTokenStore): Promise<string> {
    const lockTtlMs = opts.lockTtlMs ?? 10_000;
    const pollMs = opts.pollMs ?? 50;
    const maxWaitMs = opts.maxWaitMs ?? 2 * lockTtlMs;
    const sleep = opts.sleep ?? realSleep;
    const owner = `token-${globalThis.crypto.randomUUID()}`;
    const startedMs = clock();

    /** A stored token this process has not seen rejected; it can serve calls without a refresh until `refreshAtMs`. */
    const usable = (entry: SharedTokenEntry | null): entry is SharedTokenEntry => entry !== null && !rejected.includes(entry.token);
    const adopt = (entry: SharedTokenEntry): string => {
      cached = { token: entry.token, expiresAtMs: entry.expiresAtMs, refreshAtMs: entry.refreshAtMs };
      return entry.token;
    };

    /** Fetches from Port and publishes the new token to the store (best effort). */
    async function fetchAndShare(): Promise<string> {
      const before = cached;
      const token = await refresh();
      if (cached && cached !== before) {
        const entry = cached;
        await store.put(entry).catch((error: unknown) => logger.warn(tokenStoreFailed, { step: "put", error: describeError(error) }));
      }
      return token;
    }

    /** The store failed: behave as without one, and remember the old token for the fallback. */
    function fallback(step: string, error: unknown, last: SharedTokenEntry | null): Promise<string> {
      logger.warn(tokenStoreFailed, { step, error: describeError(error), message: "fetching a token without the shared store" });
      if (usable(last) && clock() < last.expiresAtMs && (!cached || cached.expiresAtMs < last.expiresAtMs)) adopt(last);
      return fetchAndShare();
    }

    return (async () => {
      let last: SharedTokenEntry | null = null;
      for (;;) {
        try {
          last = await store.get();
        } catch (error) {
          return fallback("get", error, last);
        }
        if (usable(last) && clock() < last.refreshAtMs) return adopt(last);
        // Keep a still-valid (due, not rejected) token as the fallback should our own refresh fail.
        if (usable(last) && clock() < last.expiresAtMs && (!cached || cached.expiresAtMs < last.expiresAtMs)) adopt(last);

        let locked: boolean;
        try {
          locked = await store.lock(owner, lockTtlMs);
        } catch (error) {
          return fallback("lock", error, last);
        }
        if (locked) {
          try {
            // Another replica may have published between our read and our lock.
            const again = await store.get().catch(() => null);
            if (usable(again) && clock() < again.refreshAtMs) return adopt(again);
            return await fetchAndShare();
          } finally {
            await store.unlock(owner).catch((error: unknown) => logger.warn(tokenStoreFailed, { step: "unlock", error: describeError(error) }));
          }
        }
        if (clock() - startedMs >= maxWaitMs) {
          logger.warn(tokenWaitExceeded, { waitedMs: clock() - startedMs, message: "another replica's token refresh is taking too long; fetching one here" });
          return fetchAndShare();
        }
        await sleep(pollMs);
      }
    })();
  }
}

/**
 * A shared token store in memory, for tests (several caches in one process stand in for replicas).
 * Web standards only. The token expires and the lock times out on `clock`, as in Redis.
 */
export function createMemoryTokenStore(opts: { clock?: Clock } = {}): SharedTokenStore {
  const clock = opts.clock ?? Date.now;
  let entry: SharedTokenEntry | null = null;
  let held: { owner: string; untilMs: number } | null = null;
  return {
    async get() {
      if (entry && clock() >= entry.expiresAtMs) entry = null;
      return entry ? { ...entry } : null;
    },
    async put(next) {
      entry = clock() < next.expiresAtMs ? { ...next } : null;
    },
    async lock(owner, ttlMs) {
      if (held && clock() < held.untilMs) return false;
      held = { owner, untilMs: clock() + ttlMs };
      return true;
    },
    async unlock(owner) {
      if (held?.owner === owner) held = null;
    },
  };
}
