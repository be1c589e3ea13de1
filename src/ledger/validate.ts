import * as v from "valibot";
import { PORT_CALL_KINDS, PortCallSchema, type ReportInput } from "../port/calls.ts";
import { type ClaimOptions, type Ledger, type ReportOutcome, WORK_KINDS, type WorkRecord } from "./ledger.ts";
import { firstIssue } from "../messages/issues.ts";

/**
 * Input the ledger refuses before writing anything: a programmer error in the caller, never cured by
 * retrying. Checked in one place (`withInputChecks`) for every store, so a refused batch leaves no trace
 * anywhere and all stores refuse the same things.
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

export const defaultListLimit = 100;

/**
 * Wraps a store so it only ever sees valid input: texts are texts, times are integer epoch ms, counts
 * are whole and not negative. Every factory returns its store through this.
 */
export function withInputChecks(store: Ledger): Ledger {
  return {
    async commit(batch, now) {
      time(now, "now");
      batch.records.forEach(record);
      batch.deadLetters.forEach((d, i) => {
        const at = `deadLetters[${i}]`;
        text(d.key, `${at}.key`, false);
        kind(d.kind, `${at}.kind`);
        text(d.reason, `${at}.reason`);
        text(d.source, `${at}.source`);
        text(d.raw, `${at}.raw`);
        if (d.runId !== null) text(d.runId, `${at}.runId`);
        if (d.rawEncoding !== undefined && d.rawEncoding !== "utf8" && d.rawEncoding !== "base64")
          throw new LedgerInputError(`${at}.rawEncoding must be "utf8" or "base64"`, `${at}.rawEncoding`);
        if (d.claims !== undefined) text(d.claims, `${at}.claims`, false);
        if (d.reports !== undefined) reports(d.reports, `${at}.reports`);
      });
      reports(batch.reports);
      return store.commit(batch, now);
    },
    async claimWork(opts) {
      return store.claimWork({ ...claim(opts), takeExpired: opts.takeExpired !== false });
    },
    async renewWork(keys, owner, leaseMs, now) {
      time(now, "now");
      time(leaseMs, "leaseMs");
      return store.renewWork(keys, owner, leaseMs, now);
    },
    async finishWork(key, owner, list, now, ended) {
      time(now, "now");
      reports(list);
      if (ended !== undefined) {
        text(ended.status, "ended.status", false);
        if (ended.summary !== null) text(ended.summary, "ended.summary");
        if (ended.stack !== undefined && ended.stack !== null) text(ended.stack, "ended.stack");
      }
      return store.finishWork(key, owner, list, now, ended);
    },
    leaseHolders: () => store.leaseHolders(),
    async expireLeases(owners, now) {
      time(now, "now");
      if (!Array.isArray(owners)) throw new LedgerInputError("owners must be an array of owners", "owners");
      owners.forEach((o, i) => {
        text(o, `owners[${i}]`, false);
      });
      return store.expireLeases([...new Set(owners)], now);
    },
    async releaseWork(key, owner) {
      return store.releaseWork(key, owner);
    },
    async appendReports(list, now) {
      time(now, "now");
      reports(list);
      return store.appendReports(list, now);
    },
    async claimReports(opts) {
      const checked = claim(opts);
      const limitRuns = Math.min(count(opts.limitRuns ?? opts.limit), checked.limit);
      return store.claimReports({ ...checked, limitRuns });
    },
    async settleReport(id, outcome: ReportOutcome, now) {
      time(now, "now");
      if (outcome.type === "retry") time(outcome.at, "outcome.at");
      else if (outcome.type !== "delivered" && outcome.type !== "failed") {
        throw new LedgerInputError(`outcome.type must be "delivered", "retry" or "failed"`, "outcome.type");
      }
      return store.settleReport(id, outcome, now);
    },
    async listDeadLetters(opts = {}) {
      parseCursor(opts.after);
      return store.listDeadLetters({ ...opts, limit: count(opts.limit ?? defaultListLimit) });
    },
    getDeadLetter: (id) => store.getDeadLetter(id),
    removeDeadLetter: (id) => store.removeDeadLetter(id),
    async purgeDeadLetters(before) {
      time(before, "before");
      return store.purgeDeadLetters(before);
    },
    async purge(before) {
      time(before, "before");
      return store.purge(before);
    },
    async listRuns(query) {
      if (query.before !== undefined) time(query.before, "before");
      if (query.since !== undefined) time(query.since, "since");
      return store.listRuns({ ...query, limit: count(query.limit), ...(query.scanLimit !== undefined ? { scanLimit: count(query.scanLimit) } : {}) });
    },
    async getRun(runId, opts = {}) {
      text(runId, "runId", false);
      return store.getRun(runId, opts.reportLimit === undefined ? {} : { reportLimit: count(opts.reportLimit) });
    },
    counts: () => store.counts(),
    close: () => store.close(),
    async unsettled(keys, runIds) {
      texts(keys, "keys");
      texts(runIds, "runIds");
      if (keys.length + runIds.length === 0) return { keys: [], runIds: [] };
      return store.unsettled(keys, runIds);
    },
  };
}

