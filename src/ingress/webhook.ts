import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { RequestIdVariables } from "hono/request-id";
import type { WebhookSettings } from "../config.ts";
import type { WorkKind } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import { parseRecord, type SinkRecord } from "../messages/body.ts";
import { verifyWebhookSignature } from "../messages/signature.ts";
import { locateWebhookRun, WEBHOOK_RUN_ID_HEADER, webhookRecord } from "../messages/webhook.ts";
import type { AcceptSummary } from "../pipeline/accept.ts";
import type { IngestOptions } from "../pipeline/ingest.ts";
import type { RunPatch } from "../port/calls.ts";
import { inNetworks } from "../shared/networks.ts";
import { refusalResponse, refusals, refuse } from "../http/refusals.ts";
import { ownRequestId } from "../http/request-id.ts";
import { documented, ErrorSchema, reply, WebhookAnswerSchema, WebhookResultSchema } from "../http/schemas.ts";
import * as v from "valibot";

/**
 * Port calls portside directly: a WEBHOOK action pointing at `POST /webhooks/port` (or
 * `/webhooks/port/<action>`, one URL per action). A thin adapter over `service.ingest`:
 *
 *   where it came from (WEBHOOK_ALLOW) → JSON only → Port's signature over the raw bytes, and its freshness
 *   → the run id and action in the body → recorded in the ledger → 202
 *
 * The run then runs and is reported through Port's API like any other, once however often Port (or a
 * network) sends the request again. A handler with `sync: true` (a `synchronized` action) is waited for up
 * to WEBHOOK_SYNC_TIMEOUT_MS: its result is the answer (SUCCESS 200, FAILURE 500), which is how Port learns
 * the status; past the deadline the answer is 504 (never a 2xx, which Port would read as SUCCESS) and the
 * result goes through the API when it comes. The same request again, after the run ended, gets the answer
 * the ledger kept.
 *
 * Refusals say which check failed and never repeat the body: 401 (unsigned, a signature that does not
 * match, a timestamp outside the window), 403 (not from an allowed network), 415, 413, 400 (no run id:
 * parked with its bytes, nothing runs without an id to dedupe on), 503 (shutting down, the ledger away),
 * 504 (a synchronous handler past its deadline).
 */
export interface WebhookDeps {
  ingest(kind: WorkKind, records: Iterable<SinkRecord>, source: string, options?: IngestOptions): Promise<AcceptSummary>;
  orgId: string;
  /** The Port client secret the signatures are made with. */
  secret: string;
  settings: WebhookSettings;
  bodyLimitBytes: number;
  isShuttingDown(): boolean;
  /** The handler of `action` answers synchronously (`sync: true`). */
  isSync(action: string): boolean;
  /** The run's final patch once it ends (null when `ms` pass first). */
  awaitResult(runId: string, ms: number): Promise<RunPatch | null>;
  /** The connection's address, where the runtime says (Bun, Deno); needed only with WEBHOOK_ALLOW. */
  remoteAddress?: (c: Context) => string | undefined;
  logger: Logger;
  clock?: () => number;
}

/** The way in's name in the ledger's `source`, the metrics and the run history. */
export const WEBHOOK_SOURCE = "webhook";

