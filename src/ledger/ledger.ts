import * as v from "valibot";
import type { PortCall, ReportInput } from "../port/calls.ts";

/**
 * The ledger is portside's durable memory. Everything that must survive a crash goes through it:
 * accepted work (runs and changes), the outbox of calls to Port, and parked (dead-letter) records.
 *
 * Implementations: SQLite (one process; `bun:sqlite` on Bun, `node:sqlite` on Deno), Redis (several
 * replicas), memory (tests, AWS Lambda without Redis; not durable). All of them pass `test/ledger/contract.ts`.
 *
 * Times are epoch milliseconds passed in by the caller, so tests control the clock.
 */
export interface Ledger {
  /**
   * Records one sink request atomically: every record is accepted or recognised as a duplicate, every
   * dead letter parked, every report queued — or nothing is (the call throws and the sender resends).
   * Returns one outcome per record and one per dead letter, in order. A key seen before (in an earlier
   * batch, or earlier in this one) is a duplicate and changes nothing; for dead letters the key is
   * remembered while the dead letter is parked, so a resent poison record is parked (and reported) once.
   * A dead letter that `claims` a work key decides that key: when the key was seen before it is
   * `superseded` (nothing is parked or queued); otherwise the key is remembered as finished work, so a
   * later record with it is a duplicate (records are committed before dead letters).
   */
  commit(batch: CommitBatch, now: number): Promise<CommitResult>;

  /**
   * Claims up to `limit` work items for `owner` with a lease of `leaseMs`. Eligible: pending items, and
   * running items whose lease has expired (their owner died; `attempt` then says it is not the first).
   * Within one lane only the oldest unfinished item is eligible, and only when no item of the lane is
   * running under a live lease, so work on one entity runs in acceptance order, one at a time. With
   * `takeExpired: false`, only pending items are claimed (expired leases are left to their owners a while).
   * With `kind`, only items of that kind are claimed; the others are not looked at and stay as they are.
   */
  claimWork(opts: WorkClaim): Promise<ClaimedWork[]>;

  /** Extends the leases of items `owner` still runs (a heartbeat for long handlers). */
  renewWork(keys: string[], owner: string, leaseMs: number, now: number): Promise<void>;

  /**
   * Marks an item done and queues its final reports in one transaction. Returns false (and changes
   * nothing) when `owner` no longer holds the item, i.e. its lease expired and another owner took it.
   * (While nobody has taken it, an owner whose lease ran out still holds it and may finish or renew.)
   * `ended` is kept for the run history: the status Port is told and why.
   */
  finishWork(key: string, owner: string, reports: ReportInput[], now: number, ended?: WorkEnd): Promise<boolean>;

  /**
   * Owners that hold a live or expired lease on running work or on claimed reports. With
   * `expireLeases`, lets a starting process free what a dead process on the same host left behind.
   */
  leaseHolders(): Promise<string[]>;

  /**
   * Ends every lease `owners` hold on work and on reports, as if it had run out at `now`: their running
   * work is claimable at once (as a later attempt: it was interrupted) and their reports go out again.
   * Only for owners known to be dead. Returns how many work items and report runs were freed.
   */
  expireLeases(owners: string[], now: number): Promise<{ work: number; reports: number }>;

  /** Returns a claimed item to pending without counting an attempt (used on shutdown for unstarted work). */
  releaseWork(key: string, owner: string): Promise<void>;

  /** Queues reports produced while a run executes (logs, entity upserts). */
  appendReports(reports: ReportInput[], now: number): Promise<void>;

  /**
   * Claims the undelivered reports of up to `limitRuns` runs whose next attempt is due, with a lease.
   * All due reports of a claimed run come back together in queue order, so the reporter keeps order.
   * A run whose earliest report is not yet due (backing off) is skipped entirely.
   * `limit` caps the reports returned (`limitRuns` defaults to it): a run is cut short only when `limit`
   * runs out, and its rest follows as soon as the last report handed out is settled.
   */
  claimReports(opts: ClaimOptions & { limitRuns?: number }): Promise<PendingReport[]>;

  /**
   * Records the fate of one report. `retry` moves every later report of that run behind it too, and
   * ends the run's lease. Settling the last report of a claim also ends it, so reports queued meanwhile
   * go out at once. Only an undelivered report is settled; an unknown or settled one is left alone.
   */
  settleReport(id: string, outcome: ReportOutcome, now: number): Promise<void>;

