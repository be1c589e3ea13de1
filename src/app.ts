import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { adminRoutes } from "./admin/routes.ts";
import { requireBearer } from "./auth.ts";
import type { Secret } from "./config.ts";
import { newSinkCounters, sinkRoutes } from "./ingress/sink.ts";
import type { Ledger } from "./ledger/ledger.ts";
import type { Logger } from "./log.ts";
import type { Acceptor, AcceptSummary } from "./pipeline/accept.ts";

/**
 * portside's HTTP surface as a Hono app built on Web standards only: it runs on Bun (the product
 * runtime) and on Deno. Everything runtime-specific (serving, SQLite, signals) stays in the entry points.
 */
export interface AppDeps {
  ledger: Ledger;
  acceptor: Acceptor;
  logger: Logger;
  clock: () => number;
  sinkToken: Secret | null;
  adminToken: Secret | null;
  bodyLimitBytes: number;
  /** Called after each commit (wakes the executor and the reporter). */
  onCommitted: (summary: AcceptSummary) => void;
  /** Synchronous ack mode: wait for the handlers before answering. */
  waitFor?: (keys: string[]) => Promise<void>;
  isShuttingDown: () => boolean;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const counters = newSinkCounters();

  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", async (c) => {
    if (deps.isShuttingDown()) return c.json({ ok: false, reason: "shutting down" }, 503);
    try {
      await deps.ledger.counts();
      return c.json({ ok: true });
    } catch {
      return c.json({ ok: false, reason: "ledger unavailable" }, 503);
    }
  });

  app.use("/sink/*", requireBearer(deps.sinkToken, "sink"));
  app.route("/sink", sinkRoutes({ ...deps, counters }));

  app.use("/admin/*", requireBearer(deps.adminToken, "admin"));
  app.route("/admin", adminRoutes({ ...deps, counters }));

  app.notFound((c) =>
    c.json(
      { error: "not_found", message: `No route for ${c.req.method} ${new URL(c.req.url).pathname}. Connectors post to /sink/runs and /sink/changes.` },
      404,
    ),
  );
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    deps.logger.error("http.unhandled", { path: new URL(c.req.url).pathname, error });
    return c.json({ error: "internal", message: "portside hit an unexpected error; nothing in this request was acknowledged, so resend it." }, 500);
  });
  return app;
}