function texts(list: unknown, field: string): void {
  if (!Array.isArray(list)) throw new LedgerInputError(`${field} must be an array of strings`, field);
  list.forEach((item, i) => {
    text(item, `${field}[${i}]`, false);
  });
}

function claim(opts: ClaimOptions): ClaimOptions {
  time(opts.now, "now");
  time(opts.leaseMs, "leaseMs");
  text(opts.owner, "owner", false);
  return { ...opts, limit: count(opts.limit) };
}

function count(n: number): number {
  return Number.isFinite(n) ? Math.max(0, Math.floor(n)) : 0;
}

function time(value: number, field: string): void {
  if (!Number.isSafeInteger(value)) throw new LedgerInputError(`${field} must be an integer (epoch milliseconds)`, field);
}

function text(value: unknown, field: string, allowEmpty = true): void {
  if (typeof value !== "string" || (!allowEmpty && value.length === 0)) {
    throw new LedgerInputError(`${field} must be a ${allowEmpty ? "" : "non-empty "}string`, field);
  }
}

function kind(value: unknown, field: string): void {
  if (!(WORK_KINDS as readonly unknown[]).includes(value)) throw new LedgerInputError(`${field} must be one of ${WORK_KINDS.join(", ")}`, field);
}

function record(r: WorkRecord, i: number): void {
  const at = `records[${i}]`;
  text(r.key, `${at}.key`, false);
  kind(r.kind, `${at}.kind`);
  text(r.body, `${at}.body`);
  text(r.source, `${at}.source`);
  if (r.lane !== null) text(r.lane, `${at}.lane`);
  if (r.action !== undefined) text(r.action, `${at}.action`);
  if (r.requestId !== undefined) text(r.requestId, `${at}.requestId`);
}

function reports(list: ReportInput[], field = "reports"): void {
  if (!Array.isArray(list)) throw new LedgerInputError(`${field} must be an array of reports`, field);
  list.forEach((r, i) => {
    text(r.runId, `${field}[${i}].runId`, false);
    const checked = v.safeParse(PortCallSchema, r.call);
    if (!checked.success) {
      const { path, message } = firstIssue(checked.issues);
      throw new LedgerInputError(
        `${field}[${i}].call${path ? `.${path}` : ""}: ${message} (a call is one of: ${PORT_CALL_KINDS.join(", ")})`,
        `${field}[${i}].call`,
      );
    }
  });
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
  if (n === undefined) throw new LedgerInputError("after must be the id of a parked record (a decimal number)", "after");
  return n;
}

/** What every store keeps of a report's call. */
export const callText = (r: ReportInput): string => JSON.stringify(r.call);

/**
 * The size of a parked record in bytes, as it arrived: UTF-8 text is measured without encoding it again,
 * base64 by the bytes it encodes. Every store keeps it, so listing never reads the record.
 */
export function rawSize(raw: string, encoding: "utf8" | "base64" = "utf8"): number {
  if (encoding === "base64") {
    const padding = raw.endsWith("==") ? 2 : raw.endsWith("=") ? 1 : 0;
    return Math.max(0, Math.floor((raw.length * 3) / 4) - padding);
  }
  let bytes = 0;
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code < 0xdc00 && i + 1 < raw.length && (raw.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
