import type { Context, MiddlewareHandler } from "hono";
import type { Secret } from "../config.ts";
import { refusalResponse } from "./refusals.ts";

export interface BearerRealm {
  /** Named in `WWW-Authenticate`. */
  realm: string;
  /** The setting that holds the token, named in the refusal. */
  variable: string;
  /** Where the caller sets the token: "the connector's Authorization header". */
  who: string;
}

/** Why a request was refused: no credential, a wrong token, or a session that ended. */
export type Refused = "missing" | "wrong" | "ended";

/** A request's access: a bearer header with the token or, where a session is given, a live session. */
export type AccessCheck = (c: Context) => Promise<true | Refused>;

/**
 * The one check of who may call: a bearer header with the configured token, or (where `session` is given,
 * the console) a live session cookie. No token configured: open, local use only. Both sides of a token
 * comparison are hashed first, so it takes the same time whatever the token's length or content.
 */
export function accessCheck(token: Secret | null, session?: { read(c: Context): string | undefined; valid(value: string): Promise<boolean> }): AccessCheck {
  if (!token) return async () => true;
  const matches = tokenCheck(token);
  return async (c) => {
    const bearer = bearerOf(c.req.header("authorization"));
    if (bearer !== undefined) return (await matches(bearer)) ? true : "wrong";
    const value = session?.read(c);
    if (value === undefined) return "missing";
    return session && (await session.valid(value)) ? true : "ended";
  };
}

/** Lets through what `check` lets through; renders a refusal for the rest (JSON for APIs, a sign-in page for people). */
export function requireAccess(check: AccessCheck, render: (c: Context, why: Refused) => Response | Promise<Response>): MiddlewareHandler {
  return async (c, next) => {
    const verdict = await check(c);
    if (verdict !== true) return render(c, verdict);
    return next();
  };
}

/** Bearer-token check for the sink, admin and metrics routes: a 401 in JSON saying what to fix. */
export function requireBearer(token: Secret | null, realm: BearerRealm): MiddlewareHandler {
  return requireAccess(accessCheck(token), (_c, why) =>
    refusalResponse(
      "unauthorized",
      why === "wrong"
        ? `The bearer token is not the one this portside expects for ${realm.realm}. Check ${realm.who} against ${realm.variable}.`
        : `Send "Authorization: Bearer <token>" (the ${realm.variable} value).`,
      { "WWW-Authenticate": `Bearer realm="${realm.realm}"` },
    ),
  );
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
