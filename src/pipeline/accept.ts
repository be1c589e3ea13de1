import type { CommitBatch, DeadLetterInput, Ledger, WorkKind, WorkRecord } from "../ledger/ledger.ts";
import { parseChange, parseRun, sha256Hex, verifyAgentSignature, type RunLocator, type SinkRecord } from "../messages/index.ts";
import type { Run } from "../messages/views.ts";
import type { ReportInput } from "../port/calls.ts";
import { parsedRuns } from "./parsed-runs.ts";

/**
 * Acceptance: turns the records of one request into ledger entries and commits them in one
 * transaction. Every record ends as exactly one of accepted, duplicate or parked; nothing runs here.
 * Handlers run later from the ledger, so a slow handler never holds the sender's request open.
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
}

export interface AcceptSummary {
  records: number;
  accepted: number;
  duplicate: number;
  parked: number;
  /** Ledger keys of the records accepted by this request (in order). */
  acceptedKeys: string[];
  /** Why each parked record was parked, in order. */
  parkedReasons: string[];
}

/** What one record became before the commit. */
type Verdict = { type: "work"; record: WorkRecord } | { type: "park"; deadLetter: DeadLetterInput };

export interface Acceptor {
  accept(kind: WorkKind, records: SinkRecord[], source: string): Promise<AcceptSummary>;
  /** Judges one record without committing (used by replay to refuse a record that is still invalid). */
  judge(kind: WorkKind, record: SinkRecord, source: string): Promise<Verdict>;
}

export function createAcceptor(deps: AcceptorDeps): Acceptor {
  const judge = async (kind: WorkKind, record: SinkRecord, source: string): Promise<Verdict> =>
    kind === "run" ? judgeRun(deps, record, source) : judgeChange(deps, record, source);

  return {
    judge,
    async accept(kind, records, source) {
      const verdicts = await Promise.all(records.map((r) => judge(kind, r, source)));
      const batch: CommitBatch = { records: [], deadLetters: [], reports: [] };
      for (const verdict of verdicts) {
        if (verdict.type === "work") batch.records.push(verdict.record);
        else batch.deadLetters.push(verdict.deadLetter);
      }
      if (batch.records.length + batch.deadLetters.length === 0)
        return { records: 0, accepted: 0, duplicate: 0, parked: 0, acceptedKeys: [], parkedReasons: [] };
      const outcomes = await deps.ledger.commit(batch, deps.clock());
      const acceptedKeys = batch.records.filter((_, i) => outcomes.records[i] === "accepted").map((r) => r.key);
      return {
        records: records.length,
        accepted: acceptedKeys.length,
        duplicate: batch.records.length - acceptedKeys.length,
        // A resent poison record counts as parked again, though the ledger keeps (and reports) it once.
        parked: batch.deadLetters.length,
        acceptedKeys,
        parkedReasons: batch.deadLetters.map((d) => d.reason),
      };
    },
  };
}

async function park(kind: WorkKind, record: SinkRecord, source: string, reason: string, runId: string | null, reports: ReportInput[] = []): Promise<Verdict> {
  return { type: "park", deadLetter: { key: await parkedKey(kind, record.text), kind, reason, source, raw: record.text, runId, reports } };
}

/** Dead letters are keyed by their bytes, so a connector resending a poison record parks it once. */
export const parkedKey = async (kind: WorkKind, raw: string) => `parked:${kind}:${await sha256Hex(raw)}`;

/** What Port is told about a run that could not be accepted, so the user is not left waiting. */
export function rejectionReports(runId: string, reason: string): ReportInput[] {
  return [
    { runId, call: { kind: "log", message: `portside could not run this: ${reason}` } },
    { runId, call: { kind: "update", patch: { status: "FAILURE", summary: truncate(`Invalid run message: ${reason}`, 1000) } } },
  ];
}

async function judgeRun(deps: AcceptorDeps, record: SinkRecord, source: string): Promise<Verdict> {
  if (!record.ok) return park("run", record, source, record.error, null);
  const parsed = parseRun(record.value, deps.locator ? { locator: deps.locator } : {});
  if (!parsed.ok) {
    return park("run", record, source, parsed.reason, parsed.runId, parsed.runId ? rejectionReports(parsed.runId, parsed.reason) : []);
  }
  const run = parsed.run;
  if (run.orgId !== deps.orgId) {
    // Never reported: the run belongs to another organisation, and our credentials could not report it anyway.
    return park("run", record, source, `trigger.by.orgId is "${run.orgId}", not this deployment's organisation "${deps.orgId}" (ORG_ID); not executed`, run.id);
  }
  if (run.shape === "agent" && deps.signatureSecret !== null) {
    const verdict = await verifyAgentSignature(record.value as object, deps.signatureSecret, { nowMs: deps.clock(), toleranceMs: deps.signatureToleranceMs });
    // Not reported to Port either: a record that fails its signature cannot be trusted to name a real run.
    if (!verdict.ok) return park("run", record, source, `signature refused: ${verdict.reason}`, run.id);
  }
  parsedRuns.remember(record.text, deps.locator, run);
  return { type: "work", record: { key: runKey(run.id), kind: "run", body: record.text, source, lane: deps.orderBy === "entity" ? runLane(run) : null } };
}

async function judgeChange(deps: AcceptorDeps, record: SinkRecord, source: string): Promise<Verdict> {
  if (!record.ok) return park("change", record, source, record.error, null);
  const parsed = await parseChange(record.value, record.text);
  if (!parsed.ok) return park("change", record, source, parsed.reason, null);
  const change = parsed.change;
  if (change.orgId !== deps.orgId) {
    return park(
      "change",
      record,
      source,
      `trigger.by.orgId is "${change.orgId}", not this deployment's organisation "${deps.orgId}" (ORG_ID); not executed`,
      change.runId,
    );
  }
  const lane =
    deps.orderBy === "entity" && change.blueprint && change.identifier ? `change:${change.resourceType}:${change.blueprint}/${change.identifier}` : null;
  return { type: "work", record: { key: `change:${change.digest}`, kind: "change", body: record.text, source, lane } };
}

export const runKey = (runId: string) => `run:${runId}`;

/** Runs on one entity run one at a time, in the order they were accepted; CREATE runs have no entity yet. */
function runLane(run: Run): string | null {
  const id = run.entity?.identifier;
  return id ? `run:${run.blueprint ?? run.entity?.blueprint ?? "?"}/${id}` : null;
}

export const truncate = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
