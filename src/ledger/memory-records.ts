import type { PortCall } from "../port/calls.ts";
import { type ClaimedWork, type ReportRecord, type RunRecord, runIdOfKey, type WorkEnd, type WorkRecord } from "./ledger.ts";

/** The memory ledger's records (items of work, reports, a run's outbox) and how they read as the ledger's answers. */

export type ItemState = "pending" | "waiting" | "running" | "done";
export interface Item {
  seq: number;
  record: WorkRecord;
  state: ItemState;
  attempt: number;
  owner: string | null;
  leaseUntil: number;
  acceptedAt: number;
  finishedAt: number;
  startedAt: number | null;
  ended: WorkEnd | null;
}
export interface Report {
  seq: number;
  runId: string;
  createdAt: number;
  /** Kept as JSON text, as the durable stores do, so callers never share objects with the ledger. */
  call: string;
  /** It tells Port how the run ended (a status update): the run history's `statusReport`. */
  terminal: boolean;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  dueAt: number;
  settledAt: number;
  error: string | null;
}
/** The outbox of one run: its undelivered reports in order, and the lease of the reporter on it. */
export interface Outbox {
  pending: Report[];
  leaseUntil: number;
  owner: string | null;
  /** Seq of the last report handed out under the current lease; settling it ends the lease. */
  claimedTo: number;
  /** When the run's reports started to wait (the outbox was opened). */
  since: number;
}

export function claimed(item: Item): ClaimedWork {
  const { key, kind, body, source, lane } = item.record;
  return { key, kind, body, source, lane, attempt: item.attempt, acceptedAt: item.acceptedAt };
}

/** A run as the history shows it; `statusReport`: the latest of its reports that tells Port its status. */
export function runRecord(item: Item, statusReport: Report | undefined): RunRecord {
  const { record } = item;
  return {
    runId: runIdOfKey(record.key) ?? record.key,
    seq: item.seq,
    action: record.action ?? null,
    source: record.source,
    requestId: record.requestId ?? null,
    state: item.state === "waiting" ? "pending" : item.state,
    attempt: item.attempt,
    acceptedAt: item.acceptedAt,
    startedAt: item.startedAt,
    finishedAt: item.state === "done" ? item.finishedAt : null,
    status: item.ended?.status ?? null,
    summary: item.ended?.summary ?? null,
    statusReport: statusReport ? { state: statusReport.state, attempts: statusReport.attempts, error: statusReport.error } : null,
  };
}

export function reportRecord(r: Report): ReportRecord {
  return {
    call: JSON.parse(r.call) as PortCall,
    state: r.state,
    attempts: r.attempts,
    createdAt: r.createdAt,
    settledAt: r.state === "pending" ? null : r.settledAt,
    error: r.error,
  };
}
