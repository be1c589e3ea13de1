import type { Context, MiddlewareHandler } from "hono";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { isLoopback } from "../../config-urls.ts";

/**
 * What keeps the console's pages to themselves: a content security policy that lets a page load only the
 * console's own stylesheet and post only to the console, and be framed by nobody (`frame-ancestors 'none'`,
 * X-Frame-Options DENY); form posts from this origin only; and a throttle on signing in.
 */

/** Security headers on every console answer (hono's secureHeaders). HSTS is left to the TLS proxy, which owns the host. */
export const consoleHeaders = (): MiddlewareHandler =>
  secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      styleSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    xFrameOptions: "DENY",
    strictTransportSecurity: false,
  });

/**
 * The origin the browser sees: behind a TLS proxy, the one its `X-Forwarded-Proto` and `X-Forwarded-Host`
 * describe (a page on another site cannot set these on a browser's request), else the request's own.
 */
export function publicOrigin(c: Context): URL {
  const url = new URL(c.req.url);
  const first = (name: string) => c.req.header(name)?.split(",")[0]?.trim() || undefined;
  const proto = first("x-forwarded-proto") ?? url.protocol.slice(0, -1);
  const host = first("x-forwarded-host") ?? c.req.header("host") ?? url.host;
  try {
    return new URL(`${proto}://${host}`);
  } catch {
    return url;
  }
}

export const isHttps = (c: Context): boolean => publicOrigin(c).protocol === "https:";

/** Whether the browser talks to this machine (http://127.0.0.1, localhost): it keeps Secure cookies there. */
export const isLocal = (c: Context): boolean => isLoopback(publicOrigin(c).hostname);

/**
 * Refuses a form post that did not come from a console page (hono's csrf: `Sec-Fetch-Site: same-origin`, or
 * an `Origin` equal to `publicOrigin`) with `refused`, a page saying why, before anything acts on it.
 */
export function sameOriginPosts(refused: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  const check = csrf({ origin: (origin, c) => origin === publicOrigin(c).origin });
  return async (c, next) => {
    let allowed = false;
    try {
      await check(c, async () => {
        allowed = true;
      });
    } catch (error) {
      if (!(error instanceof HTTPException)) throw error;
    }
    return allowed ? next() : refused(c);
  };
}

/** Sign-in attempts: after `failures` wrong tokens within `windowMs`, every attempt waits out the window. */
export interface SignInThrottle {
  /** How long before the next attempt is taken, in ms (0: now). */
  wait(): number;
  failed(): void;
}

export function createSignInThrottle(opts: { failures?: number; windowMs?: number; clock?: () => number } = {}): SignInThrottle {
  const limit = opts.failures ?? SIGN_IN_FAILURES;
  const windowMs = opts.windowMs ?? SIGN_IN_WINDOW_MS;
  const clock = opts.clock ?? Date.now;
  // Times of the latest failures, oldest first (at most `limit`).
  const failures: number[] = [];
  const prune = (now: number) => {
    while (failures.length > 0 && (failures[0] as number) <= now - windowMs) failures.shift();
  };
  return {
    wait() {
      const now = clock();
      prune(now);
      return failures.length < limit ? 0 : (failures[0] as number) + windowMs - now;
    },
    failed() {
      const now = clock();
      prune(now);
      failures.push(now);
      if (failures.length > limit) failures.shift();
    },
  };
}

/** Wrong tokens allowed per window before signing in waits (for everyone: the console has one token). */
export const SIGN_IN_FAILURES = 5;
export const SIGN_IN_WINDOW_MS = 60_000;
