import type { SqliteDatabase } from "./sqlite-driver.ts";

/**
 * The SQLite ledger's schema as data: migration N brings a database from `user_version` N-1 to N. A
 * released migration is never edited; a change is a new entry. Each migration runs in the transaction
 * that also bumps `user_version`, so a crash mid-way leaves the previous version intact.
 */
export interface Migration {
  version: number;
  description: string;
  statements: readonly string[];
}

/** Work item states (integers keep the partial indexes small). */
export const WorkState = { pending: 0, running: 1, done: 2, waiting: 3 } as const;
/** Report states. */
export const ReportState = { pending: 0, delivered: 1, failed: 2 } as const;

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: "work, reports with a per-run outbox, dead letters",
    statements: [
      // seq is the acceptance order. state 3 (waiting) marks an item queued behind the head of its lane,
      // so a claim never has to look at lanes: every state-0 row is claimable.
      `CREATE TABLE work (
         seq INTEGER PRIMARY KEY,
         key TEXT NOT NULL UNIQUE,
         kind TEXT NOT NULL,
         source TEXT NOT NULL,
         lane TEXT,
         state INTEGER NOT NULL,
         attempt INTEGER NOT NULL DEFAULT 0,
         owner TEXT,
         lease_until INTEGER NOT NULL DEFAULT 0,
         accepted_at INTEGER NOT NULL,
         finished_at INTEGER
       ) STRICT`,
      // The record itself lives apart: claims and finishes rewrite the small work row, not kilobytes of JSON.
      `CREATE TABLE work_body (seq INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT`,
      `CREATE TRIGGER work_body_purge AFTER DELETE ON work BEGIN DELETE FROM work_body WHERE seq = old.seq; END`,
      // Partial indexes: each holds only the rows one query looks for, so they stay small and cheap.
      `CREATE INDEX work_pending ON work (seq) WHERE state = 0`,
      `CREATE INDEX work_running ON work (lease_until) WHERE state = 1`,
      `CREATE INDEX work_done ON work (finished_at) WHERE state = 2`,
      // Unfinished items of each lane; queries repeat "state <> 2" literally so SQLite can use it.
      `CREATE INDEX work_lane ON work (lane, state, seq) WHERE lane IS NOT NULL AND state <> 2`,
      // AUTOINCREMENT: report and dead-letter ids are handed out and must never be reused after a purge.
      `CREATE TABLE report (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         run_id TEXT NOT NULL,
         call TEXT NOT NULL,
         state INTEGER NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0,
         due_at INTEGER NOT NULL,
         created_at INTEGER NOT NULL,
         settled_at INTEGER,
         error TEXT
       ) STRICT`,
      `CREATE INDEX report_pending ON report (run_id, seq) WHERE state = 0`,
      `CREATE INDEX report_delivered ON report (settled_at) WHERE state = 1`,
      `CREATE INDEX report_failed ON report (settled_at) WHERE state = 2`,
      // One row per run with undelivered reports: when its head report is due and the reporter's lease
      // on the run. A run is ready when max(due_at, lease_until) <= now, which one index answers.
      `CREATE TABLE outbox_run (
         run_id TEXT PRIMARY KEY,
         due_at INTEGER NOT NULL,
         lease_until INTEGER NOT NULL DEFAULT 0,
         owner TEXT,
         claimed_to INTEGER NOT NULL DEFAULT 0
       ) STRICT, WITHOUT ROWID`,
      `CREATE INDEX outbox_run_ready ON outbox_run (max(due_at, lease_until))`,
      `CREATE TABLE dead_letter (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         kind TEXT NOT NULL,
         reason TEXT NOT NULL,
         source TEXT NOT NULL,
         raw TEXT NOT NULL,
         run_id TEXT,
         parked_at INTEGER NOT NULL
       ) STRICT`,
    ],
  },
  {
    version: 2,
    description: "dead-letter dedupe key, unique while the dead letter is parked",
    statements: [
      // ADD COLUMN needs a default for NOT NULL; every insert names the key, so the default is never used
      // (the ledger refuses an empty key).
      `ALTER TABLE dead_letter ADD COLUMN key TEXT NOT NULL DEFAULT ''`,
      // Letters parked before keys existed get a key of their own, unique and outside the callers'
      // `parked:` space: they stay listed and removable, and a resent record parks anew (once).
      `UPDATE dead_letter SET key = 'legacy:' || seq`,
      // The dedupe check of a commit; removing a dead letter frees its key.
      `CREATE UNIQUE INDEX dead_letter_key ON dead_letter (key)`,
    ],
  },
  {
    version: 3,
    description: "dead letters keep records that are not valid UTF-8 as base64",
    statements: [`ALTER TABLE dead_letter ADD COLUMN raw_encoding TEXT NOT NULL DEFAULT 'utf8' CHECK (raw_encoding IN ('utf8', 'base64'))`],
  },
  {
    version: 4,
    description: "pending work indexed by kind, so a claim can ask for one kind",
    statements: [
      // Replaces work_pending (seq): a claim of any kind reads each kind's range in seq order and merges them,
      // so the ack path still writes one pending index entry per record.
      "DROP INDEX work_pending",
      "CREATE INDEX work_pending_kind ON work (kind, seq) WHERE state = 0",
    ],
  },
  {
    version: 5,
    description: "the run history: what a run is for, where it came from, when it started, how it ended; reports by run",
    statements: [
      "ALTER TABLE work ADD COLUMN action TEXT",
      "ALTER TABLE work ADD COLUMN request_id TEXT",
      "ALTER TABLE work ADD COLUMN started_at INTEGER",
      "ALTER TABLE work ADD COLUMN status TEXT",
      "ALTER TABLE work ADD COLUMN summary TEXT",
      // Every report of a run, settled or not: a run's story.
      "CREATE INDEX report_run ON report (run_id, seq)",
      // When a run's reports started to wait: the oldest held report is the smallest.
      "ALTER TABLE outbox_run ADD COLUMN since INTEGER NOT NULL DEFAULT 0",
      "UPDATE outbox_run SET since = coalesce((SELECT min(created_at) FROM report WHERE report.run_id = outbox_run.run_id AND state = 0), due_at)",
      "CREATE INDEX outbox_run_since ON outbox_run (since)",
    ],
  },
  {
    version: 6,
    description: "dead letters keep their bytes apart, with their size; a retention index",
    statements: [
      // As work_body: listing reads small rows, never a record's (possibly megabytes of) bytes.
      `CREATE TABLE dead_letter_raw (seq INTEGER PRIMARY KEY, raw TEXT NOT NULL) STRICT`,
      `INSERT INTO dead_letter_raw (seq, raw) SELECT seq, raw FROM dead_letter`,
      // Bytes as they arrived: UTF-8 text as stored, base64 by what it encodes (as rawSize in validate.ts).
      `ALTER TABLE dead_letter ADD COLUMN size INTEGER NOT NULL DEFAULT 0`,
      `UPDATE dead_letter SET size = CASE raw_encoding
         WHEN 'base64' THEN length(raw) * 3 / 4 - (CASE WHEN raw LIKE '%==' THEN 2 WHEN raw LIKE '%=' THEN 1 ELSE 0 END)
         ELSE length(CAST(raw AS BLOB)) END`,
      `ALTER TABLE dead_letter DROP COLUMN raw`,
      `CREATE TRIGGER dead_letter_raw_purge AFTER DELETE ON dead_letter BEGIN DELETE FROM dead_letter_raw WHERE seq = old.seq; END`,
      // purgeDeadLetters: the letters parked before the cut.
      `CREATE INDEX dead_letter_parked ON dead_letter (parked_at)`,
    ],
  },
  {
    version: 7,
    description: "the run history keeps the stack of what a run's handler threw",
    statements: ["ALTER TABLE work ADD COLUMN stack TEXT"],
  },
  {
    version: 8,
    description: "reports that tell Port how a run ended are marked, so the run history says whether Port has its status",
    statements: [
      // 1: a status update (isTerminal in port/calls.ts). Set on insert from then on; here for the reports already queued.
      "ALTER TABLE report ADD COLUMN terminal INTEGER NOT NULL DEFAULT 0",
      "UPDATE report SET terminal = 1 WHERE call ->> '$.kind' = 'update' AND call ->> '$.patch.status' IS NOT NULL",
      // A run's latest status report, for each run a history page lists.
      "CREATE INDEX report_status ON report (run_id, seq) WHERE terminal = 1",
    ],
  },
];

export const schemaVersion = migrations.length;

/** Brings the database to `schemaVersion`; refuses a database written by a newer portside. */
export function migrate(db: SqliteDatabase, list: readonly Migration[] = migrations): void {
  const current = (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
  const latest = list.length;
  if (current > latest) {
    throw new Error(
      `The ledger database ${db.filename} has schema version ${current}, newer than this portside knows (${latest}). ` +
        "Run the portside version that wrote it, or point LEDGER at another file.",
    );
  }
  for (const migration of list.slice(current)) {
    db.immediate(() => {
      for (const sql of migration.statements) db.exec(sql);
      db.exec(`PRAGMA user_version = ${migration.version}`);
    })();
  }
}
