/**
 * Port's request signing: `v1,<base64(HMAC-SHA256(clientSecret, "<timestamp>.<body>"))>`. Webhook
 * invocations carry it in `x-port-signature` / `x-port-timestamp` headers over the raw body; agent-style
 * Kafka messages carry it inside the JSON, over the message re-serialised without those two keys.
 *
 * Unlike Port's own agent, a freshness window is enforced, so a captured message cannot be replayed
 * later. The comparison is `crypto.subtle.verify`, which is constant-time, rather than string equality.
 */
import { fromBase64, toBase64 } from "../shared/base64.ts";
import { describeValue } from "./issues.ts";
import { isPlainObject } from "./json.ts";

export interface SignatureOptions {
  /** The current time (epoch ms), passed in so tests control the clock. */
  nowMs: number;
  /** How far the timestamp may be from now. Default 5 minutes; `Infinity` disables the freshness check. */
  toleranceMs?: number;
  /** The setting that sets the window, named when a timestamp is outside it (default SIGNATURE_TOLERANCE_MS). */
  toleranceName?: string;
}

/**
 * `late`: the signature matched but the timestamp is outside the freshness window, so the message is
 * Port's but too old to trust (a replay, or a message that waited too long); the run id in it is real.
 */
export type SignatureResult = { ok: true } | { ok: false; reason: string; late?: true };

export const DEFAULT_SIGNATURE_TOLERANCE_MS = 5 * 60_000;

const NO_MATCH = "signature does not match";
const SIGNATURE_KEY = "X-Port-Signature";
const TIMESTAMP_KEY = "X-Port-Timestamp";
const encoder = new TextEncoder();

/**
 * Verifies an agent-style message (the parsed JSON, keys in arrival order). Port signs the message with
 * both signature keys removed from `headers` but the `headers` object itself kept — or, for GITLAB
 * invocations, with `headers` removed entirely — serialised like `JSON.stringify`.
 */
export async function verifyAgentSignature(message: object, secret: string, opts: SignatureOptions): Promise<SignatureResult> {
  const record = message as Record<string, unknown>;
  const headers = record.headers;
  if (!isPlainObject(headers)) {
    return refuse(`headers: expected an object holding ${SIGNATURE_KEY} and ${TIMESTAMP_KEY}, got ${describeValue(headers)}`);
  }
  const signature = headers[SIGNATURE_KEY];
  const timestamp = headers[TIMESTAMP_KEY];
  if (typeof signature !== "string") return refuse(`headers.${SIGNATURE_KEY}: expected a string, got ${describeValue(signature)}`);
  if (typeof timestamp !== "number" && typeof timestamp !== "string") {
    return refuse(`headers.${TIMESTAMP_KEY}: expected a number, got ${describeValue(timestamp)}`);
  }
  const signed = `${String(timestamp)}.${JSON.stringify(unsignedCopy(record, headers))}`;
  return verify(secret, String(timestamp), encoder.encode(signed), signature, `headers.${TIMESTAMP_KEY}`, opts);
}

/** Header lookup that works for `Headers` and for plain (any-case) header records. */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

/**
 * Verifies a signed webhook invocation: over the exact bytes of its body, as Port's docs sign it (their
 * Python example), else over the body re-serialised compactly (their JavaScript examples sign
 * `JSON.stringify` of the parsed body, so a sender that sends other whitespace still verifies).
 */
export async function verifyWebhookSignature(
  rawBody: string | Uint8Array,
  headers: HeaderSource,
  secret: string,
  opts: SignatureOptions,
): Promise<SignatureResult> {
  const signature = header(headers, "x-port-signature");
  const timestamp = header(headers, "x-port-timestamp");
  if (signature === undefined) return refuse("the x-port-signature header is missing: the request is not signed");
  if (timestamp === undefined) return refuse("the x-port-timestamp header is missing: the request is not signed");
  const body = typeof rawBody === "string" ? encoder.encode(rawBody) : rawBody;
  const signedOver = (bytes: Uint8Array) => {
    const prefix = encoder.encode(`${timestamp}.`);
    const data = new Uint8Array(prefix.length + bytes.length);
    data.set(prefix);
    data.set(bytes, prefix.length);
    return data;
  };
  const first = await verify(secret, timestamp, signedOver(body), signature, "x-port-timestamp", opts);
  if (first.ok || first.late || !first.reason.startsWith(NO_MATCH)) return first;
  const compact = compactJson(body);
  return compact === null ? first : verify(secret, timestamp, signedOver(compact), signature, "x-port-timestamp", opts);
}

