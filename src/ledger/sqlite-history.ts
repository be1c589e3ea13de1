import type { PortCall } from "../port/calls.ts";
import type { GroupCommit } from "./group-commit.ts";
import { headAndTail, pageRuns } from "./history.ts";
import { type ReportRecord, type RunHistory, type RunPage, type RunQuery, type RunRecord, type RunState, runKey } from "./ledger.ts";
import type { SqliteDatabase } from "./sqlite-driver.ts";
import { ReportState, WorkState } from "./sqlite-schema.ts";

/** The run history of the SQLite ledger: runs read newest first from the work table, reports by run. */

interface RunRow {
  seq: number;
  key: string;
  action: string | null;
  source: string;
  request_id: string | null;
  state: number;
  attempt: number;
  accepted_at: number;
  started_at: number | null;
  finished_at: number | null;
  status: string | null;
  summary: string | null;
  /** The run's latest status report (report_state null: none). */
  report_state: number | null;
  report_attempts: number | null;
  report_error: string | null;
}

interface ReportRow {
  call: string;
  state: number;
  attempts: number;
  created_at: number;
  settled_at: number | null;
  error: string | null;
}

const RUN_COLUMNS = ["seq", "key", "action", "source", "request_id", "state", "attempt", "accepted_at", "started_at", "finished_at", "status", "summary"]
  .map((c) => `w.${c}`)
  .join(", ");
/** A run with its latest status report (report_status: the largest seq of the run's terminal reports). */
const RUN_FROM = `${RUN_COLUMNS}, r.state AS report_state, r.attempts AS report_attempts, r.error AS report_error
  FROM work AS w LEFT JOIN report AS r ON r.seq = (SELECT max(seq) FROM report WHERE run_id = substr(w.key, ${runKey("").length + 1}) AND terminal = 1)`;
const REPORT_COLUMNS = "call, state, attempts, created_at, settled_at, error";

export function sqliteHistory(db: SqliteDatabase, queue: GroupCommit) {
  // The primary key, read backwards; changes in between are passed over.
  const runsBefore = db.prepare<RunRow, [number, number]>(`SELECT ${RUN_FROM} WHERE w.seq < ?1 AND w.kind = 'run' ORDER BY w.seq DESC LIMIT ?2`);
  // One run's story also reads the stack of what its handler threw.
  const run = db.prepare<RunRow & { stack: string | null }, [string]>(
    `SELECT ${RUN_FROM.replace(" FROM", ", w.stack FROM")} WHERE w.key = ?1 AND w.kind = 'run'`,
  );
  // report_run, from either end.
  const reportCount = db.prepare<{ n: number }, [string]>("SELECT count(*) AS n FROM report WHERE run_id = ?1");
  const firstReports = db.prepare<ReportRow, [string, number]>(`SELECT ${REPORT_COLUMNS} FROM report WHERE run_id = ?1 ORDER BY seq LIMIT ?2`);
  const lastReports = db.prepare<ReportRow, [string, number]>(`SELECT ${REPORT_COLUMNS} FROM report WHERE run_id = ?1 ORDER BY seq DESC LIMIT ?2`);

  return {
    listRuns(query: RunQuery): Promise<RunPage> {
      return pageRuns(query, async (before, n) => (await queue.run(() => runsBefore.all(before ?? Number.MAX_SAFE_INTEGER, n))).map(runRecord));
    },

    async getRun(runId: string, opts: { reportLimit?: number } = {}): Promise<RunHistory | undefined> {
      return queue.run(() => {
        const row = run.get(runKey(runId));
        if (!row) return undefined;
        const { head, tail, notShown } = headAndTail(reportCount.get(runId)?.n ?? 0, opts.reportLimit);
        const rows = [...firstReports.all(runId, head), ...lastReports.all(runId, tail).reverse()];
        return { ...runRecord(row), stack: row.stack, reports: rows.map(reportRecord), reportsNotShown: notShown };
      });
    },
  };
}

const STATE_OF: Record<number, RunState> = {
  [WorkState.pending]: "pending",
  [WorkState.waiting]: "pending",
  [WorkState.running]: "running",
  [WorkState.done]: "done",
};
const REPORT_STATE_OF: Record<number, ReportRecord["state"]> = {
  [ReportState.pending]: "pending",
  [ReportState.delivered]: "delivered",
  [ReportState.failed]: "failed",
};

function runRecord(r: RunRow): RunRecord {
  return {
    runId: r.key.slice(runKey("").length),
    seq: r.seq,
    action: r.action,
    source: r.source,
    requestId: r.request_id,
    state: STATE_OF[r.state] ?? "pending",
    attempt: r.attempt,
    acceptedAt: r.accepted_at,
    startedAt: r.started_at,
    finishedAt: r.state === WorkState.done ? r.finished_at : null,
    status: r.status,
    summary: r.summary,
    statusReport:
      r.report_state === null ? null : { state: REPORT_STATE_OF[r.report_state] ?? "pending", attempts: r.report_attempts ?? 0, error: r.report_error },
  };
}

function reportRecord(r: ReportRow): ReportRecord {
  return {
    call: JSON.parse(r.call) as PortCall,
    state: REPORT_STATE_OF[r.state] ?? "pending",
    attempts: r.attempts,
    createdAt: r.created_at,
    settledAt: r.settled_at,
    error: r.error,
  };
}
