/**
 * TLS verification of forwarded calls (Port's agent: `WEBHOOK_VERIFY_SSL`, default true). Turning it off is
 * per call, never for the whole process, and each runtime does it its own way (measured against a
 * self-signed server on 127.0.0.1, Bun 1.4.5 and Deno 2.9.6):
 *
 * - Bun: `fetch(url, { tls: { rejectUnauthorized: false } })` works.
 * - Deno: its `fetch` cannot: `Deno.createHttpClient` offers only `unsafelyDisableHostnameVerification`, which
 *   still checks the chain (a self-signed certificate fails), and `--unsafely-ignore-certificate-errors` is a
 *   flag for the whole process. `node:https` with `rejectUnauthorized: false` does work per request, so on
 *   Deno an HTTPS call with verification off goes through `node:https`; plain HTTP keeps `fetch`.
 * - Elsewhere (Node is not a runtime portside supports): refused by `fetchFor` at start.
 */
import { request as httpsRequest } from "node:https";
import process from "node:process";
import { Readable } from "node:stream";
import type { FetchFn } from "../../port/http.ts";

/** The fetch forwarded calls use: `base` as it is, or with certificate checks off when `verifyTls` is false. */
export function fetchFor(verifyTls: boolean, base: FetchFn = fetch): FetchFn {
  if (verifyTls) return base;
  if (process.versions.bun) return (input, init) => base(input, { ...init, tls: { rejectUnauthorized: false } } as RequestInit);
  if (process.versions.deno) {
    return (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      return url.protocol === "https:" ? insecureHttps(url, init) : base(input, init);
    };
  }
  throw new Error("WEBHOOK_VERIFY_SSL=false: turning certificate checks off per call is supported on Bun and Deno only; leave it on here");
}

/** One HTTPS call through `node:https` without certificate checks (Deno only), as a web `Response`. */
function insecureHttps(url: URL, init: RequestInit = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers = Object.fromEntries(new Headers(init.headers));
    const req = httpsRequest(url.href, { method: init.method ?? "GET", headers, rejectUnauthorized: false, signal: init.signal ?? undefined }, (res) => {
      const answerHeaders = new Headers();
      for (const [name, value] of Object.entries(res.headers)) for (const one of [value ?? []].flat()) answerHeaders.append(name, String(one));
      const body = Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>;
      resolve(new Response(res.statusCode === 204 || res.statusCode === 304 ? null : body, { status: res.statusCode ?? 502, headers: answerHeaders }));
    });
    req.on("error", reject);
    if (typeof init.body === "string") req.write(init.body);
    req.end();
  });
}