  /**
   * Oldest first, `limit` (default 100) at a time; `after` is the last id of the previous page. Ids (of
   * dead letters and reports) are decimal sequence numbers as text, never reused. A list carries no
   * record's bytes, only their size: a page costs the same whatever was parked.
   */
  listDeadLetters(opts?: { limit?: number; after?: string }): Promise<DeadLetterSummary[]>;
  /** One dead letter with its bytes: the only read that loads a parked record. */
  getDeadLetter(id: string): Promise<DeadLetter | undefined>;
  removeDeadLetter(id: string): Promise<boolean>;
  /**
   * Forgets dead letters parked before `before`, as `removeDeadLetter` does (their keys are free again).
   * Dead letters are never forgotten otherwise. Returns how many went.
   */
  purgeDeadLetters(before: number): Promise<number>;

  /**
   * Forgets work finished, and reports delivered or failed, before `before`. The dedupe window ends
   * here: a purged key is accepted again. Pending and running work and undelivered reports are kept.
   */
  purge(before: number): Promise<{ work: number; reports: number }>;

  /**
   * The run history, newest accepted first: runs as the ledger holds them (no bodies), filtered, from any
   * replica and across restarts, for as long as retention keeps them. `before` is the `seq` of the last
   * run of the previous page. At most `scanLimit` runs are looked at per call (filters that match rarely
   * end early; the page then says where to go on).
   */
  listRuns(query: RunQuery): Promise<RunPage>;

  /** One run with what was reported for it, in queue order (at most `reportLimit` reports: the first and the last halves). */
  getRun(runId: string, opts?: { reportLimit?: number }): Promise<RunHistory | undefined>;

  counts(): Promise<LedgerCounts>;
  close(): Promise<void>;

  /**
   * Of `keys`, those of unfinished work (pending, waiting or running), and of `runIds`, those with
   * undelivered reports; each in the order given. Lets a caller judge its own records done (a Lambda
   * invocation), whatever else the ledger holds. Unknown keys and runs count as settled.
   */
  unsettled(keys: string[], runIds: string[]): Promise<{ keys: string[]; runIds: string[] }>;
}

/** How a run ended, as kept in the history: the status Port is told (DEFERRED: a target reports it) and the summary. */
export interface WorkEnd {
  status: string;
  summary: string | null;
  /** The stack of what the run's handler threw (its frames, secret inputs redacted): for the run's story, never for Port. */
  stack?: string | null;
}

export const RUN_STATES = ["pending", "running", "done"] as const;
export type RunState = (typeof RUN_STATES)[number];

export interface RunQuery {
  action?: string;
  /** Pending or running work by state; finished runs by the status they ended with. */
  state?: RunState;
  status?: string;
  /** Accepted at or after (epoch ms). */
  since?: number;
  limit: number;
  before?: number;
  /** How many runs one call looks at, at most (default 10,000). */
  scanLimit?: number;
}

/** A run in the history. */
export interface RunRecord {
  runId: string;
  /** Acceptance order; the `before` cursor. */
  seq: number;
  action: string | null;
  source: string;
  requestId: string | null;
  state: RunState;
  attempt: number;
  acceptedAt: number;
  /** When its latest attempt started. */
  startedAt: number | null;
  finishedAt: number | null;
  status: string | null;
  summary: string | null;
  /**
   * The report that tells Port how the run ended (its latest status update), as the outbox holds it: not
   * delivered yet, delivered, or refused by Port for good. Null when none was queued: the run has not ended,
   * a target reports it (DEFERRED), or retention forgot the report.
   */
  statusReport: StatusReport | null;
}

/** A run's status report, as the run history shows it (see `RunRecord.statusReport`). */
export interface StatusReport {
  state: ReportRecord["state"];
  attempts: number;
  /** Port's last refusal (kept after a later delivery), or why it failed for good. */
  error: string | null;
}

export interface RunPage {
  runs: RunRecord[];
  /** Where the next page starts (`before`), when there may be more. */
  next: number | null;
}

/** A report about a run as the history shows it. */
export interface ReportRecord {
  call: PortCall;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  createdAt: number;
  settledAt: number | null;
  /** Port's last refusal (kept after a later delivery), or why it failed for good. */
  error: string | null;
}

export interface RunHistory extends RunRecord {
  /** The stack of what its handler threw, when it threw (`WorkEnd.stack`); null otherwise. */
  stack: string | null;
  reports: ReportRecord[];
  /** Reports left out of `reports` (between the halves). */
  reportsNotShown: number;
}

export const WORK_KINDS = ["run", "change"] as const;

