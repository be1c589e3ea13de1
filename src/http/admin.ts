import { Hono } from "hono";
import type { Ledger } from "../ledger/ledger.ts";
import type { IngestStats } from "../pipeline/ingest.ts";
import type { ReplayResult } from "../pipeline/replay.ts";
import { sinkReply } from "../ingress/sink.ts";
import * as v from "valibot";
import { validator } from "hono-openapi";
import { firstIssue } from "../messages/issues.ts";
import { RUN_LIST_MAX, RUN_PHASES, RunListSchema, type RunHistory, RunStorySchema } from "../observe/run-history.ts";
import type { Status } from "../observe/status.ts";
import { refusals, refuse } from "./refusals.ts";
import { DeadLetterPageSchema, DeadLetterSchema, documented, ReplayReplySchema, reply, StatsSchema } from "./schemas.ts";
import { RECORD_OUTCOMES } from "../pipeline/accept.ts";

/** GET /admin/runs's query, read as a run history filter: validated and documented from this one schema. */
const RunFilterSchema = v.object({
  action: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"), v.description("Only this action"))),
  status: v.optional(v.pipe(v.picklist(RUN_PHASES, `must be one of ${RUN_PHASES.join(", ")}`), v.description("Only runs in this phase"))),
  since: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,16}$/, "must be epoch milliseconds"), v.description("Received at or after (epoch ms)"), v.transform(Number)),
  ),
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,4}$/, `must be a number from 1 to ${RUN_LIST_MAX}`),
      v.transform(Number),
      v.minValue(1, "must be at least 1"),
      v.maxValue(RUN_LIST_MAX, `must be at most ${RUN_LIST_MAX}`),
    ),
  ),
  before: v.optional(v.pipe(v.string(), v.regex(/^\d{1,16}$/, "must be the `next` of an earlier page"), v.description("The `next` of the previous page"))),
});

/** What a portside started open for local use says of itself (GET /admin/local). */
export interface LocalDeps {
  orgId: string;
  /** Port is the local emulator (no Port credentials): runs made up here can be reported. */
  emulated: boolean;
  /** The actions with a handler or route (kept up to date when `portside dev` loads the module again). */
  actions: readonly string[];
}

export const LocalSchema = v.object({
  orgId: v.pipe(v.string(), v.description("The organisation run messages must name (ORG_ID)")),
  portEmulator: v.pipe(v.boolean(), v.description("Port is the local emulator, which takes runs it never issued")),
  actions: v.pipe(v.array(v.string()), v.description("Actions with a handler or route")),
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
 *   GET    /admin/local                        open mode only: the organisation, whether Port is the emulator, the actions
 * Answers never repeat a value from the request.
 */
export function adminRoutes(deps: {
  ledger: Ledger;
  replay: (id: string) => Promise<ReplayResult>;
  stats: () => IngestStats;
  status: Status;
  /** The security scheme the OpenAPI document names (null in open mode, where none is asked). */
  bearer: "adminToken" | null;
  history: RunHistory;
  /** Open mode only: what `portside trigger` needs to make up a run for this portside (GET /admin/local). */
  local: LocalDeps | null;
}): Hono {
  const app = new Hono();
  const { bearer } = deps;
  const unauthorized = bearer && "unauthorized";
  const idParam = [
    { name: "id", in: "path" as const, required: true, schema: { type: "string" as const, pattern: "^[1-9][0-9]{0,15}$" }, description: "A dead letter's id" },
  ];
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
      responses: { 200: reply(DeadLetterPageSchema, "A page of dead letters"), ...refusals("bad_request", unauthorized) },
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
      responses: { 200: reply(DeadLetterSchema, "The dead letter"), ...refusals("bad_request", "no_dead_letter", unauthorized) },
    }),
    async (c) => c.json((await deps.ledger.getDeadLetter(c.req.param("id"))) ?? refuse("no_dead_letter")),
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
        ...refusals("bad_request", "no_dead_letter", "still_invalid", "ledger_unavailable", unauthorized),
      },
    }),
    async (c) => {
      const result = await deps.replay(c.req.param("id"));
      if (result.type === "not_found") refuse("no_dead_letter");
      if (result.type === "still_invalid") refuse("still_invalid", `The record is still refused and stays parked: ${result.reason}`);
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
      responses: { 204: { description: "Forgotten" }, ...refusals("bad_request", "no_dead_letter", unauthorized) },
    }),
    async (c) => ((await deps.ledger.removeDeadLetter(c.req.param("id"))) ? c.body(null, 204) : refuse("no_dead_letter")),
  );
  app.get(
    "/runs",
    documented({
      tags: ["admin"],
      summary: "Runs, newest first, from the ledger (as long as RETENTION_HOURS keeps them)",
      bearer,
      responses: { 200: reply(RunListSchema, "The runs, without their events"), ...refusals("bad_request", unauthorized) },
    }),
    validator("query", RunFilterSchema, (result) => {
      if (!result.success) {
        const { path, message } = firstIssue(result.error as never);
        refuse("bad_request", `${path ?? "query"}: ${message}`);
      }
    }),
    async (c) => {
      const { status, ...rest } = c.req.valid("query");
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
      responses: { 200: reply(RunStorySchema, "The run"), ...refusals("no_run", unauthorized) },
    }),
    async (c) => c.json((await deps.history.get(c.req.param("id"))) ?? refuse("no_run")),
  );
  const { local } = deps;
  if (local)
    app.get(
      "/local",
      documented({
        tags: ["admin"],
        summary: "Open mode only: this portside's organisation, whether Port is its local emulator, and the actions it handles (what `portside trigger` needs)",
        bearer,
        responses: { 200: reply(LocalSchema, "This local portside"), ...refusals(unauthorized) },
      }),
      (c) => c.json({ orgId: local.orgId, portEmulator: local.emulated, actions: [...local.actions] }),
    );
  app.get(
    "/stats",
    documented({
      tags: ["admin"],
      summary: "Ledger counts, what was ingested since start, the state of running ingresses",
      bearer,
      responses: { 200: reply(StatsSchema, "The figures"), ...refusals(unauthorized) },
    }),
    async (c) => {
      const snapshot = await deps.status.snapshot();
      return c.json({
        ledger: snapshot.ledger.counts,
        sinceStart: deps.stats(),
        ingresses: Object.fromEntries(snapshot.ingresses.map(({ name, state }) => [name, state])),
        portAuth: snapshot.portAuth,
      });
    },
  );
  return app;
}
