import type { SqliteDatabase } from "./sqlite-driver.ts";
import { type LedgerCounts, type RawEncoding, WORK_KINDS, type WorkKind } from "./ledger.ts";
import { ReportState, WorkState } from "./sqlite-schema.ts";

/** A dead-letter row as stored (its bytes live apart, in dead_letter_raw). */
export interface DeadLetterRow {
  seq: number;
  key: string;
  kind: WorkKind;
  reason: string;
  source: string;
  raw_encoding: RawEncoding;
  size: number;
  run_id: string | null;
  parked_at: number;
}

export type Statements = ReturnType<typeof statements>;

/** Every statement prepared once. Comments say which index serves each. */
export function statements(db: SqliteDatabase) {
  const { pending, running, done, waiting } = WorkState;
  return {
    // work_lane: is any item of this lane unfinished? Then the new one waits behind it.
    insertWork: db.prepare<never, [string, WorkKind, string, string | null, number, string | null, string | null]>(
      `INSERT INTO work (key, kind, source, lane, state, accepted_at, action, request_id)
       VALUES (?1, ?2, ?3, ?4,
         CASE WHEN ?4 IS NOT NULL AND EXISTS (SELECT 1 FROM work WHERE lane = ?4 AND state <> ${done}) THEN ${waiting} ELSE ${pending} END,
         ?5, ?6, ?7)
       ON CONFLICT (key) DO NOTHING`,
    ),
    insertBody: db.prepare<never, [number, string]>("INSERT INTO work_body (seq, body) VALUES (?1, ?2)"),
    // dead_letter_key: a key whose dead letter is still parked is a duplicate (no change, no id).
    insertDeadLetter: db.prepare<never, [string, WorkKind, string, string, number, RawEncoding, string | null, number]>(
      "INSERT INTO dead_letter (key, kind, reason, source, size, raw_encoding, run_id, parked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (key) DO NOTHING",
    ),
    insertDeadLetterRaw: db.prepare<never, [number, string]>("INSERT INTO dead_letter_raw (seq, raw) VALUES (?1, ?2)"),
    workExists: db.prepare<{ one: number }, [string]>("SELECT 1 AS one FROM work WHERE key = ?1"),
    // A key decided by a parked record: finished at once, no body, never claimable; purged like other done work.
    insertDecided: db.prepare<never, [string, WorkKind, string, number, string | null, string | null]>(
      `INSERT INTO work (key, kind, source, lane, state, accepted_at, finished_at, status, summary) VALUES (?1, ?2, ?3, NULL, ${done}, ?4, ?4, ?5, ?6)
       ON CONFLICT (key) DO NOTHING`,
    ),
    // ?4: 1 when the call tells Port the run's status (the run history's status report).
    insertReport: db.prepare<never, [string, string, number, number]>(
      `INSERT INTO report (run_id, call, state, due_at, created_at, terminal) VALUES (?1, ?2, ${ReportState.pending}, ?3, ?3, ?4)`,
    ),
    openOutbox: db.prepare<never, [string, number]>("INSERT INTO outbox_run (run_id, due_at, since) VALUES (?1, ?2, ?2) ON CONFLICT (run_id) DO NOTHING"),
    // work_running for expired leases, work_pending_kind for the oldest pending of each kind (?5: one kind,
    // or NULL for any); each bounded by the limit, merged in acceptance order.
    claim: db.prepare<
      { seq: number; key: string; kind: WorkKind; body: string; source: string; lane: string | null; attempt: number; accepted_at: number },
      [string, number, number, number, WorkKind | null, number]
    >(
      `UPDATE work SET state = ${running}, owner = ?1, lease_until = ?2, attempt = attempt + 1, started_at = ?6
       WHERE seq IN (
         SELECT seq FROM (SELECT seq FROM work WHERE state = ${running} AND lease_until <= ?3 AND (?5 IS NULL OR kind = ?5) ORDER BY lease_until LIMIT ?4)
         ${WORK_KINDS.map(
           (kind) => `UNION ALL
         SELECT seq FROM (SELECT seq FROM work WHERE state = ${pending} AND kind = '${kind}' AND (?5 IS NULL OR ?5 = '${kind}') ORDER BY seq LIMIT ?4)`,
         ).join("\n         ")}
         ORDER BY seq LIMIT ?4)
       RETURNING seq, key, kind, (SELECT body FROM work_body WHERE work_body.seq = work.seq) AS body, source, lane, attempt, accepted_at`,
    ),
    renew: db.prepare<never, [number, string, string]>(`UPDATE work SET lease_until = ?1 WHERE key = ?2 AND state = ${running} AND owner = ?3`),
    finish: db.prepare<{ lane: string | null }, [number, string, string]>(
      `UPDATE work SET state = ${done}, finished_at = ?1, owner = NULL, lease_until = 0
       WHERE key = ?2 AND state = ${running} AND owner = ?3 RETURNING lane`,
    ),
    // Many keys of one owner at once (?1: JSON array of [key, status, summary, stack]); returns the keys it finished.
    finishMany: db.prepare<{ key: string; lane: string | null }, [string, number, string]>(
      `UPDATE work SET state = ${done}, finished_at = ?2, owner = NULL, lease_until = 0, status = j.value ->> 1, summary = j.value ->> 2, stack = j.value ->> 3
       FROM json_each(?1) AS j WHERE work.key = j.value ->> 0 AND state = ${running} AND owner = ?3 RETURNING key, lane`,
    ),
    // ?1: JSON array of [run_id, call, terminal] in queue order.
    insertReports: db.prepare<never, [string, number]>(
      `INSERT INTO report (run_id, call, state, due_at, created_at, terminal)
       SELECT j.value ->> 0, j.value ->> 1, ${ReportState.pending}, ?2, ?2, j.value ->> 2 FROM json_each(?1) AS j ORDER BY j.key`,
    ),
    // ?1: JSON array of run ids.
    openOutboxes: db.prepare<never, [string, number]>(
      "INSERT INTO outbox_run (run_id, due_at, since) SELECT value, ?2, ?2 FROM json_each(?1) WHERE true ON CONFLICT (run_id) DO NOTHING",
    ),
    // work_lane: the head of each lane (?1: JSON array of lanes) that has an item waiting goes pending.
    promote: db.prepare<never, [string]>(
      `UPDATE work SET state = ${pending}
       WHERE seq IN (SELECT (SELECT seq FROM work WHERE lane = j.value AND state <> ${done} AND state = ${waiting} ORDER BY seq LIMIT 1) FROM json_each(?1) AS j)`,
    ),
    // work_running (running items are few); outbox_run is scanned, which only a starting process does.
    leaseHolders: db.prepare<{ owner: string }, []>(
      `SELECT owner FROM work WHERE state = ${running} AND owner IS NOT NULL
       UNION SELECT owner FROM outbox_run WHERE owner IS NOT NULL ORDER BY owner`,
    ),
    // ?1 is a JSON array of owners. Back to pending with the attempt kept: the next claim is a later attempt.
    expireWork: db.prepare<never, [string]>(
      `UPDATE work SET state = ${pending}, owner = NULL, lease_until = 0
       WHERE state = ${running} AND owner IN (SELECT value FROM json_each(?1))`,
    ),
    expireOutboxes: db.prepare<never, [string]>(
      "UPDATE outbox_run SET lease_until = 0, owner = NULL, claimed_to = 0 WHERE owner IN (SELECT value FROM json_each(?1))",
    ),
    release: db.prepare<never, [string, string]>(
      `UPDATE work SET state = ${pending}, owner = NULL, lease_until = 0, attempt = attempt - 1 WHERE key = ?1 AND state = ${running} AND owner = ?2`,
    ),
    // outbox_run_ready
    readyRuns: db.prepare<{ run_id: string }, [number, number]>(
      "SELECT run_id FROM outbox_run WHERE max(due_at, lease_until) <= ?1 ORDER BY max(due_at, lease_until) LIMIT ?2",
    ),
    // report_pending
    runReports: db.prepare<{ seq: number; call: string; attempts: number; due_at: number }, [string, number]>(
      `SELECT seq, call, attempts, due_at FROM report WHERE run_id = ?1 AND state = ${ReportState.pending} ORDER BY seq LIMIT ?2`,
    ),
    headDue: db.prepare<{ due_at: number }, [string]>(`SELECT due_at FROM report WHERE run_id = ?1 AND state = ${ReportState.pending} ORDER BY seq LIMIT 1`),
    leaseOutbox: db.prepare<never, [string, number, string, number]>("UPDATE outbox_run SET lease_until = ?2, owner = ?3, claimed_to = ?4 WHERE run_id = ?1"),
    // report_pending, once per listed run: the undelivered reports of the runs in ?1 (a JSON array), in
    // list order and queue order — one statement for a whole claim instead of one per run.
    runsReports: db.prepare<{ pos: number; seq: number; call: string; attempts: number; due_at: number }, [string, number]>(
      `SELECT j.key AS pos, r.seq, r.call, r.attempts, r.due_at
       FROM json_each(?1) AS j JOIN report AS r ON r.run_id = j.value AND r.state = ${ReportState.pending}
       ORDER BY j.key, r.seq LIMIT ?2`,
    ),
    // ?1 is a JSON array of [run_id, claimed_to]: leases every run of a claim in one statement.
    leaseOutboxes: db.prepare<never, [string, number, string]>(
      `UPDATE outbox_run SET lease_until = ?2, owner = ?3, claimed_to = j.value ->> 1
       FROM json_each(?1) AS j WHERE outbox_run.run_id = j.value ->> 0`,
    ),
    // Settles many delivered reports at once (?1: JSON array of seqs); returns the runs they belong to.
    markDelivered: db.prepare<{ run_id: string; seq: number }, [string, number]>(
      `UPDATE report SET state = ${ReportState.delivered}, attempts = attempts + 1, settled_at = ?2
       WHERE seq IN (SELECT value FROM json_each(?1)) AND state = ${ReportState.pending} RETURNING run_id, seq`,
    ),
    // The outbox rows of the runs in ?1 (JSON array) that have no undelivered report left.
    dropEmptyOutboxes: db.prepare<{ run_id: string }, [string]>(
      `DELETE FROM outbox_run WHERE run_id IN (SELECT value FROM json_each(?1))
       AND NOT EXISTS (SELECT 1 FROM report WHERE report.run_id = outbox_run.run_id AND report.state = ${ReportState.pending})
       RETURNING run_id`,
    ),
    /** Ends the reporter's lease on the run once the last report it was handed is settled (or on retry). */
    endLease: db.prepare<never, [string, number]>("UPDATE outbox_run SET lease_until = 0, owner = NULL, claimed_to = 0 WHERE run_id = ?1 AND claimed_to <= ?2"),
    setOutboxDue: db.prepare<never, [string, number]>("UPDATE outbox_run SET due_at = ?2 WHERE run_id = ?1"),
    dropOutbox: db.prepare<never, [string]>("DELETE FROM outbox_run WHERE run_id = ?1"),
    markRetry: db.prepare<{ run_id: string }, [number, number, string]>(
      `UPDATE report SET attempts = attempts + 1, due_at = ?2, error = ?3 WHERE seq = ?1 AND state = ${ReportState.pending} RETURNING run_id`,
    ),
    pushBehind: db.prepare<never, [string, number, number]>(
      `UPDATE report SET due_at = max(due_at, ?3) WHERE run_id = ?1 AND state = ${ReportState.pending} AND seq > ?2`,
    ),
    markSettled: db.prepare<{ run_id: string }, [number, number, number, string | null]>(
      `UPDATE report SET state = ?2, attempts = attempts + 1, settled_at = ?3, error = ?4 WHERE seq = ?1 AND state = ${ReportState.pending} RETURNING run_id`,
    ),
    listDeadLetters: db.prepare<DeadLetterRow, [number, number]>(
      "SELECT seq, key, kind, reason, source, raw_encoding, size, run_id, parked_at FROM dead_letter WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    ),
    getDeadLetter: db.prepare<DeadLetterRow & { raw: string }, [number]>(
      `SELECT d.seq, key, kind, reason, source, raw_encoding, size, run_id, parked_at, r.raw
       FROM dead_letter AS d JOIN dead_letter_raw AS r ON r.seq = d.seq WHERE d.seq = ?1`,
    ),
    removeDeadLetter: db.prepare<never, [number]>("DELETE FROM dead_letter WHERE seq = ?1"),
    // dead_letter_parked; the trigger takes their bytes.
    purgeDeadLetters: db.prepare<never, [number, number]>(
      "DELETE FROM dead_letter WHERE seq IN (SELECT seq FROM dead_letter WHERE parked_at < ?1 ORDER BY parked_at LIMIT ?2)",
    ),
    // ?1 (JSON array of keys): those of unfinished work; ?2 (JSON array of run ids): those with undelivered reports.
    unsettledWork: db.prepare<{ key: string }, [string]>(
      `SELECT j.value AS key FROM json_each(?1) AS j WHERE EXISTS (SELECT 1 FROM work WHERE work.key = j.value AND state <> ${done}) ORDER BY j.key`,
    ),
    unsettledRuns: db.prepare<{ run_id: string }, [string]>(
      "SELECT j.value AS run_id FROM json_each(?1) AS j WHERE EXISTS (SELECT 1 FROM outbox_run WHERE outbox_run.run_id = j.value) ORDER BY j.key",
    ),
    purgeDone: db.prepare<never, [number, number]>(`DELETE FROM work WHERE seq IN (SELECT seq FROM work WHERE state = ${done} AND finished_at < ?1 LIMIT ?2)`),
    purgeDelivered: db.prepare<never, [number, number]>(
      `DELETE FROM report WHERE seq IN (SELECT seq FROM report WHERE state = ${ReportState.delivered} AND settled_at < ?1 LIMIT ?2)`,
    ),
    purgeFailed: db.prepare<never, [number, number]>(
      `DELETE FROM report WHERE seq IN (SELECT seq FROM report WHERE state = ${ReportState.failed} AND settled_at < ?1 LIMIT ?2)`,
    ),
    // Each count reads one partial index, not the tables.
    counts: db.prepare<LedgerCounts, []>(
      `SELECT
         (SELECT count(*) FROM work WHERE state = ${pending})
           + (SELECT count(*) FROM work WHERE lane IS NOT NULL AND state <> ${done} AND state = ${waiting}) AS pendingWork,
         (SELECT count(*) FROM work WHERE state = ${running}) AS runningWork,
         (SELECT count(*) FROM work WHERE state = ${done}) AS doneWork,
         (SELECT count(*) FROM report WHERE state = ${ReportState.pending}) AS pendingReports,
         (SELECT count(*) FROM report WHERE state = ${ReportState.failed}) AS failedReports,
         (SELECT count(*) FROM dead_letter) AS deadLetters,
         (SELECT min(since) FROM outbox_run) AS oldestHeldReportAt`,
    ),
  };
}
