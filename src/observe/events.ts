import type { WorkKind } from "../ledger/ledger.ts";
import type { AcceptSummary } from "../pipeline/accept.ts";
import type { PortCall, ReportInput } from "../port/calls.ts";

/**
 * What happens in the pipeline, as typed events: the service emits each step once, and whoever watches
 * (the metrics) subscribes. The pipeline never knows who listens; a listener that throws is cut off from
 * that event, never from the pipeline.
 */
export interface ObservedEvents {
  /** One `ingest` slice committed, per way in (`sink/runs`, `kafka/<topic>`, `lambda/<topic>`, `replay`): what became of its records. */
  ingested: { source: string; kind: WorkKind; summary: AcceptSummary };
  /** One ledger commit, the ack path's durable write. */
  committed: { seconds: number };
  /** A run's handler (or target) ended, or portside failed it: the status Port is told (DEFERRED: the target reports it), and why. */
  runEnded: { runId: string; action: string; status: string; summary: string | null; seconds: number };
  /** A run was recorded in the ledger, to be run: by which way in (`sink/runs`, `webhook`, …). */
  runAccepted: { runId: string; action: string | null; source: string };
  /**
   * Calls to Port about a run were recorded in the ledger's outbox, in the order Port gets them: entity writes,
   * log lines (redacted as Port is told them), the final status. Emitted once recorded, before Port is called.
   */
  runReports: { runId: string; calls: PortCall[] };
  /** A call to Port, by endpoint, and its HTTP status (undefined: no answer). */
  portCall: { endpoint: string; status: number | undefined };
  /** A report Port refused for good (not retried), by the endpoint of its call and Port's status (207: part of a bulk write; 0: none). */
  reportRefused: { endpoint: string; status: number };
  /** EventBridge entries published, sent again, or given up on. */
  eventBridgeEntries: { outcome: "published" | "retried" | "parked"; count: number };
}

export type ObservedEvent = keyof ObservedEvents;

export interface Feed {
  emit<K extends ObservedEvent>(name: K, event: ObservedEvents[K]): void;
  /** Listens to one kind of event; returns the way to stop. */
  on<K extends ObservedEvent>(name: K, listener: (event: ObservedEvents[K]) => void): () => void;
}

export function createFeed(): Feed {
  const listeners = new Map<ObservedEvent, Set<(event: never) => void>>();
  return {
    emit(name, event) {
      for (const listener of listeners.get(name) ?? []) {
        try {
          (listener as (event: ObservedEvents[typeof name]) => void)(event);
        } catch {
          // A watcher's bug must not fail the run or request it watches.
        }
      }
    },
    on(name, listener) {
      const set = listeners.get(name) ?? new Set();
      set.add(listener as (event: never) => void);
      listeners.set(name, set);
      return () => void set.delete(listener as (event: never) => void);
    },
  };
}

/** The feed's `runReports` events for recorded reports: one per run, its calls in order. */
export function emitRunReports(feed: Feed, reports: readonly ReportInput[]): void {
  const byRun = new Map<string, PortCall[]>();
  for (const { runId, call } of reports) {
    const calls = byRun.get(runId);
    if (calls) calls.push(call);
    else byRun.set(runId, [call]);
  }
  for (const [runId, calls] of byRun) feed.emit("runReports", { runId, calls });
}
