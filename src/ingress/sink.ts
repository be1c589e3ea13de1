import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { RequestIdVariables } from "hono/request-id";
import type { WorkKind } from "../ledger/ledger.ts";
import { readBody } from "../messages/index.ts";
import type { AcceptSummary } from "../pipeline/accept.ts";
import type { Ingest } from "../pipeline/ingest.ts";
import { refusals, refuse } from "../http/refusals.ts";
import { ownRequestId } from "../http/request-id.ts";
import { documented, reply, SinkReplySchema } from "../http/schemas.ts";

/**
 * The Kafka Connect HTTP sink ingress: `POST /sink/runs` and `POST /sink/changes`. Only HTTP lives here —
 * the shutdown refusal, the body limit, reading the body's records (one JSON value, a JSON array of values
 * or newline-delimited values, with or without a Content-Type), the reply, and 503 when the ledger cannot
 * record the request. What happens to the records is `ingest`'s.
 *
 * 2xx only once every record is recorded in the ledger (accepted, duplicate, parked or left alone); 5xx
 * only for trouble a resend can cure, because connectors resend the whole request — never because of what
 * a body within the size limit contains.
 */
export interface SinkDeps {
  ingest: Ingest;
  bodyLimitBytes: number;
  isShuttingDown: () => boolean;
  /** Whether the routes ask for SINK_TOKEN (said in the OpenAPI document). */
  sinkTokenRequired: boolean;
}

/** The reply's counts, and why the first parked records were parked (at most `MAX_REASONS`). */
export function sinkReply(summary: AcceptSummary) {
  const { records, accepted, duplicate, parked, ignored, parkedReasons } = summary;
  return { records, accepted, duplicate, parked, ignored, ...(parkedReasons.length > 0 ? { parkedReasons } : {}) };
}

export function sinkRoutes(deps: SinkDeps): Hono<{ Variables: RequestIdVariables }> {
  const app = new Hono<{ Variables: RequestIdVariables }>();
  app.use("*", ...ownRequestId());
  const limit = bodyLimit({
    maxSize: deps.bodyLimitBytes,
    onError: () =>
      refuse(
        "body_too_large",
        `The request body is larger than ${deps.bodyLimitBytes} bytes (BODY_LIMIT_BYTES). Lower the connector's batch size (e.g. batch.max.size) or raise BODY_LIMIT_BYTES.`,
      ),
  });
  const route = (kind: WorkKind, path: string, source: string) =>
    app.post(path, documentation(kind, deps.sinkTokenRequired), limit, async (c) => {
      if (deps.isShuttingDown()) refuse("shutting_down");
      // Bytes, not text: a record that is not valid UTF-8 is parked as it arrived, never rewritten.
      const body = new Uint8Array(await c.req.arrayBuffer());
      let summary: AcceptSummary;
      try {
        summary = await deps.ingest(kind, readBody(body), source, { requestId: c.get("requestId") });
      } catch {
        refuse("ledger_unavailable");
      }
      return c.json(sinkReply(summary), 200);
    });
  route("run", "/runs", "sink/runs");
  route("change", "/changes", "sink/changes");
  return app;
}

function documentation(kind: WorkKind, tokenRequired: boolean) {
  const topic = kind === "run" ? "ORG_ID.runs" : "ORG_ID.change.log";
  return documented({
    tags: ["sink"],
    summary: `Records of ${topic}, from a Kafka Connect HTTP sink`,
    description:
      "One JSON value, a JSON array of values, or newline-delimited values, with any Content-Type. 200 once every record is recorded (accepted, duplicate, parked or left alone); a record's content never gets a 5xx.",
    bearer: tokenRequired ? "sinkToken" : null,
    requestBody: {
      required: false,
      content: { "application/json": { schema: {} }, "application/x-ndjson": { schema: { type: "string" } }, "text/plain": { schema: { type: "string" } } },
    },
    responses: {
      200: reply(SinkReplySchema, "Every record is recorded"),
      ...refusals(tokenRequired && "unauthorized", "body_too_large", "shutting_down", "ledger_unavailable"),
    },
  });
}
