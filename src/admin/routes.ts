import { Hono } from "hono";
import type { Ledger } from "../ledger/ledger.ts";
import { LedgerInputError } from "../ledger/validate.ts";
import type { IngestStats } from "../pipeline/ingest.ts";
import type { ReplayResult } from "../pipeline/replay.ts";
import type { IngressStatus } from "../service.ts";
import { sinkReply } from "../ingress/sink.ts";
import * as v from "valibot";
import { NO_SUCH_RUN, RUN_LIST_MAX, RUN_PHASES, RunListSchema, type RunHistory, RunStorySchema } from "../observe/run-history.ts";
import { DeadLetterPageSchema, DeadLetterSchema, documented, ReplayReplySchema, refusal, reply, StatsSchema } from "../api-schemas.ts";
import { RECORD_OUTCOMES } from "../pipeline/accept.ts";

/** GET /admin/runs's query, read as a run history filter. */
const RunFilterSchema = v.object({
  action: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  status: v.optional(v.picklist(RUN_PHASES, `must be one of ${RUN_PHASES.join(", ")}`)),
  since: v.optional(v.pipe(v.string(), v.regex(/^\d{1,16}$/, "must be epoch milliseconds"), v.transform(Number))),
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,4}$/, `must be a number from 1 to ${RUN_LIST_MAX}`),
      v.transform(Number),
      v.minValue(1, "must be at least 1"),
      v.maxValue(RUN_LIST_MAX, `must be at most ${RUN_LIST_MAX}`),
    ),
  ),
  before: v.optional(v.pipe(v.string(), v.regex(/^\d{1,16}$/, "must be the `next` of an earlier page"))),
});

/**
 * Operator endpoints (behind ADMIN_TOKEN): runs, parked records and counts.
 *   GET    /admin/runs?action=&status=&since=&limit=&before=   runs, newest first
 *   GET    /admin/runs/:id                     one run's story
 *   GET    /admin/dead-letters?limit=&after=   list, oldest first, without the records' bytes (their size)
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
  history: RunHistory;
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
      summary: "Parked records, oldest first, without their bytes (read one for them)",
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
      const outcome = RECORD_OUTCOMES.find((o) => summary[o] > 0) ?? "ignored";
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
    "/runs",
    documented({
      tags: ["admin"],
      summary: "Runs, newest first, from the ledger (as long as RETENTION_HOURS keeps them)",
      bearer,
      parameters: [
        { name: "action", in: "query", schema: { type: "string" }, description: "Only this action" },
        { name: "status", in: "query", schema: { type: "string", enum: [...RUN_PHASES] }, description: "Only runs in this phase" },
        { name: "since", in: "query", schema: { type: "integer", minimum: 0 }, description: "Received at or after (epoch ms)" },
        { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: RUN_LIST_MAX }, description: "At most this many (default 100)" },
        { name: "before", in: "query", schema: { type: "string", pattern: "^[0-9]{1,16}$" }, description: "The `next` of the previous page" },
      ],
      responses: { 200: reply(RunListSchema, "The runs, without their events"), 400: refusal("A filter that is not one"), ...unauthorized },
    }),
    async (c) => {
      const filter = v.safeParse(RunFilterSchema, c.req.query());
      if (!filter.success) return c.json({ error: "bad_request", message: `${v.getDotPath(filter.issues[0]) ?? "query"}: ${filter.issues[0].message}` }, 400);
      const { status, ...rest } = filter.output;
      return c.json(await deps.history.list({ ...rest, ...(status ? { phase: status } : {}) }));
    },
  );
  app.get(
    "/runs/:id",
    documented({
      tags: ["admin"],
      summary: "One run's story: received, started, Port's answers, how it ended",
      bearer,
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" }, description: "The run id" }],
      responses: { 200: reply(RunStorySchema, "The run"), 404: refusal("No run with this id in the ledger"), ...unauthorized },
    }),
    async (c) => {
      const story = await deps.history.get(c.req.param("id"));
      return story ? c.json(story) : c.json({ error: "not_found", message: NO_SUCH_RUN }, 404);
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
