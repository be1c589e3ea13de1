import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { WorkKind } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import { splitSinkBody } from "../messages/index.ts";
import type { Acceptor, AcceptSummary } from "../pipeline/accept.ts";

/**
 * The Kafka Connect HTTP sink ingress: `POST /sink/runs` and `POST /sink/changes`. The body may be one
 * JSON value, a JSON array of values or newline-delimited values (Aiven's batches), with or without a
 * Content-Type. The answer is 2xx only once every record is recorded in the ledger (accepted, duplicate
 * or parked); 5xx only for trouble a resend can cure, because connectors resend the whole request.
 */
/** What the sink has recorded since this process started (served by /admin/stats). */
export interface SinkCounters {
  requests: number;
  records: number;
  accepted: number;
  duplicate: number;
  parked: number;
}

export const newSinkCounters = (): SinkCounters => ({ requests: 0, records: 0, accepted: 0, duplicate: 0, parked: 0 });

export interface SinkDeps {
  counters: SinkCounters;
  acceptor: Acceptor;
  logger: Logger;
  bodyLimitBytes: number;
  /** Called after a commit: wakes the executor (new work) and the reporter (rejections to report). */
  onCommitted: (summary: AcceptSummary) => void;
  /** In the synchronous ack mode: resolves when the accepted keys have finished (or the wait is cut short). */
  waitFor?: (keys: string[]) => Promise<void>;
  isShuttingDown: () => boolean;
}

export function sinkRoutes(deps: SinkDeps): Hono {
  const app = new Hono();
  const limit = bodyLimit({
    maxSize: deps.bodyLimitBytes,
    onError: (c) =>
      c.json(
        {
          error: "body_too_large",
          message: `The request body is larger than ${deps.bodyLimitBytes} bytes (BODY_LIMIT_BYTES). Lower the connector's batch size (e.g. batch.max.size) or raise BODY_LIMIT_BYTES.`,
        },
        413,
      ),
  });
  const route = (kind: WorkKind, path: string, source: string) =>
    app.post(path, limit, async (c) => {
      if (deps.isShuttingDown()) {
        c.header("Retry-After", "5");
        return c.json({ error: "shutting_down", message: "portside is shutting down; resend this request (nothing in it was recorded)." }, 503);
      }
      const text = await c.req.text();
      const { records } = splitSinkBody(text);
      let summary: AcceptSummary;
      try {
        summary = await deps.acceptor.accept(kind, records, source);
      } catch (error) {
        deps.logger.error("sink.ledger_unavailable", { source, records: records.length, error });
        c.header("Retry-After", "1");
        return c.json({ error: "ledger_unavailable", message: "The ledger could not record this request, so nothing in it was accepted; resend it." }, 503);
      }
      const n = deps.counters;
      n.requests++;
      n.records += summary.records;
      n.accepted += summary.accepted;
      n.duplicate += summary.duplicate;
      n.parked += summary.parked;
      deps.onCommitted(summary);
      if (summary.parked > 0) deps.logger.warn("sink.parked", { source, parked: summary.parked, reasons: summary.parkedReasons.slice(0, 5) });
      if (deps.waitFor && summary.acceptedKeys.length > 0) await deps.waitFor(summary.acceptedKeys);
      const { acceptedKeys: _keys, parkedReasons, ...counts } = summary;
      return c.json({ ...counts, ...(parkedReasons.length > 0 ? { parkedReasons } : {}) }, 200);
    });
  route("run", "/runs", "sink/runs");
  route("change", "/changes", "sink/changes");
  return app;
}
