import type { Secret } from "../../config.ts";
import { fromBase64Url, toBase64Url } from "../../shared/base64.ts";

/**
 * Console sessions. Signing in with ADMIN_TOKEN gives the browser a session value, not the token: it says
 * when it expires and carries a random nonce, signed with HMAC-SHA256 under a key derived from ADMIN_TOKEN.
 * So the cookie opens the console only (never /admin or /metrics, which take the token itself), lives
 * `lifetimeMs`, and every session ends when ADMIN_TOKEN changes. Nothing is stored: replicas that share the
 * token accept each other's sessions. Signing out ends a session in this process at once (on other
 * replicas it lasts until it expires).
 */
export interface ConsoleSessions {
  readonly lifetimeMs: number;
  /** A new session value. */
  issue(): Promise<string>;
  /** Whether a value is a session this portside issued that has neither expired nor been ended. */
  valid(value: string): Promise<boolean>;
  /** Ends a session (signing out). */
  end(value: string): Promise<void>;
}

const encoder = new TextEncoder();

export function createConsoleSessions(adminToken: Secret, lifetimeMs: number, clock: () => number = Date.now): ConsoleSessions {
  // A key of its own, derived from the token, so a session value reveals nothing usable elsewhere.
  const key = (async () => {
    const tokenKey = await crypto.subtle.importKey("raw", encoder.encode(adminToken.reveal()), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const derived = await crypto.subtle.sign("HMAC", tokenKey, encoder.encode("portside console session key v1"));
    return crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  })();
  /** Nonces of sessions signed out here, with their expiry (dropped once expired). */
  const ended = new Map<string, number>();

  /** `<expiry ms, base 36>.<nonce>` and its signature, or undefined when the value is not of that shape. */
  const parse = (value: string) => {
    const [expires, nonce, signature, ...rest] = value.split(".");
    const mac = signature === undefined ? undefined : fromBase64Url(signature);
    if (rest.length > 0 || !expires || !nonce || !mac || !/^[0-9a-z]{1,12}$/.test(expires)) return undefined;
    return { expiresAt: Number.parseInt(expires, 36), nonce, signed: `${expires}.${nonce}`, mac };
  };
  const check = async (value: string) => {
    const session = parse(value);
    const now = clock();
    if (!session || session.expiresAt <= now || session.expiresAt > now + lifetimeMs || ended.has(session.nonce)) return undefined;
    return (await crypto.subtle.verify("HMAC", await key, session.mac, encoder.encode(session.signed))) ? session : undefined;
  };

  return {
    lifetimeMs,
    async issue() {
      const signed = `${(clock() + lifetimeMs).toString(36)}.${toBase64Url(crypto.getRandomValues(new Uint8Array(16)))}`;
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await key, encoder.encode(signed)));
      return `${signed}.${toBase64Url(mac)}`;
    },
    valid: async (value) => (await check(value)) !== undefined,
    async end(value) {
      const session = await check(value);
      if (!session) return;
      const now = clock();
      for (const [nonce, expiresAt] of ended) if (expiresAt <= now) ended.delete(nonce);
      ended.set(session.nonce, session.expiresAt);
    },
  };
}
