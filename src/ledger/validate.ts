import type { CommitBatch, WorkRecord } from "./ledger.ts";
import type { ReportInput } from "../port/calls.ts";

/**
 * Input the ledger refuses before writing anything: a programmer error in the caller, never cured by
 * retrying. Every implementation checks a whole batch up front, so a refused batch leaves no trace.
 */
export class LedgerInputError extends Error {
  override readonly name = "LedgerInputError";
  readonly retriable = false;
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

const kinds = new Set(["run", "change"]);
const callKinds = new Set(["log", "update", "entity"]);

function text(value: unknown, field: string, allowEmpty = true): void {
  if (typeof value !== "string" || (!allowEmpty && value.length === 0)) {
    throw new LedgerInputError(`${field} must be a ${allowEmpty ? "" : "non-empty "}string`, field);
  }
}

function record(r: WorkRecord, i: number): void {
  const at = `records[${i}]`;
  text(r.key, `${at}.key`, false);
  if (!kinds.has(r.kind)) throw new LedgerInputError(`${at}.kind must be "run" or "change"`, `${at}.kind`);
  text(r.body, `${at}.body`);
  text(r.source, `${at}.source`);
  if (r.lane !== null) text(r.lane, `${at}.lane`);
}

/** Checks reports and returns their calls as JSON text (the form every store keeps). */
export function checkReports(reports: ReportInput[], at = "reports"): string[] {
  return reports.map((r, i) => {
    text(r.runId, `${at}[${i}].runId`, false);
    if (typeof r.call !== "object" || r.call === null || !callKinds.has(r.call.kind)) {
      throw new LedgerInputError(`${at}[${i}].call.kind must be "log", "update" or "entity"`, `${at}[${i}].call`);
    }
    return JSON.stringify(r.call);
  });
}

/** Checks a commit batch; returns the report calls as JSON text. */
export function checkBatch(batch: CommitBatch): string[] {
  batch.records.forEach(record);
  batch.deadLetters.forEach((d, i) => {
    const at = `deadLetters[${i}]`;
    if (!kinds.has(d.kind)) throw new LedgerInputError(`${at}.kind must be "run" or "change"`, `${at}.kind`);
    text(d.reason, `${at}.reason`);
    text(d.source, `${at}.source`);
    text(d.raw, `${at}.raw`);
    if (d.runId !== null) text(d.runId, `${at}.runId`);
  });
  return checkReports(batch.reports);
}

export function checkTime(value: number, field: string): void {
  if (!Number.isSafeInteger(value)) throw new LedgerInputError(`${field} must be an integer (epoch milliseconds)`, field);
}

/**
 * Ids of reports and dead letters are decimal sequence numbers as text, the same in every store, so
 * `after` cursors sort by parking order. Anything else is an id no store ever issued.
 */
export function parseId(id: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  const n = Number(id);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The `after` cursor of `listDeadLetters`: 0 when absent. */
export function parseCursor(after: string | undefined): number {
  if (after === undefined) return 0;
  const n = parseId(after);
  if (n === undefined) throw new LedgerInputError(`after must be a dead-letter id, got ${JSON.stringify(after)}`, "after");
  return n;
}

export const defaultListLimit = 100;
