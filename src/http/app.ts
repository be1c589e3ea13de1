import { Hono } from "hono";
import { openAPIRouteHandler } from "hono-openapi";
import { HTTPException } from "hono/http-exception";
import { documented, HealthSchema, ReadinessSchema, reply } from "./schemas.ts";
import { adminRoutes, type LocalDeps } from "./admin.ts";
import { requireBearer } from "./auth.ts";
import type { Secret } from "../config.ts";
import { sinkRoutes } from "../ingress/sink.ts";
import { type WebhookDeps, webhookRoutes } from "../ingress/webhook.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { LedgerInputError } from "../ledger/validate.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { RunHistory } from "../observe/run-history.ts";
import { consoleRoutes } from "./console/routes.ts";
import type { Ingest, IngestStats } from "../pipeline/ingest.ts";
import type { ReplayResult } from "../pipeline/replay.ts";
import type { Status } from "../observe/status.ts";
import { refusalResponse, refusals, refuse } from "./refusals.ts";

/**
 * portside's HTTP surface as a Hono app built on Web standards only: it runs on Bun (the product
 * runtime) and on Deno. Everything runtime-specific (serving, SQLite, signals) stays in the entry points.
 */
export interface AppDeps {
  ledger: Ledger;
  ingest: Ingest;
  replay: (deadLetterId: string) => Promise<ReplayResult>;
  stats: () => IngestStats;
  /** How this portside is doing: /healthz, /readyz, /admin/stats, the console's health panel. */
  status: Status;
  logger: Logger;
  sinkToken: Secret | null;
  /** Null: /admin is off, unless `open` (local use), where it needs no token. */
  adminToken: Secret | null;
  open: boolean;
  bodyLimitBytes: number;
  isShuttingDown: () => boolean;
  metrics: Metrics;
  /** Metrics served apart on METRICS_PORT (then not here). */
  metricsApart: boolean;
  /** Runs' stories (GET /admin/runs, the console). */
  history: RunHistory;
  /** Actions with a handler or route (the console's filter). */
  actions: readonly string[];
  /** How long a console session lasts (CONSOLE_SESSION_HOURS). */
  consoleSessionMs: number;
  /** Open mode (local use): what GET /admin/local tells `portside trigger`, and the console's form to send a run. Null otherwise. */
  local: LocalDeps | null;
  /** Port's signed webhooks (/webhooks/port); null: off (PORT_WEBHOOKS unset). */
  webhook: Omit<WebhookDeps, "ingest" | "bodyLimitBytes" | "isShuttingDown" | "logger"> | null;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  app.get(
    "/healthz",
    documented({
      tags: ["health"],
      summary: "Liveness: the process answers, and no running ingress failed in a way only a restart may cure",
      responses: { 200: reply(HealthSchema, "Alive"), 503: reply(HealthSchema, "Restart me, and why") },
    }),
    (c) => {
      const verdict = deps.status.liveness();
      return c.json(verdict, verdict.ok ? 200 : 503);
    },
  );
  app.get(
    "/readyz",
    documented({
      tags: ["health"],
      summary: "Readiness: the ledger answers, every running ingress is ready, not shutting down",
      responses: { 200: reply(ReadinessSchema, "Ready"), 503: reply(ReadinessSchema, "Not ready, and why") },
    }),
    async (c) => {
      const verdict = await deps.status.readiness();
      return c.json(verdict, verdict.ok ? 200 : 503);
    },
  );

  if (!deps.metricsApart) {
    if (deps.adminToken || deps.open) {
      app.use("/metrics", requireBearer(deps.adminToken, { realm: "metrics", variable: "ADMIN_TOKEN", who: "your scraper's Authorization header" }));
      app.route("/", metricsRoutes(deps.metrics, deps.adminToken ? "adminToken" : null));
    } else
      app.get("/metrics", documented({ tags: ["operations"], summary: "Prometheus metrics (off)", responses: refusals("metrics_disabled") }), () =>
        refuse("metrics_disabled"),
      );
  }

  if (deps.sinkToken || deps.open) {
    app.use("/sink/*", requireBearer(deps.sinkToken, { realm: "sink", variable: "SINK_TOKEN", who: "the connector's Authorization header" }));
    app.route("/sink", sinkRoutes({ ...deps, sinkTokenRequired: deps.sinkToken !== null }));
  } else app.all("/sink/*", () => refuse("sink_disabled"));

  if (deps.webhook)
    app.route(
      "/webhooks",
      webhookRoutes({ ...deps.webhook, ingest: deps.ingest, bodyLimitBytes: deps.bodyLimitBytes, isShuttingDown: deps.isShuttingDown, logger: deps.logger }),
    );
  else app.all("/webhooks/*", () => refuse("webhooks_disabled"));

  if (deps.adminToken || deps.open) {
    app.use("/admin/*", requireBearer(deps.adminToken, { realm: "admin", variable: "ADMIN_TOKEN", who: "your Authorization header" }));
    app.route("/admin", adminRoutes({ ...deps, bearer: deps.adminToken ? "adminToken" : null }));
    app.route("/console", consoleRoutes(deps));
  } else {
    app.all("/admin/*", () => refuse("admin_disabled"));
  }

  app.get("/openapi.json", openApiDocument(app, deps));

  app.notFound(() => refusalResponse("not_found"));
  // The one place a refusal becomes an answer: every route raises its refusals (refusals.ts).
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    if (error instanceof LedgerInputError) return refusalResponse("bad_request", `${error.field}: ${error.message}`);
    deps.logger.error("http.unhandled", { path: new URL(c.req.url).pathname, error });
    return refusalResponse("internal");
  });
  return app;
}

/** `GET /metrics` in Prometheus's text exposition format; also the whole app on METRICS_PORT. */
export function metricsRoutes(metrics: Metrics, bearer: "adminToken" | null = null): Hono {
  const app = new Hono();
  app.get(
    "/metrics",
    documented({
      tags: ["operations"],
      summary: "Prometheus metrics (text exposition format)",
      bearer,
      responses: {
        200: { description: "The metrics", content: { "text/plain": { schema: { type: "string" } } } },
        ...refusals(bearer && "unauthorized"),
      },
    }),
    async (c) => c.body(await metrics.scrape(), 200, { "content-type": metrics.contentType }),
  );
  return app;
}

/** `GET /openapi.json`: the OpenAPI 3.1 document of this app, generated from the routes' valibot schemas. */
function openApiDocument(app: Hono, deps: AppDeps) {
  const bearer = { type: "http" as const, scheme: "bearer" };
  return openAPIRouteHandler(app, {
    documentation: {
      openapi: "3.1.0",
      info: {
        title: "portside",
        version: "0.1.0",
        description: "Runs your code for Port self-service actions and catalog changes; fed by a Kafka Connect HTTP sink.",
      },
      components: {
        securitySchemes: {
          ...(deps.sinkToken ? { sinkToken: { ...bearer, description: "SINK_TOKEN, sent by the connector" } } : {}),
          ...(deps.adminToken ? { adminToken: { ...bearer, description: "ADMIN_TOKEN, for operators" } } : {}),
        },
      },
    },
    // The console is HTML for people; the document is the machine interface.
    exclude: ["/openapi.json", /^\/console/],
  });
}
