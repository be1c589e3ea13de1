/**
 * One cached Port access token per client. Port keeps one active token per credential pair and its token
 * endpoint counts against the rate limit, so fetching a token per call (as port-agent does) is both wasteful
 * and self-defeating. The cache refreshes shortly before expiry, lets exactly one refresh run at a time
 * (concurrent callers share it), and can be told a token was rejected (401) so the next caller refreshes.
 */
import type { Clock, PortLogger } from "./deps.ts";
import { PortEvents, silentLogger } from "./deps.ts";

export interface IssuedToken {
  accessToken: string;
  /** Lifetime as Port states it (`expiresIn`, seconds). */
  expiresInS: number;
}

export interface TokenCache {
  /** A token valid for a while yet; fetches one only when none is cached or it is about to expire. */
  get(): Promise<string>;
  /** Port rejected `token` (401): forget it so the next `get` refreshes. Ignored if a newer token is cached. */
  invalidate(token: string): void;
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
}

interface Cached {
  token: string;
  expiresAtMs: number;
  refreshAtMs: number;
}

export function createTokenCache(opts: TokenCacheOptions): TokenCache {
  const { fetchToken, clock } = opts;
  const maxMarginMs = opts.maxMarginMs ?? 5 * 60_000;
  const marginRatio = opts.marginRatio ?? 0.1;
  const logger = opts.logger ?? silentLogger;
  let cached: Cached | undefined;
  let inFlight: Promise<string> | undefined;

  async function refresh(): Promise<string> {
    const issuedAtMs = clock();
    try {
      const issued = await fetchToken();
      const lifetimeMs = Math.max(0, issued.expiresInS * 1000);
      const marginMs = Math.min(maxMarginMs, lifetimeMs * marginRatio);
      // Measured from when we asked, so time spent waiting for the answer never makes us overestimate.
      cached = {
        token: issued.accessToken,
        expiresAtMs: issuedAtMs + lifetimeMs,
        refreshAtMs: issuedAtMs + lifetimeMs - marginMs,
      };
      logger.info(PortEvents.tokenRefreshed, { expiresInS: issued.expiresInS });
      return issued.accessToken;
    } catch (err) {
      // A refresh that fails inside the margin is not fatal: the old token still works until it expires.
      if (cached && clock() < cached.expiresAtMs) return cached.token;
      throw err;
    }
  }

  return {
    get() {
      if (cached && clock() < cached.refreshAtMs) return Promise.resolve(cached.token);
      if (!inFlight) {
        inFlight = refresh().finally(() => {
          inFlight = undefined;
        });
      }
      return inFlight;
    },
    invalidate(token) {
      if (cached?.token === token) cached = undefined;
    },
  };
}
