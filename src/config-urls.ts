/**
 * The URLs in portside's settings, checked before anything calls them: Port's API and the EventBridge
 * endpoint take http(s) only — plain http only to this machine (a loopback host), unless the deployment opts
 * in with PORTSIDE_ALLOW_HTTP (an emulator or LocalStack in another container); Redis ledger URLs are shown
 * with their credentials redacted. Each check answers what is wrong (null: nothing), never repeating the value;
 * config.ts turns it into the refusal naming the variable.
 */

/** Why an http(s) endpoint setting cannot be used, or null. */
export function httpUrlProblem(text: string, allowHttp: boolean): string | null {
  const url = URL.canParse(text) ? new URL(text) : null;
  const fine = url !== null && (url.protocol === "https:" || (url.protocol === "http:" && (allowHttp || isLoopback(url.hostname))));
  return fine ? null : "must be an https:// URL (http:// only to a loopback host such as 127.0.0.1, or with PORTSIDE_ALLOW_HTTP=true)";
}

/** localhost, 127.0.0.0/8 and [::1]: traffic that never leaves the machine. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Why a Redis URL cannot be used (shown redacted), or null. */
export function redisUrlProblem(text: string): string | null {
  if (!URL.canParse(text)) return `"${redactUrl(text)}" is not a valid URL`;
  const url = new URL(text);
  if (url.hostname === "") return `"${redactUrl(text)}" names no host`;
  if (url.port !== "" && !/^\d+$/.test(url.port)) return `"${redactUrl(text)}" has an invalid port`;
  if (url.pathname !== "" && url.pathname !== "/" && !/^\/\d+$/.test(url.pathname)) return `"${redactUrl(text)}": the path must be a database number, e.g. /0`;
  return null;
}

/** The URL with anything between `//` and the last `@` of its authority replaced, so no password is shown. */
export const redactUrl = (text: string): string => text.replace(/\/\/[^/]*@/, "//[redacted]@");
