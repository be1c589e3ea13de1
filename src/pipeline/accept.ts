import { type CommitBatch, type DeadLetterInput, type Ledger, runKey, type WorkKind, type WorkRecord } from "../ledger/ledger.ts";
import { changeAudience, runAudience } from "../messages/audience.ts";
import { brokenRun, parseChange, parseRun, type RunLocator, type SinkRecord, sha256Hex, verifyAgentSignature } from "../messages/index.ts";
import { getAtPath } from "../messages/json.ts";
import { isActionId } from "../messages/run-schemas.ts";
import { isPlainObject } from "../messages/json.ts";
import { LOCATOR_DEFAULTS } from "../messages/locator.ts";
import { isPolledRecord } from "../messages/polled.ts";
import { isWebhookRecord } from "../messages/webhook.ts";
import type { Run } from "../messages/views.ts";
import type { ReportInput } from "../port/calls.ts";
import { finalReports } from "../port/run-kinds.ts";
import { toBase64 } from "../shared/base64.ts";
import { truncate } from "../shared/text.ts";
import type { Registry, RunFacts } from "../targets/registry.ts";
import { SUMMARY_MAX } from "../targets/result.ts";
import type { ParsedRuns } from "./parsed-runs.ts";

/**
 * Acceptance: turns the records of one request into ledger entries and commits them in one
 * transaction. Every record ends as exactly one of accepted, duplicate, parked or left alone (another
 * consumer's, or for an action nobody here handles); nothing runs here. Handlers run later from the
 * ledger, so a slow handler never holds the sender's request open.
 *
 * `parked` counts the dead letters this request wrote, so the reply and the ledger agree; a record whose
 * dead letter is there already is a duplicate.
 *
 * One run id, one outcome: the first record that names a run id decides it. A record parked with a
 * FAILURE report for its run id claims that id in the ledger as a valid run would, so a later record with
 * the same id — valid or not — is a duplicate and Port hears of the run once.
 */

export interface AcceptorDeps {
  ledger: Ledger;
  orgId: string;
  locator: RunLocator | null;
  /** Verifies agent-style messages that carry a signature; null when no client secret is configured. */
  signatureSecret: string | null;
  signatureToleranceMs: number;
  orderBy: "entity" | "none";
  clock: () => number;
  /** Runs validated here, handed to the executor so they are not parsed twice. */
  parsedRuns: ParsedRuns;
  /** Which actions and changes have a handler or route. */
  registry: Pick<Registry, "forRun" | "forChange">;
  /** A run for an action with no handler: left alone (`ignore`, the default) or reported FAILURE (`fail`). */
  unhandledRuns: "ignore" | "fail";
  /** portside is the organisation's execution agent: runs meant for Port's agent are its own. */
  executionAgent: boolean;
}

/** Why a record was left alone: it is someone else's, or nothing here handles it. */
export const LEFT_ALONE_REASONS = ["other_consumer", "agent", "unhandled_action", "no_change_rule"] as const;
export type LeftAloneReason = (typeof LEFT_ALONE_REASONS)[number];

/**
 * Why a record was parked, by class (the reason itself is a sentence): `unreadable` (not JSON, not UTF-8,
 * too deep, empty), `invalid` (JSON, but not a run or change portside can take), `other_org`, `signature`
 * (refused or too late), `internal` (portside's own failure reading it).
 */
export const PARK_CLASSES = ["unreadable", "invalid", "other_org", "signature", "internal"] as const;
export type ParkClass = (typeof PARK_CLASSES)[number];

/**
 * What can become of a record, each exactly one: accepted (new work), a duplicate (of work the ledger
 * holds), parked (a dead letter), or ignored (left alone: not executed, not reported, not stored).
 */
export const RECORD_OUTCOMES = ["accepted", "duplicate", "parked", "ignored"] as const;
export type RecordOutcome = (typeof RECORD_OUTCOMES)[number];

/** What became of a number of records. */
export interface RecordCounts extends Record<RecordOutcome, number> {
  records: number;
  parkedBy: Partial<Record<ParkClass, number>>;
  ignoredBy: Partial<Record<LeftAloneReason, number>>;
}

export interface AcceptSummary extends RecordCounts {
  /** Ledger keys of the records accepted by this request (in order). */
  acceptedKeys: string[];
  /**
   * The work keys this request's records stand for, whatever became of them: accepted, duplicates of
   * work the ledger holds, and run keys decided by parked records (in order). A caller that waits for its
   * own records to be done (a Lambda invocation) waits for these.
   */
  keys: string[];
  /** Why parked records were parked, in order: the first `MAX_REASONS` of them. */
  parkedReasons: string[];
  /** Actions of runs left alone for want of a handler (each once). */
  unhandledActions: string[];
}