export function webhookRoutes(deps: WebhookDeps): Hono<{ Variables: RequestIdVariables }> {
  const app = new Hono<{ Variables: RequestIdVariables }>();
  const clock = deps.clock ?? Date.now;
  const { settings } = deps;

  app.use("*", ...ownRequestId());
  app.use("*", async (c, next) => {
    if (settings.allow && !inNetworks(sourceAddress(c) ?? "", settings.allow)) refuse("webhook_forbidden");
    if (deps.isShuttingDown()) refuse("shutting_down");
    const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
    if (type !== "application/json" && !type.endsWith("+json")) refuse("unsupported_media_type");
    await next();
  });
  app.use(
    "*",
    bodyLimit({
      maxSize: deps.bodyLimitBytes,
      onError: () => refuse("body_too_large", `The request body is larger than ${deps.bodyLimitBytes} bytes (BODY_LIMIT_BYTES).`),
    }),
  );

  const take = async (c: Context<{ Variables: RequestIdVariables }>, pathAction: string | null) => {
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const verdict = await verifyWebhookSignature(raw, c.req.raw.headers, deps.secret, {
      nowMs: clock(),
      toleranceMs: settings.toleranceMs,
      toleranceName: "WEBHOOK_TOLERANCE_S",
    });
    if (!verdict.ok) return refusalResponse("bad_signature", `The request's signature was refused: ${verdict.reason}.`);
    const record = parseRecord(raw);
    const located = record.ok
      ? locateWebhookRun(record.value, {
          runIdPath: settings.runIdPath,
          action: pathAction,
          runIdHeader: settings.runIdPath ? null : (c.req.header(WEBHOOK_RUN_ID_HEADER) ?? null),
        })
      : null;
    // Recorded is answered at once whatever ACK_MODE says; a `sync` handler's answer waits below.
    const options = { requestId: c.get("requestId"), ackOnCommit: true };
    let summary: AcceptSummary;
    try {
      if (located?.ok && record.ok) {
        summary = await deps.ingest(
          "run",
          [parseRecord(webhookRecord(deps.orgId, located.runId, located.action, record.value as Record<string, unknown>))],
          WEBHOOK_SOURCE,
          options,
        );
      } else {
        // Nothing runs without an id to dedupe on: parked as it arrived. With an id, Port is told why (its record says so).
        const withId = located && !located.ok && located.runId !== null && record.ok;
        summary = await deps.ingest(
          "run",
          [withId ? parseRecord(webhookRecord(deps.orgId, located.runId as string, "", record.value as Record<string, unknown>)) : record],
          WEBHOOK_SOURCE,
          options,
        );
        const reason = record.ok ? (located?.ok === false ? located.reason : "not a run") : record.error;
        return refusalResponse("no_run_id", `The webhook was parked: ${reason}.`);
      }
    } catch {
      return refusalResponse("ledger_unavailable");
    }
    const { runId, action } = located;
    if (summary.accepted + summary.duplicate === 0) return c.json({ status: "parked", runId }, 202);
    if (!deps.isSync(action)) return c.json({ status: summary.accepted > 0 ? "accepted" : "duplicate", runId }, 202);
    const patch = await deps.awaitResult(runId, settings.syncTimeoutMs);
    // Past the deadline the answer cannot be a 2xx: Port reads any 2xx of a synchronized call as SUCCESS.
    if (!patch?.status) return refusalResponse("sync_timeout");
    const { status, ...result } = patch;
    return c.json({ status, runId, ...result }, status === "SUCCESS" ? 200 : 500);
  };
  app.post("/port", documentation(false), (c) => take(c, null));
  app.post("/port/:action", documentation(true), (c) => take(c, c.req.param("action")));
  return app;

  /** The address the request came from: X-Forwarded-For's last hop not among the trusted proxies, when the connection is one. */
  function sourceAddress(c: Context): string | undefined {
    const direct = deps.remoteAddress?.(c);
    if (direct === undefined || !inNetworks(direct, settings.trustedProxies)) return direct;
    const hops = (c.req.header("x-forwarded-for") ?? "")
      .split(",")
      .map((hop) => hop.trim())
      .filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) if (!inNetworks(hops[i] as string, settings.trustedProxies)) return hops[i];
    return direct;
  }
}

function documentation(actionInPath: boolean) {
  return documented({
    tags: ["webhook"],
    summary: actionInPath ? "A run Port sends for the action named in the path" : "A run Port sends, its action named in the body",
    description:
      "Point a WEBHOOK action at this URL. Signed by Port with the organisation's client secret (x-port-signature over x-port-timestamp and the raw body). 202 once the run is recorded; a handler with sync: true answers with its result instead (200 SUCCESS, 500 FAILURE, 504 past WEBHOOK_SYNC_TIMEOUT_MS).",
    parameters: [
      { name: "x-port-signature", in: "header", required: true, schema: { type: "string" }, description: "v1,<base64 HMAC-SHA256>" },
      { name: "x-port-timestamp", in: "header", required: true, schema: { type: "string" }, description: "Seconds since the epoch" },
    ],
    requestBody: { required: true, content: { "application/json": { schema: { type: "object" } } } },
    responses: {
      200: reply(WebhookResultSchema, "A synchronous handler's result: SUCCESS"),
      202: reply(WebhookAnswerSchema, "Recorded (or recorded before): the run goes on and is reported through Port's API"),
      ...refusals(
        "no_run_id",
        "bad_signature",
        "webhook_forbidden",
        "body_too_large",
        "unsupported_media_type",
        "shutting_down",
        "ledger_unavailable",
        "sync_timeout",
      ),
      500: reply(v.union([WebhookResultSchema, ErrorSchema]), "A synchronous handler's result: FAILURE; or portside's own failure (nothing acknowledged)"),
    },
  });
}
