import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { adminRoutes } from "./admin/routes.ts";
import { requireBearer } from "./auth.ts";
import type { Secret } from "./config.ts";
import { sinkRoutes } from "./ingress/sink.ts";
import type { Ledger } from "./ledger/ledger.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { Ingest, IngestStats } from "./pipeline/ingest.ts";
import type { ReplayResult } from "./pipeline/replay.ts";
import type { IngressStatus } from "./service.ts";

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
  ingresses: () => ReadonlyMap<string, IngressStatus>;
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
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", async (c) => {
    if (deps.isShuttingDown()) return c.json({ ok: false, reason: "shutting down" }, 503);
    for (const [name, ingress] of deps.ingresses()) if (!ingress.ready()) return c.json({ ok: false, reason: `${name} not ready` }, 503);
    try {
      await deps.ledger.counts();
      return c.json({ ok: true });
    } catch {
      return c.json({ ok: false, reason: "ledger unavailable" }, 503);
    }
  });

  if (!deps.metricsApart) {
    if (deps.adminToken || deps.open) {
      app.use("/metrics", requireBearer(deps.adminToken, { realm: "metrics", variable: "ADMIN_TOKEN", who: "your scraper's Authorization header" }));
      app.route("/", metricsRoutes(deps.metrics));
    } else
      app.get("/metrics", (c) =>
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
  app.route("/sink", sinkRoutes(deps));

  if (deps.adminToken || deps.open) {
    app.use("/admin/*", requireBearer(deps.adminToken, { realm: "admin", variable: "ADMIN_TOKEN", who: "your Authorization header" }));
    app.route("/admin", adminRoutes(deps));
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
export function metricsRoutes(metrics: Metrics): Hono {
  const app = new Hono();
  app.get("/metrics", async (c) => c.body(await metrics.registry.metrics(), 200, { "content-type": metrics.registry.contentType }));
  return app;
}