/** How many parking reasons a summary keeps (a body of 200,000 bad lines must not make a 50 MB reply). */
export const MAX_REASONS = 20;

/** What one record became before the commit. */
export type Verdict =
  | { type: "work"; record: WorkRecord }
  | { type: "park"; deadLetter: DeadLetterInput; why: ParkClass }
  | { type: "ignore"; why: LeftAloneReason; action?: string };

export interface AcceptOptions {
  /**
   * Appended to the keys of accepted changes. Replay uses it: a change's digest key may be spent (its
   * handler failed on it), and replaying a parked change is a deliberate act. Run keys never change.
   */
  changeKeySuffix?: string;
  /** The request that brought the records (the sink's own id for it), for logs and the run history. */
  requestId?: string;
}

export interface Acceptor {
  accept(kind: WorkKind, records: SinkRecord[], source: string, options?: AcceptOptions): Promise<AcceptSummary>;
  /** Judges one record without committing (replay uses it to refuse a record that is still invalid). */
  judge(kind: WorkKind, record: SinkRecord, source: string, options?: AcceptOptions): Promise<Verdict>;
}

/** No records yet. */
export const zeroCounts = (): RecordCounts => ({
  records: 0,
  ...(Object.fromEntries(RECORD_OUTCOMES.map((outcome) => [outcome, 0])) as Record<RecordOutcome, number>),
  parkedBy: {},
  ignoredBy: {},
});

export const emptySummary = (): AcceptSummary => ({
  ...zeroCounts(),
  acceptedKeys: [],
  keys: [],
  parkedReasons: [],
  unhandledActions: [],
});

export function createAcceptor(deps: AcceptorDeps): Acceptor {
  /** Judges one record. Never throws: a record portside cannot read for a reason of its own is parked. */
  async function judge(kind: WorkKind, record: SinkRecord, source: string, options: AcceptOptions = {}): Promise<Verdict> {
    try {
      return kind === "run" ? await judgeRun(deps, record, source) : await judgeChange(deps, record, source, options.changeKeySuffix ?? "");
    } catch {
      return park("internal", kind, record, source, "portside could not read this record (an internal error; see its log); parked so it can be replayed", null);
    }
  }

  return {
    judge,
    async accept(kind, records, source, options = {}) {
      const summary = emptySummary();
      summary.records = records.length;
      const verdicts = await Promise.all(records.map((r) => judge(kind, r, source, options)));
      const batch: CommitBatch = { records: [], deadLetters: [], reports: [] };
      const parkedWhy: ParkClass[] = [];
      // The first record of this request that names a key decides it; later ones are duplicates.
      const keys = new Set<string>();
      for (const verdict of verdicts) {
        if (verdict.type === "ignore") {
          summary.ignored++;
          summary.ignoredBy[verdict.why] = (summary.ignoredBy[verdict.why] ?? 0) + 1;
          if (verdict.action !== undefined && !summary.unhandledActions.includes(verdict.action)) summary.unhandledActions.push(verdict.action);
          continue;
        }
        const key = verdict.type === "work" ? verdict.record.key : verdict.deadLetter.claims;
        if (key !== undefined && keys.has(key)) {
          summary.duplicate++;
          continue;
        }
        if (key !== undefined) {
          keys.add(key);
          summary.keys.push(key);
        }
        if (verdict.type === "work") batch.records.push(options.requestId === undefined ? verdict.record : { ...verdict.record, requestId: options.requestId });
        else {
          batch.deadLetters.push(verdict.deadLetter);
          parkedWhy.push(verdict.why);
        }
      }
      if (batch.records.length + batch.deadLetters.length === 0) return summary;
      const outcomes = await deps.ledger.commit(batch, deps.clock());
      batch.records.forEach((record, i) => {
        if (outcomes.records[i] === "accepted") {
          summary.accepted++;
          summary.acceptedKeys.push(record.key);
        } else summary.duplicate++;
      });
      batch.deadLetters.forEach((letter, i) => {
        // Parked means a dead letter written now: a poison record parked before (resent, or twice in this
        // request) is a duplicate, as is one whose run id was decided before (superseded).
        if (outcomes.deadLetters[i] !== "accepted") summary.duplicate++;
        else {
          summary.parked++;
          const why = parkedWhy[i] ?? "invalid";
          summary.parkedBy[why] = (summary.parkedBy[why] ?? 0) + 1;
          if (summary.parkedReasons.length < MAX_REASONS) summary.parkedReasons.push(letter.reason);
        }
      });
      return summary;
    },
  };
}

