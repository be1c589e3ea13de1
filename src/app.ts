import { Hono } from "hono";
import { openAPIRouteHandler } from "hono-openapi";
import { documented, HealthSchema, ReadinessSchema, refusal, reply } from "./api-schemas.ts";
import { HTTPException } from "hono/http-exception";
import { adminRoutes } from "./admin/routes.ts";
import { requireBearer } from "./auth.ts";
import type { Secret } from "./config.ts";
import { sinkRoutes } from "./ingress/sink.ts";
import type { Ledger } from "./ledger/ledger.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { RunHistory } from "./observe/run-history.ts";
import type { HealthView } from "./console/pages.ts";
import { consoleRoutes } from "./console/routes.ts";
import type { Ingest, IngestStats } from "./pipeline/ingest.ts";
import type { ReplayResult } from "./pipeline/replay.ts";
import type { IngressName, IngressStatus } from "./service.ts";

/**
 * portside's HTTP surface as a Hono app built on Web standards only: it runs on Bun (the product
 * runtime) and on Deno. Everything runtime-specific (serving, SQLite, signals) stays in the entry points.
 */
export interface AppDeps {
  ledger: Ledger;
  ingest: Ingest;
  replay: (deadLetterId: string) => Promise<ReplayResult>;
  stats: () => IngestStats;
  /** Ingresses running on their own (the Kafka consumer): part of readiness and stats. */
  ingresses: () => ReadonlyMap<IngressName, IngressStatus>;
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
  /** The console's health panel. */
  health: () => Promise<HealthView>;
  /** Actions with a handler or route (the console's filter). */
  actions: readonly string[];
  /** How long a console session lasts (CONSOLE_SESSION_HOURS). */
  consoleSessionMs: number;
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
      for (const [name, ingress] of deps.ingresses()) {
        if (!ingress.live()) return c.json({ ok: false, reason: `${name} has not recovered; restart portside` }, 503);
      }
      return c.json({ ok: true });
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
      if (deps.isShuttingDown()) return c.json({ ok: false, reason: "shutting down" }, 503);
      for (const [name, ingress] of deps.ingresses()) if (!ingress.ready()) return c.json({ ok: false, reason: `${name} not ready` }, 503);
      try {
        await deps.ledger.counts();
        return c.json({ ok: true });
      } catch {
        return c.json({ ok: false, reason: "ledger unavailable" }, 503);
      }
    },
  );

  if (!deps.metricsApart) {
    if (deps.adminToken || deps.open) {
      app.use("/metrics", requireBearer(deps.adminToken, { realm: "metrics", variable: "ADMIN_TOKEN", who: "your scraper's Authorization header" }));
      app.route("/", metricsRoutes(deps.metrics, deps.adminToken ? "adminToken" : null));
    } else
      app.get(
        "/metrics",
        documented({ tags: ["operations"], summary: "Prometheus metrics (off)", responses: { 404: refusal("Off: set ADMIN_TOKEN or METRICS_PORT") } }),
        (c) =>
          c.json(
            {
              error: "metrics_disabled",
              message:
                "/metrics is off because ADMIN_TOKEN is not set. Set ADMIN_TOKEN (scrape with it as a bearer token) or METRICS_PORT (served apart, without a token).",
            },
            404,
          ),
      );
  }

  app.use("/sink/*", requireBearer(deps.sinkToken, { realm: "sink", variable: "SINK_TOKEN", who: "the connector's Authorization header" }));
  app.route("/sink", sinkRoutes({ ...deps, sinkTokenRequired: deps.sinkToken !== null }));

  if (deps.adminToken || deps.open) {
    app.use("/admin/*", requireBearer(deps.adminToken, { realm: "admin", variable: "ADMIN_TOKEN", who: "your Authorization header" }));
    app.route("/admin", adminRoutes({ ...deps, bearer: deps.adminToken ? "adminToken" : null }));
    app.route("/console", consoleRoutes(deps));
  } else {
    app.all("/admin/*", (c) =>
      c.json(
        {
          error: "admin_disabled",
          message: "The admin endpoints are off because ADMIN_TOKEN is not set. Set ADMIN_TOKEN (not the SINK_TOKEN) and restart portside to use them.",
        },
        404,
      ),
    );
  }

  app.get("/openapi.json", openApiDocument(app, deps));

  app.notFound((c) =>
    c.json({ error: "not_found", message: "No such route. Connectors post to /sink/runs and /sink/changes; operators use /admin with ADMIN_TOKEN." }, 404),
  );
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    deps.logger.error("http.unhandled", { path: new URL(c.req.url).pathname, error });
    return c.json({ error: "internal", message: "portside hit an unexpected error; nothing in this request was acknowledged, so resend it." }, 500);
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
        ...(bearer ? { 401: refusal("No bearer token, or not ADMIN_TOKEN") } : {}),
      },
    }),
    async (c) => c.body(await metrics.scrape(), 200, { "content-type": metrics.registry.contentType }),
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
