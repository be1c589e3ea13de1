import { Hono } from "hono";
import type { Ledger } from "../ledger/ledger.ts";
import { LedgerInputError } from "../ledger/validate.ts";
import type { IngestStats } from "../pipeline/ingest.ts";
import type { ReplayResult } from "../pipeline/replay.ts";
import type { IngressStatus } from "../service.ts";
import { sinkReply } from "../ingress/sink.ts";
import { DeadLetterPageSchema, DeadLetterSchema, documented, ReplayReplySchema, refusal, reply, StatsSchema } from "../api-schemas.ts";

/**
 * Operator endpoints (behind ADMIN_TOKEN): parked records and counts.
 *   GET    /admin/dead-letters?limit=&after=   list, oldest first
 *   GET    /admin/dead-letters/:id             one, with its raw bytes (`rawEncoding: "base64"` when not UTF-8)
 *   POST   /admin/dead-letters/:id/replay      ingest its records again (see pipeline/replay.ts)
 *   DELETE /admin/dead-letters/:id             forget it
 *   GET    /admin/stats                        ledger counts, and what was ingested since start
 * Answers never repeat a value from the request.
 */
export function adminRoutes(deps: {
  ledger: Ledger;
  replay: (id: string) => Promise<ReplayResult>;
  stats: () => IngestStats;
  ingresses: () => ReadonlyMap<string, IngressStatus>;
  /** The security scheme the OpenAPI document names (null in open mode, where none is asked). */
  bearer: "adminToken" | null;
}): Hono {
  const app = new Hono();
  const { bearer } = deps;
  const unauthorized: Record<number, ReturnType<typeof refusal>> = bearer ? { 401: refusal("No bearer token, or not ADMIN_TOKEN") } : {};
  const idParam = [
    { name: "id", in: "path" as const, required: true, schema: { type: "string" as const, pattern: "^[1-9][0-9]{0,15}$" }, description: "A dead letter's id" },
  ];
  const notFound = { error: "not_found", message: "No parked record has this id (list them with GET /admin/dead-letters)." };
  app.onError((error, c) => {
    if (error instanceof LedgerInputError) return c.json({ error: "bad_request", message: `${error.field}: ${error.message}` }, 400);
    throw error;
  });
  app.get(
    "/dead-letters",
    documented({
      tags: ["admin"],
      summary: "Parked records, oldest first",
      bearer,
      parameters: [
        { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000 }, description: "Page size (default 100)" },
        { name: "after", in: "query", schema: { type: "string" }, description: "The last id of the previous page" },
      ],
      responses: { 200: reply(DeadLetterPageSchema, "A page of dead letters"), 400: refusal("`after` is not an id"), ...unauthorized },
    }),
    async (c) => {
      const limit = Math.min(Math.max(Number(c.req.query("limit") ?? 100) || 100, 1), 1000);
      const after = c.req.query("after");
      const items = await deps.ledger.listDeadLetters(after ? { limit, after } : { limit });
      return c.json({ items, next: items.length === limit ? (items.at(-1)?.id ?? null) : null });
    },
  );
  app.get(
    "/dead-letters/:id",
    documented({
      tags: ["admin"],
      summary: "One parked record, with its bytes",
      bearer,
      parameters: idParam,
      responses: { 200: reply(DeadLetterSchema, "The dead letter"), 400: refusal("Not an id"), 404: refusal("No such dead letter"), ...unauthorized },
    }),
    async (c) => {
      const letter = await deps.ledger.getDeadLetter(c.req.param("id"));
      return letter ? c.json(letter) : c.json(notFound, 404);
    },
  );
  app.post(
    "/dead-letters/:id/replay",
    documented({
      tags: ["admin"],
      summary: "Ingest a parked record's records again; the dead letter goes once they are all recorded",
      bearer,
      parameters: idParam,
      responses: {
        200: reply(ReplayReplySchema, "Replayed"),
        400: refusal("Not an id"),
        404: refusal("No such dead letter"),
        422: refusal("Still refused: it stays parked"),
        503: refusal("The ledger could not record it"),
        ...unauthorized,
      },
    }),
    async (c) => {
      const result = await deps.replay(c.req.param("id"));
      if (result.type === "not_found") return c.json(notFound, 404);
      if (result.type === "still_invalid")
        return c.json({ error: "still_invalid", message: `The record is still refused and stays parked: ${result.reason}` }, 422);
      const { summary, removed } = result;
      const outcome = summary.accepted > 0 ? "accepted" : summary.duplicate > 0 ? "duplicate" : summary.parked > 0 ? "parked" : "ignored";
      return c.json({
        type: "replayed",
        outcome,
        removed,
        ...sinkReply(summary),
        ...(summary.acceptedKeys.length === 1 ? { key: summary.acceptedKeys[0] } : {}),
      });
    },
  );
  app.delete(
    "/dead-letters/:id",
    documented({
      tags: ["admin"],
      summary: "Forget a parked record",
      bearer,
      parameters: idParam,
      responses: { 204: { description: "Forgotten" }, 400: refusal("Not an id"), 404: refusal("No such dead letter"), ...unauthorized },
    }),
    async (c) => {
      const removed = await deps.ledger.removeDeadLetter(c.req.param("id"));
      return removed ? c.body(null, 204) : c.json(notFound, 404);
    },
  );
  app.get(
    "/stats",
    documented({
      tags: ["admin"],
      summary: "Ledger counts, what was ingested since start, the state of running ingresses",
      bearer,
      responses: { 200: reply(StatsSchema, "The figures"), ...unauthorized },
    }),
    async (c) =>
      c.json({
        ledger: await deps.ledger.counts(),
        sinceStart: deps.stats(),
        ingresses: Object.fromEntries([...deps.ingresses()].map(([name, ingress]) => [name, ingress.state()])),
      }),
  );
  return app;
}
