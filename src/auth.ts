import type { MiddlewareHandler } from "hono";
import type { Secret } from "./config.ts";

/**
 * Bearer-token check for the sink and admin routes. Both sides are hashed before comparing so the
 * comparison takes the same time whatever the token's length or content (no timing oracle).
 */
export function requireBearer(token: Secret | null, realm: string): MiddlewareHandler {
  const expected = token ? digest(token.reveal()) : null;
  return async (c, next) => {
    if (expected === null) return next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!match?.[1] || !equalBytes(await expected, await digest(match[1]))) {
      c.header("WWW-Authenticate", `Bearer realm="${realm}"`);
      return c.json(
        {
          error: "unauthorized",
          message: match
            ? `The bearer token is not the one this portside expects for ${realm}. Check the connector's Authorization header against ${realm === "sink" ? "SINK_TOKEN" : "ADMIN_TOKEN"}.`
            : `Send "Authorization: Bearer <token>" (the ${realm === "sink" ? "SINK_TOKEN" : "ADMIN_TOKEN"} value).`,
        },
        401,
      );
    }
    return next();
  };
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Constant-time comparison of two equal-length digests. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