/** The work key of a run. */
export const runKey = (runId: string): string => `run:${runId}`;
/** The run id in a run's work key; null for any other key. */
export const runIdOfKey = (key: string): string | null => (key.startsWith("run:") ? key.slice(4) : null);
/** How a run that was parked (a dead letter decides its key) ends in the history. */
export const parkedEnd = (reason: string): WorkEnd => ({ status: "FAILURE", summary: `parked: ${reason}` });
export type WorkKind = (typeof WORK_KINDS)[number];

/** One record as accepted: the key it is deduplicated on and the bytes handlers will read. */
export interface WorkRecord {
  /** `run:<runId>` for runs, `change:<sha-256 of the record>` for changes. */
  key: string;
  kind: WorkKind;
  /** The record as JSON text. */
  body: string;
  /** Where it came from, e.g. `sink/runs`, `consumer`, `lambda`, `webhook`, `replay`. */
  source: string;
  /** Ordering lane (e.g. `entity:<blueprint>/<identifier>`); null runs unordered. */
  lane: string | null;
  /** For the run history: the action a run is for, and the request that brought it. */
  action?: string;
  requestId?: string;
}

export interface ClaimedWork extends WorkRecord {
  /** 1 on the first claim; more means an earlier owner claimed it and never finished. */
  attempt: number;
  acceptedAt: number;
}

export interface DeadLetterInput {
  /** Dedupe key (e.g. `parked:<kind>:<sha-256 of raw>`): the same poison resent is parked once. */
  key: string;
  kind: WorkKind;
  /** Why it was parked, in words a person can act on. */
  reason: string;
  source: string;
  /** The record exactly as received: its text, or (`rawEncoding: "base64"`) its bytes when not valid UTF-8. */
  raw: string;
  /** How `raw` holds the record: `utf8` (the default) or `base64`. */
  rawEncoding?: RawEncoding;
  /** A work key (`run:<id>`) this dead letter decides: see `commit`. */
  claims?: string;
  /** The run id, when one could be found in the record. */
  runId: string | null;
  /** Queued with the dead letter only when it is newly parked (e.g. the FAILURE report of a poison run). */
  reports?: ReportInput[];
}

export type RawEncoding = "utf8" | "base64";

/** A dead letter as lists show it: everything but the record's bytes. */
export interface DeadLetterSummary extends Omit<DeadLetterInput, "reports" | "claims" | "rawEncoding" | "raw"> {
  id: string;
  rawEncoding: RawEncoding;
  /** Bytes of the record as it arrived (for `base64`, the bytes it encodes). */
  size: number;
  parkedAt: number;
}

export interface DeadLetter extends DeadLetterSummary {
  raw: string;
}

export interface CommitBatch {
  records: WorkRecord[];
  deadLetters: DeadLetterInput[];
  /** Queued unconditionally. */
  reports: ReportInput[];
}

export type CommitOutcome = "accepted" | "duplicate";

/** `accepted` = newly parked; `duplicate` = the same dead letter is parked already; `superseded` = its `claims` key was decided before. */
export type ParkOutcome = CommitOutcome | "superseded";

export interface CommitResult {
  /** One per `batch.records`, in order. */
  records: CommitOutcome[];
  /** One per `batch.deadLetters`, in order. */
  deadLetters: ParkOutcome[];
}

export interface ClaimOptions {
  owner: string;
  limit: number;
  leaseMs: number;
  now: number;
}

export interface WorkClaim extends ClaimOptions {
  /** Also take running items whose lease expired (default true). */
  takeExpired?: boolean;
  /** Only this kind of work (default: any). */
  kind?: WorkKind;
}

export interface PendingReport extends ReportInput {
  id: string;
  /** How many times delivery was tried before this claim. */
  attempts: number;
}

export type ReportOutcome =
  | { type: "delivered" }
  | { type: "retry"; at: number; error: string }
  /** Port refused it for good (4xx other than 429); kept with Port's message, later reports go on. */
  | { type: "failed"; error: string };

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));

/** What the ledger holds, counted (its type, and the answer /admin/stats documents). */
export const LedgerCountsSchema = v.object({
  pendingWork: Count,
  runningWork: Count,
  doneWork: Count,
  pendingReports: Count,
  failedReports: Count,
  deadLetters: Count,
  /** Since when the run whose reports have waited longest has had undelivered reports (epoch ms; null: none). */
  oldestHeldReportAt: v.nullable(v.number()),
});

export type LedgerCounts = v.InferOutput<typeof LedgerCountsSchema>;
