import { Hono } from "hono";
import type { SinkCounters } from "../ingress/sink.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { LedgerInputError } from "../ledger/validate.ts";
import type { Acceptor, AcceptSummary } from "../pipeline/accept.ts";
import { replayDeadLetter } from "../pipeline/replay.ts";

/**
 * Operator endpoints (behind ADMIN_TOKEN): parked records and ledger counts.
 *   GET    /admin/dead-letters?limit=&after=   list, oldest first
 *   GET    /admin/dead-letters/:id             one, with its raw bytes
 *   POST   /admin/dead-letters/:id/replay      validate again; accept if valid
 *   DELETE /admin/dead-letters/:id             forget it
 *   GET    /admin/stats                        ledger counts, and what the sink saw since start
 */
export function adminRoutes(deps: {
  ledger: Ledger;
  acceptor: Acceptor;
  clock: () => number;
  counters: SinkCounters;
  onCommitted: (summary: AcceptSummary) => void;
}): Hono {
  const app = new Hono();
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
    return letter ? c.json(letter) : c.json({ error: "not_found", message: `No parked record with id ${c.req.param("id")}.` }, 404);
  });
  app.post("/dead-letters/:id/replay", async (c) => {
    const result = await replayDeadLetter(deps, c.req.param("id"));
    if (result.type === "not_found") return c.json({ error: "not_found", message: `No parked record with id ${c.req.param("id")}.` }, 404);
    if (result.type === "still_invalid")
      return c.json({ error: "still_invalid", message: `The record is still refused and stays parked: ${result.reason}` }, 422);
    deps.onCommitted({
      records: 1,
      accepted: result.outcome === "accepted" ? 1 : 0,
      duplicate: result.outcome === "duplicate" ? 1 : 0,
      parked: 0,
      acceptedKeys: [result.key],
      parkedReasons: [],
    });
    return c.json(result);
  });
  app.delete("/dead-letters/:id", async (c) => {
    const removed = await deps.ledger.removeDeadLetter(c.req.param("id"));
    return removed ? c.body(null, 204) : c.json({ error: "not_found", message: `No parked record with id ${c.req.param("id")}.` }, 404);
  });
  app.get("/stats", async (c) => c.json({ ledger: await deps.ledger.counts(), sinkSinceStart: deps.counters }));
  return app;
}
