import type { WorkKind } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import type { SinkRecord } from "../messages/index.ts";
import { yieldToEventLoop } from "../shared/time.ts";
import { type AcceptOptions, type Acceptor, type AcceptSummary, addCounts, addSummary, emptySummary, type RecordCounts, zeroCounts } from "./accept.ts";
import { PipelineEvents as E } from "./events.ts";

/**
 * `ingest` is the one call every way in makes — the HTTP sink, a Kafka consumer, a Lambda invocation, a
 * replay — with records it has read: it accepts them into the ledger and does everything that follows a
 * commit (counters, waking the executor and the reporter, the log of parked and unhandled records, the
 * synchronous ack mode's wait). An ingress keeps only its transport: when `ingest` resolves, every record
 * is durably recorded and may be acknowledged; when it throws, the ledger was unavailable and nothing
 * may be acknowledged. It never throws because of what a record contains.
 *
 * Records are accepted in slices with the event loop free in between, so one huge body (200,000 tiny
 * lines) does not stall health checks and other requests; each slice is its own ledger transaction, and
 * the acknowledgement still waits for the last one.
 */
export interface IngestOptions extends AcceptOptions {
  /**
   * Answer once committed whatever ACK_MODE says: ACK_MODE=sync is the sink's and the Kafka consumer's.
   * Polling must acknowledge a claim before it lapses, and a webhook's answer waits only for `sync` handlers.
   */
  ackOnCommit?: boolean;
}

export type Ingest = (kind: WorkKind, records: Iterable<SinkRecord>, source: string, options?: IngestOptions) => Promise<AcceptSummary>;

export interface IngestCounts extends RecordCounts {
  /** Calls of `ingest` (requests, for the sink). */
  requests: number;
}

/** What was ingested since this process started, in all and per source (served by /admin/stats). */
export interface IngestStats extends IngestCounts {
  bySource: Record<string, IngestCounts>;
}

export interface IngestDeps {
  acceptor: Acceptor;
  logger: Logger;
  /**
   * After each committed slice, before the next one is read: what became of its records (metrics),
   * new work for the executor, reports (of parked runs) for the reporter.
   */
  onCommitted: (summary: AcceptSummary, slice: { kind: WorkKind; source: string; requestId: string | undefined }) => void;
  /** The synchronous ack mode: resolves when the accepted keys have finished (or the wait is cut short). */
  waitFor?: (keys: string[]) => Promise<void>;
  /** Records per ledger transaction (default 500). */
  sliceSize?: number;
}

/** How many distinct actions "no handler" is logged for (once each); more are still counted. */
const MAX_LOGGED_ACTIONS = 1_000;

export function createIngest(deps: IngestDeps): { ingest: Ingest; stats(): IngestStats } {
  const sliceSize = deps.sliceSize ?? 500;
  const stats: IngestStats = { ...zero(), bySource: {} };
  const loggedActions = new Set<string>();

  function count(source: string, summary: AcceptSummary): void {
    const perSource = stats.bySource[source] ?? zero();
    stats.bySource[source] = perSource;
    for (const c of [stats, perSource]) {
      c.requests++;
      addCounts(c, summary);
    }
  }

  const ingest: Ingest = async (kind, records, source, options) => {
    const total = emptySummary();
    let slice: SinkRecord[] = [];
    const acceptSlice = async () => {
      let part: AcceptSummary;
      try {
        part = await deps.acceptor.accept(kind, slice, source, options);
      } catch (error) {
        deps.logger.error(E.ledgerUnavailable, { source, records: slice.length, error });
        throw error;
      }
      slice = [];
      addSummary(total, part);
      deps.onCommitted(part, { kind, source, requestId: options?.requestId });
    };
    for (const record of records) {
      slice.push(record);
      if (slice.length >= sliceSize) {
        await acceptSlice();
        await yieldToEventLoop();
      }
    }
    if (slice.length > 0) await acceptSlice();
    count(source, total);
    const request = options?.requestId ? { requestId: options.requestId } : {};
    if (total.parked > 0) deps.logger.warn(E.parked, { source, ...request, parked: total.parked, reasons: total.parkedReasons.slice(0, 5) });
    for (const action of total.unhandledActions) {
      if (loggedActions.has(action) || loggedActions.size >= MAX_LOGGED_ACTIONS) continue;
      loggedActions.add(action);
      deps.logger.info(E.unhandledRun, {
        action,
        note: "no handler or route for this action: its runs are left to other consumers (UNHANDLED_RUNS=fail reports them FAILURE instead); logged once per action",
      });
    }
    if (deps.waitFor && !options?.ackOnCommit && total.acceptedKeys.length > 0) await deps.waitFor(total.acceptedKeys);
    return total;
  };

  return { ingest, stats: () => structuredClone(stats) };
}

function zero(): IngestCounts {
  return { requests: 0, ...zeroCounts() };
}
