import { Hono } from "hono";
import type { Ledger } from "../ledger/ledger.ts";
import { LedgerInputError } from "../ledger/validate.ts";
import type { IngestStats } from "../pipeline/ingest.ts";
import type { ReplayResult } from "../pipeline/replay.ts";
import type { IngressStatus } from "../service.ts";
import { sinkReply } from "../ingress/sink.ts";

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
}): Hono {
  const app = new Hono();
  const notFound = { error: "not_found", message: "No parked record has this id (list them with GET /admin/dead-letters)." };
  app.onError((error, c) => {
    if (error instanceof LedgerInputError) return c.json({ error: "bad_request", message: `${error.field}: ${error.message}` }, 400);
    throw error;
  });
  app.get("/dead-letters", async (c) => {
    const limit = Math.min(Math.max(Number(c.req.query("limit") ?? 100) || 100, 1), 1000);
    const after = c.req.query("after");
    const items = await deps.ledger.listDeadLetters(after ? { limit, after } : { limit });
    return c.json({ items, next: items.length === limit ? items.at(-1)?.id : null });
  });
  app.get("/dead-letters/:id", async (c) => {
    const letter = await deps.ledger.getDeadLetter(c.req.param("id"));
    return letter ? c.json(letter) : c.json(notFound, 404);
  });
  app.post("/dead-letters/:id/replay", async (c) => {
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
  });
  app.delete("/dead-letters/:id", async (c) => {
    const removed = await deps.ledger.removeDeadLetter(c.req.param("id"));
    return removed ? c.body(null, 204) : c.json(notFound, 404);
  });
  app.get("/stats", async (c) =>
    c.json({
      ledger: await deps.ledger.counts(),
      sinceStart: deps.stats(),
      ingresses: Object.fromEntries([...deps.ingresses()].map(([name, ingress]) => [name, ingress.state()])),
    }),
  );
  return app;
}