/**
 * Signs a webhook body as Port does (its headers, named as Port sends them): what the Port EMULATOR sends,
 * so the demo and tests exercise the same check Port's requests pass.
 */
export async function signWebhook(body: string, secret: string, nowMs: number): Promise<{ "x-port-timestamp": string; "x-port-signature": string }> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${body}`)));
  return { "x-port-timestamp": timestamp, "x-port-signature": `v1,${toBase64(mac)}` };
}

/** The body as `JSON.stringify` writes it, when it is JSON and not already written so; else null. */
function compactJson(body: Uint8Array): Uint8Array | null {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(body);
    const compact = JSON.stringify(JSON.parse(text));
    return compact === text ? null : encoder.encode(compact);
  } catch {
    return null;
  }
}

/** The message as Port signed it: same key order, signature keys (or, for GITLAB, `headers`) removed. */
function unsignedCopy(message: Record<string, unknown>, headers: Record<string, unknown>): object {
  const gitlab = invocationType(message) === "GITLAB";
  // Null prototype: a `__proto__` key from JSON.parse stays an ordinary key when copied.
  const copy: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(message)) {
    if (key !== "headers") copy[key] = message[key];
    else if (!gitlab) {
      const kept: Record<string, unknown> = Object.create(null);
      for (const name of Object.keys(headers)) {
        if (name !== SIGNATURE_KEY && name !== TIMESTAMP_KEY) kept[name] = headers[name];
      }
      copy[key] = kept;
    }
  }
  return copy;
}

function invocationType(message: Record<string, unknown>): unknown {
  const payload = message.payload;
  const action = isPlainObject(payload) ? payload.action : undefined;
  const method = isPlainObject(action) ? action.invocationMethod : undefined;
  return isPlainObject(method) ? method.type : undefined;
}

async function verify(
  secret: string,
  timestamp: string,
  data: Uint8Array<ArrayBuffer>,
  signatureHeader: string,
  timestampName: string,
  opts: SignatureOptions,
): Promise<SignatureResult> {
  if (secret === "") return refuse("no signing secret is configured: set the Port client secret to verify signatures");
  const seconds = Number(timestamp);
  if (timestamp.trim() === "" || !Number.isFinite(seconds)) {
    return refuse(`${timestampName}: expected a Unix timestamp in seconds, got ${describeValue(timestamp)}`);
  }
  // `v1,<base64>`; several space-separated signatures are allowed (secret rotation), any one may match.
  const candidates = signatureHeader.split(" ").filter((part) => part.startsWith("v1,"));
  if (candidates.length === 0) {
    return refuse('signature: expected "v1,<base64>" (one or more, space-separated)');
  }
  const key = await hmacKey(secret);
  let matched = false;
  for (const candidate of candidates) {
    const bytes = fromBase64(candidate.slice(3));
    if (bytes && (await crypto.subtle.verify("HMAC", key, bytes, data))) {
      matched = true;
      break;
    }
  }
  if (!matched) {
    return refuse(`${NO_MATCH}: the message was changed after Port signed it, or the secret is not the client secret of the Port organisation that sent it`);
  }
  return checkFreshness(seconds, timestampName, opts);
}

/** Values above 10^12 are milliseconds (old examples), below are seconds (the documented form). */
function checkFreshness(value: number, name: string, opts: SignatureOptions): SignatureResult {
  const toleranceMs = opts.toleranceMs ?? DEFAULT_SIGNATURE_TOLERANCE_MS;
  const atMs = value > 1e12 ? value : value * 1000;
  const skewMs = opts.nowMs - atMs;
  if (Math.abs(skewMs) <= toleranceMs) return { ok: true };
  const when = skewMs > 0 ? `${Math.round(skewMs / 1000)} s old` : `${Math.round(-skewMs / 1000)} s in the future`;
  return {
    ok: false,
    late: true,
    reason:
      `${name} is ${when}, outside the ${Math.round(toleranceMs / 1000)} s freshness window (${opts.toleranceName ?? "SIGNATURE_TOLERANCE_MS"}): ` +
      "refused as a possible replay; if clocks are skewed, fix the clock or widen the window",
  };
}

/** One imported key is kept: the secret rarely changes, and importKey per message is measurable work. */
let cachedKey: { secret: string; key: Promise<CryptoKey> } | undefined;

function hmacKey(secret: string): Promise<CryptoKey> {
  if (cachedKey?.secret !== secret) {
    const key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    cachedKey = { secret, key };
  }
  return cachedKey.key;
}

function header(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== name) continue;
    const value = headers[key];
    return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

function refuse(reason: string): SignatureResult {
  return { ok: false, reason };
}