/** Adds the counts of `next` to `into`. */
export function addCounts(into: RecordCounts, next: RecordCounts): void {
  into.records += next.records;
  for (const outcome of RECORD_OUTCOMES) into[outcome] += next[outcome];
  for (const [why, n] of Object.entries(next.parkedBy) as [ParkClass, number][]) into.parkedBy[why] = (into.parkedBy[why] ?? 0) + n;
  for (const [why, n] of Object.entries(next.ignoredBy) as [LeftAloneReason, number][]) into.ignoredBy[why] = (into.ignoredBy[why] ?? 0) + n;
}

/** Adds `next` to `into` (the counts; reasons up to `MAX_REASONS`; keys and actions appended). */
export function addSummary(into: AcceptSummary, next: AcceptSummary): AcceptSummary {
  addCounts(into, next);
  for (const key of next.acceptedKeys) into.acceptedKeys.push(key);
  for (const key of next.keys) into.keys.push(key);
  for (const reason of next.parkedReasons) if (into.parkedReasons.length < MAX_REASONS) into.parkedReasons.push(reason);
  for (const action of next.unhandledActions) if (!into.unhandledActions.includes(action)) into.unhandledActions.push(action);
  return into;
}

/**
 * Parks a record with the bytes that arrived. With `claims`, the dead letter decides the run: it is parked
 * (and its reports queued) only if no record named the run before, and later records naming it are duplicates.
 */
async function park(
  why: ParkClass,
  kind: WorkKind,
  record: SinkRecord,
  source: string,
  reason: string,
  runId: string | null,
  decides?: { reports: ReportInput[] },
): Promise<Verdict> {
  const raw =
    typeof record.raw === "string" ? { raw: record.raw, rawEncoding: "utf8" as const } : { raw: toBase64(record.raw), rawEncoding: "base64" as const };
  const deadLetter: DeadLetterInput = { key: await parkedKey(kind, raw.raw), kind, reason, source, ...raw, runId };
  if (decides && runId !== null) {
    deadLetter.reports = decides.reports;
    deadLetter.claims = runKey(runId);
  }
  return { type: "park", deadLetter, why };
}

/** Dead letters are keyed by their bytes, so a connector resending a poison record parks it once. */
export const parkedKey = async (kind: WorkKind, raw: string) => `parked:${kind}:${sha256Hex(raw)}`;

/** What Port is told about a run that could not be accepted, so the user is not left waiting. */
export function rejectionReports(runId: string, reason: string, summary = `Invalid run message: ${reason}`): ReportInput[] {
  return [
    { runId, call: { kind: "log", message: `portside could not run this: ${reason}` } },
    ...finalReports(runId, { status: "FAILURE", summary: truncate(summary, SUMMARY_MAX) }),
  ];
}

const FOREIGN_ORG = "trigger.by.orgId is not this deployment's organisation (ORG_ID); not executed";

const UNSIGNED_AGENT_RUN =
  "signature refused: a run for Port's execution agent (agent: true) must carry Port's signature in headers.X-Port-Signature and headers.X-Port-Timestamp";

