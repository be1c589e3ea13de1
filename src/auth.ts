import type { MiddlewareHandler } from "hono";
import type { Secret } from "./config.ts";

export interface BearerRealm {
  /** Named in `WWW-Authenticate`. */
  realm: string;
  /** The setting that holds the token, named in the refusal. */
  variable: string;
  /** Where the caller sets the token: "the connector's Authorization header". */
  who: string;
}

/**
 * Bearer-token check for the sink and admin routes (no token configured: open, local use only). Both
 * sides are hashed before comparing so the comparison takes the same time whatever the token's length or
 * content (no timing oracle).
 */
export function requireBearer(token: Secret | null, realm: BearerRealm): MiddlewareHandler {
  const matches = token ? tokenCheck(token) : null;
  return async (c, next) => {
    if (matches === null) return next();
    const given = bearerOf(c.req.header("authorization"));
    if (given === undefined || !(await matches(given))) {
      c.header("WWW-Authenticate", `Bearer realm="${realm.realm}"`);
      return c.json(
        {
          error: "unauthorized",
          message:
            given !== undefined
              ? `The bearer token is not the one this portside expects for ${realm.realm}. Check ${realm.who} against ${realm.variable}.`
              : `Send "Authorization: Bearer <token>" (the ${realm.variable} value).`,
        },
        401,
      );
    }
    return next();
  };
}

/** The token of an `Authorization: Bearer <token>` header, if it is one. */
export const bearerOf = (header: string | undefined): string | undefined => /^Bearer\s+(.+)$/i.exec(header?.trim() ?? "")?.[1];

/** Whether a given string is the configured token: both hashed (the token once), compared in constant time. */
export function tokenCheck(token: Secret): (given: string) => Promise<boolean> {
  const expected = digest(token.reveal());
  return async (given) => equalBytes(await expected, await digest(given));
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
