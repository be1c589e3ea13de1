import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { refusalDoc } from "./schemas.ts";

/**
 * Every refusal portside's HTTP surface answers, once: its status, its stable code, what it means (the
 * OpenAPI document's words) and, when the sentence is always the same, the sentence. A route raises one
 * with `refuse(code)` (an HTTPException the app's one `onError` answers) and documents it with
 * `refusals(...codes)`, so the document and the answers cannot drift apart. A sentence never repeats a
 * value from the request.
 */
export const REFUSALS = {
  unauthorized: { status: 401, means: "No bearer token, or not the configured one" },
  bad_request: { status: 400, means: "A parameter that is not one: the sentence names it and the rule" },
  not_found: {
    status: 404,
    means: "No such route",
    message: "No such route. Connectors post to /sink/runs and /sink/changes; operators use /admin with ADMIN_TOKEN.",
  },
  no_dead_letter: {
    status: 404,
    means: "No such dead letter",
    message: "No parked record has this id (list them with GET /admin/dead-letters).",
  },
  no_run: {
    status: 404,
    means: "No run with this id in the ledger",
    message: "No run has this id in the ledger (finished runs are kept for RETENTION_HOURS).",
  },
  still_invalid: { status: 422, means: "Still refused: it stays parked" },
  bad_signature: { status: 401, means: "Not signed by Port with this organisation's client secret, or signed too long ago (or in the future)" },
  webhook_forbidden: {
    status: 403,
    means: "Not from a network WEBHOOK_ALLOW lets in",
    message: "This address may not call the webhook (WEBHOOK_ALLOW); Port calls from its published addresses (presets port-eu, port-us).",
  },
  unsupported_media_type: {
    status: 415,
    means: "Not JSON",
    message: "Port's webhook sends JSON: send Content-Type: application/json.",
  },
  no_run_id: { status: 400, means: "No run id (or action) where the body should have it: parked with its bytes, nothing runs" },
  sync_timeout: {
    status: 504,
    means: "A synchronous handler (sync: true) did not end within WEBHOOK_SYNC_TIMEOUT_MS: the run is recorded and goes on",
    message:
      "The run is recorded and still running, but its handler did not end within WEBHOOK_SYNC_TIMEOUT_MS; its result is reported through Port's API when it ends. Raise WEBHOOK_SYNC_TIMEOUT_MS, or drop sync: true for an action that takes longer.",
  },
  body_too_large: { status: 413, means: "The body is larger than BODY_LIMIT_BYTES" },
  metrics_disabled: {
    status: 404,
    means: "Off: set ADMIN_TOKEN or METRICS_PORT",
    message:
      "/metrics is off because ADMIN_TOKEN is not set. Set ADMIN_TOKEN (scrape with it as a bearer token) or METRICS_PORT (served apart, without a token).",
  },
  sink_disabled: {
    status: 404,
    means: "Off: SINK_TOKEN is not set (runs come by Port's webhooks, polling or the built-in consumer)",
    message:
      "The sink is off because SINK_TOKEN is not set (this portside takes runs by Port's webhooks, by polling Port or from Kafka itself). Set SINK_TOKEN to take records from a Kafka Connect HTTP sink.",
  },
  webhooks_disabled: {
    status: 404,
    means: "Off: set PORT_WEBHOOKS=true",
    message: "Port's webhooks are off because PORT_WEBHOOKS is not true. Set PORT_WEBHOOKS=true to take runs from WEBHOOK actions pointing here.",
  },
  admin_disabled: {
    status: 404,
    means: "Off: set ADMIN_TOKEN",
    message: "The admin endpoints are off because ADMIN_TOKEN is not set. Set ADMIN_TOKEN (not the SINK_TOKEN) and restart portside to use them.",
  },
  shutting_down: {
    status: 503,
    means: "Shutting down: nothing was recorded, resend it",
    message: "portside is shutting down; resend this request (nothing in it was recorded).",
    retryAfterS: 5,
  },
  ledger_unavailable: {
    status: 503,
    means: "The ledger could not record the request: nothing was recorded, resend it",
    message: "The ledger could not record this request, so nothing in it was accepted; resend it.",
    retryAfterS: 1,
  },
  internal: {
    status: 500,
    means: "portside's own failure: nothing was acknowledged",
    message: "portside hit an unexpected error; nothing in this request was acknowledged, so resend it.",
  },
} as const satisfies Record<string, { status: ContentfulStatusCode; means: string; message?: string; retryAfterS?: number }>;

export type RefusalCode = keyof typeof REFUSALS;

/** The JSON answer of a refusal (the sentence given, else the table's). */
export function refusalResponse(code: RefusalCode, message?: string, headers: Record<string, string> = {}): Response {
  const entry: { status: ContentfulStatusCode; message?: string; retryAfterS?: number } = REFUSALS[code];
  const retry: Record<string, string> = entry.retryAfterS ? { "Retry-After": String(entry.retryAfterS) } : {};
  return Response.json({ error: code, message: message ?? entry.message ?? code }, { status: entry.status, headers: { ...retry, ...headers } });
}

/** Refuses the request: thrown, answered by the app's `onError`. */
export function refuse(code: RefusalCode, message?: string, headers?: Record<string, string>): never {
  throw new HTTPException(REFUSALS[code].status, { res: refusalResponse(code, message, headers) });
}

/** The OpenAPI `responses` entries of these refusals (two codes with one status are described together). */
export function refusals(...codes: Array<RefusalCode | false | null | undefined>): Record<number, ReturnType<typeof refusalDoc>> {
  const byStatus = new Map<number, string[]>();
  for (const code of codes) {
    if (!code) continue;
    const { status, means } = REFUSALS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), means]);
  }
  return Object.fromEntries([...byStatus].map(([status, means]) => [status, refusalDoc(means.join("; or "))]));
}