async function judgeRun(deps: AcceptorDeps, record: SinkRecord, source: string): Promise<Verdict> {
  // Whether portside may tell Port about a run of this action: only when the action is its own (a handler
  // or route), or UNHANDLED_RUNS=fail says every run on the topic is. Another consumer's run is never failed.
  // A run claimed from Port's API (polling) or sent by Port (a signed webhook) is this portside's whatever it
  // holds: Port is told of every one.
  const claimed = record.ok && isPlainObject(record.value) && (isPolledRecord(record.value) || isWebhookRecord(record.value));
  const mine = (action: unknown, run?: RunFacts) =>
    claimed || (typeof action === "string" && (deps.unhandledRuns === "fail" || deps.registry.forRun(action, run).type !== "missing"));
  if (!record.ok) {
    const broken = typeof record.raw === "string" ? brokenRun(record.raw, deps.orgId) : null;
    if (broken && mine(broken.action))
      return park("unreadable", "run", record, source, record.error, broken.runId, { reports: rejectionReports(broken.runId, record.error) });
    return park("unreadable", "run", record, source, record.error, null);
  }
  const audience = runAudience(record.value, { executionAgent: deps.executionAgent });
  if (!audience.ours) return { type: "ignore", why: audience.owner === "agent" ? "agent" : "other_consumer" };
  const parsed = parseRun(record.value, deps.locator ? { locator: deps.locator } : {});
  if (!parsed.ok) {
    const action = getAtPath(record.value, deps.locator?.actionPath ?? "action");
    // A broken run of an action nobody here handles is another consumer's to deal with. A value that is no
    // action identifier (2 MB of text, say) names no one's action: it is parked, never kept or logged.
    if (deps.unhandledRuns === "ignore" && isActionId(action) && !mine(action)) return { type: "ignore", why: "unhandled_action", action };
    // Reported to Port only when the record is of a shape portside knows, for one of its actions, and does
    // not name another organisation.
    const orgId = getAtPath(record.value, deps.locator?.orgIdPath ?? LOCATOR_DEFAULTS.orgIdPath);
    const ours = typeof orgId !== "string" || orgId === deps.orgId;
    if (parsed.runId !== null && ours && mine(action))
      return park("invalid", "run", record, source, parsed.reason, parsed.runId, { reports: rejectionReports(parsed.runId, parsed.reason) });
    return park(ours ? "invalid" : "other_org", "run", record, source, ours ? parsed.reason : `${parsed.reason}; and ${FOREIGN_ORG}`, parsed.runId);
  }
  const run = parsed.run;
  // Never reported: the run belongs to another organisation, and our credentials could not report it anyway.
  if (run.orgId !== deps.orgId) return park("other_org", "run", record, source, FOREIGN_ORG, run.id);
  if (!mine(run.action, run)) return { type: "ignore", why: "unhandled_action", action: run.action };
  if (run.shape === "agent" && deps.signatureSecret !== null) {
    const verdict = await verifyAgentSignature(record.value as object, deps.signatureSecret, { nowMs: deps.clock(), toleranceMs: deps.signatureToleranceMs });
    if (!verdict.ok && verdict.late) {
      // Port signed it, so the run is real; too old to be trusted, so it is not executed but ended.
      const reason = `signature refused: ${verdict.reason}`;
      return park("signature", "run", record, source, reason, run.id, {
        reports: rejectionReports(
          run.id,
          reason,
          "portside did not run this: the message arrived too late to be trusted (outside its signature's freshness window). Trigger the action again from Port.",
        ),
      });
    }
    // Not reported: a record that fails its signature cannot be trusted to name a real run.
    if (!verdict.ok) return park("signature", "run", record, source, `signature refused: ${verdict.reason}`, run.id);
  }
  // Port signs every run it publishes for its agent, and the agent forwards none unsigned: nor does portside in
  // its place (the message names the URL called). Not reported, as a record that fails its signature.
  if (run.forAgent && run.shape === "legacy") return park("signature", "run", record, source, UNSIGNED_AGENT_RUN, run.id);
  deps.parsedRuns.remember(record.text, deps.locator, run);
  return {
    type: "work",
    record: { key: runKey(run.id), kind: "run", body: record.text, source, lane: deps.orderBy === "entity" ? runLane(run) : null, action: run.action },
  };
}

async function judgeChange(deps: AcceptorDeps, record: SinkRecord, source: string, keySuffix: string): Promise<Verdict> {
  if (!record.ok) return park("unreadable", "change", record, source, record.error, null);
  const audience = changeAudience(record.value);
  if (!audience.ours) return { type: "ignore", why: audience.owner === "agent" ? "agent" : "other_consumer" };
  const parsed = await parseChange(record.value, record.text);
  if (!parsed.ok) return park("invalid", "change", record, source, parsed.reason, null);
  const change = parsed.change;
  if (change.orgId !== deps.orgId) return park("other_org", "change", record, source, FOREIGN_ORG, change.runId);
  if (deps.registry.forChange(change).length === 0) return { type: "ignore", why: "no_change_rule" };
  const lane =
    deps.orderBy === "entity" && change.blueprint && change.identifier ? `change:${change.resourceType}:${change.blueprint}/${change.identifier}` : null;
  return { type: "work", record: { key: `change:${change.digest}${keySuffix}`, kind: "change", body: record.text, source, lane } };
}

/** Runs on one entity run one at a time, in the order they were accepted; CREATE runs have no entity yet. */
function runLane(run: Run): string | null {
  const id = run.entity?.identifier;
  return id ? `run:${run.blueprint ?? run.entity?.blueprint ?? "?"}/${id}` : null;
}
