import { isTerminal, type PortCall, type ReportInput } from "../port/calls.ts";
import { createGroupCommit } from "./group-commit.ts";
import type {
  ClaimedWork,
  ClaimOptions,
  CommitBatch,
  CommitOutcome,
  CommitResult,
  DeadLetter,
  DeadLetterSummary,
  Ledger,
  LedgerCounts,
  ParkOutcome,
  PendingReport,
  ReportOutcome,
  WorkClaim,
  WorkEnd,
} from "./ledger.ts";
import { parkedEnd } from "./ledger.ts";
import { sqliteHistory } from "./sqlite-history.ts";
import type { SqliteDatabase } from "./sqlite-driver.ts";
import { migrate, ReportState } from "./sqlite-schema.ts";
import { statements, type DeadLetterRow, type Statements } from "./sqlite-statements.ts";
import { callText, parseCursor, parseId, rawSize, withInputChecks } from "./validate.ts";

/** Work the group commit may gather longer under load: no sender is waiting for it (see group-commit.ts). */
const BACKGROUND = { background: true } as const;

export interface SqliteLedgerOptions {
  /** The database file. Its directory must exist and be on a local disk (WAL needs shared memory). */
  path: string;
  /** Rows deleted per transaction by `purge`, so a large purge never stalls the event loop for long. */
  purgeChunk?: number;
}

/** Opens a connection to the file with the runtime's binding (created when missing, read-write). */
export type OpenSqlite = (path: string) => SqliteDatabase;

/**
 * The embedded ledger: one SQLite file in WAL mode, the default for a single portside.
 *
 * ONE PROCESS PER FILE, on a local disk; several replicas share a Redis ledger instead. A second process
 * on the file (an overlapping deploy, say) stays correct, because every call is an IMMEDIATE transaction
 * and nothing is cached in memory, but the two contend for the write lock (a waiting call blocks its
 * event loop for up to busy_timeout) and lose the batching below. For the same reason leases are not
 * taken back when the file is opened: a crashed process's items return when their leases expire, or at
 * once when the caller knows the owner is dead and ends its leases (`leaseHolders`, `expireLeases`).
 *
 * Durability: `synchronous = FULL`. In WAL mode NORMAL syncs only at checkpoints, so a power loss or OS
 * crash can roll back transactions that had already returned, i.e. an acknowledged request, a claim
 * whose attempt count is then lost, or a finish whose reports Port has already seen. FULL syncs the WAL
 * at every commit; group commit (`group-commit.ts`) makes every call that arrives in the same event-loop
 * turn share that one sync, which is how the ack path and claim/finish keep their throughput. Only
 * `commit` (a sender waits for its ack) and the admin reads go out in the next turn whatever the load;
 * the executor's and the reporter's calls are background work that, under load, waits a little for a
 * bigger group so that syncs never take most of the event loop's time.
 */
export function openSqliteLedger(open: OpenSqlite, opts: SqliteLedgerOptions): Ledger {
  const db = open(opts.path);
  const purgeChunk = opts.purgeChunk ?? 2_000;
  try {
    const mode = (db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode: string }).journal_mode;
    if (mode !== "wal" && opts.path !== ":memory:") {
      throw new Error(`SQLite could not put ${opts.path} in WAL mode (got "${mode}"); put the ledger on a local disk`);
    }
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA temp_store = MEMORY");
    // 8 MiB of page cache: the hot pages (index tails, pending and running rows) fit; the operating system's
    // file cache serves the rest. A bigger cache bought no throughput in the benchmark, only memory.
    db.exec("PRAGMA cache_size = -8000");
    db.exec("PRAGMA journal_size_limit = 67108864");
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  const queue = createGroupCommit(db);
  const s = statements(db);
  const history = sqliteHistory(db, queue);
  let closed = false;

  function queueReports(reports: ReportInput[], now: number): void {
    for (const r of reports) {
      s.insertReport.run(r.runId, callText(r), now, isTerminal(r.call) ? 1 : 0);
      s.openOutbox.run(r.runId, now);
    }
  }

  /** The run's outbox follows its head report; without undelivered reports the row goes. */
  function refreshOutbox(runId: string): void {
    const head = s.headDue.get(runId);
    if (head) s.setOutboxDue.run(runId, head.due_at);
    else s.dropOutbox.run(runId);
  }

  /**
   * Finishes of one owner at the same moment share one job: one UPDATE marks them all done, the lanes
   * they held move on, and the final reports of those still held are queued with two statements, in
   * call order. Each caller learns whether it still held its item, as from a finish of its own. A key
   * already in the batch (never, from one executor) starts a batch of its own.
   */
  type Finish = { key: string; reports: ReportInput[]; ended: WorkEnd | undefined };
  let finishing: { owner: string; now: number; items: Finish[]; keys: Set<string>; done: Promise<Set<string>> } | undefined;
  async function finishTogether(key: string, owner: string, reports: ReportInput[], now: number, ended: WorkEnd | undefined): Promise<boolean> {
    let batch = finishing;
    if (!batch || batch.owner !== owner || batch.now !== now || batch.keys.has(key)) {
      const fresh = {
        owner,
        now,
        items: [] as Finish[],
        keys: new Set<string>(),
        done: Promise.resolve(new Set<string>()),
      };
      fresh.done = queue.run(() => {
        if (finishing === fresh) finishing = undefined;
        const held = new Set<string>();
        const lanes: string[] = [];
        const ends = fresh.items.map((i) => [i.key, i.ended?.status ?? null, i.ended?.summary ?? null, i.ended?.stack ?? null]);
        for (const r of s.finishMany.all(JSON.stringify(ends), fresh.now, fresh.owner)) {
          held.add(r.key);
          if (r.lane !== null) lanes.push(r.lane);
        }
        // One statement for every lane that moves on (one per lane cost as much as the finish itself).
        if (lanes.length > 0) s.promote.run(JSON.stringify(lanes));
        const queued: Array<[string, string, number]> = [];
        for (const item of fresh.items) if (held.has(item.key)) for (const r of item.reports) queued.push([r.runId, callText(r), isTerminal(r.call) ? 1 : 0]);
        if (queued.length > 0) {
          s.insertReports.run(JSON.stringify(queued), fresh.now);
          s.openOutboxes.run(JSON.stringify([...new Set(queued.map(([runId]) => runId))]), fresh.now);
        }
        return held;
      }, BACKGROUND);
      finishing = fresh;
      batch = fresh;
    }
    batch.items.push({ key, reports, ended });
    batch.keys.add(key);
    return (await batch.done).has(key);
  }

  /** The claim as one query per run: the exact fallback of claimReports' batched read. */
  function claimRunByRun(ready: string[], owner: string, limit: number, leaseMs: number, now: number): PendingReport[] {
    const out: PendingReport[] = [];
    for (const runId of ready) {
      if (out.length >= limit) break;
      let last = 0;
      for (const r of s.runReports.all(runId, limit - out.length)) {
        if (r.due_at > now) break;
        out.push({ id: String(r.seq), runId, call: JSON.parse(r.call) as PortCall, attempts: r.attempts });
        last = r.seq;
      }
      s.leaseOutbox.run(runId, now + leaseMs, owner, last);
    }
    return out;
  }

  /**
   * Delivered reports settled in the same moment share one job: one UPDATE for all of them and one
   * DELETE for the outbox rows of the runs left with nothing to deliver (the usual case, a run's last
   * report); a run that still has reports queued gets its lease ended (up to the highest report
   * settled) and its outbox row moved to its new head, as a one-by-one settle would leave it.
   */
  let delivered: { seqs: number[]; now: number; done: Promise<void> } | undefined;
  function settleDelivered(seq: number, now: number): Promise<void> {
    if (delivered && delivered.now === now) {
      delivered.seqs.push(seq);
      return delivered.done;
    }
    const batch = { seqs: [seq], now, done: Promise.resolve() };
    delivered = batch;
    batch.done = queue.run(() => {
      if (delivered === batch) delivered = undefined;
      const settled = s.markDelivered.all(JSON.stringify(batch.seqs), batch.now);
      if (settled.length === 0) return;
      const highest = new Map<string, number>();
      for (const r of settled) highest.set(r.run_id, Math.max(highest.get(r.run_id) ?? 0, r.seq));
      const dropped = new Set(s.dropEmptyOutboxes.all(JSON.stringify([...highest.keys()])).map((r) => r.run_id));
      for (const [runId, top] of highest) {
        if (dropped.has(runId)) continue;
        s.endLease.run(runId, top);
        refreshOutbox(runId);
      }
    }, BACKGROUND);
    return batch.done;
  }

  async function purgeAll(statement: Statements["purgeDone"], before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await queue.run(() => statement.run(before, purgeChunk).changes, BACKGROUND);
      total += n;
      if (n < purgeChunk) return total;
    }
  }

  return withInputChecks({
    async commit(batch: CommitBatch, now: number): Promise<CommitResult> {
      return queue.run(() => {
        const records = batch.records.map((r): CommitOutcome => {
          const inserted = s.insertWork.run(r.key, r.kind, r.source, r.lane, now, r.action ?? null, r.requestId ?? null);
          if (inserted.changes === 0) return "duplicate";
          s.insertBody.run(Number(inserted.lastInsertRowid), r.body);
          return "accepted";
        });
        const deadLetters = batch.deadLetters.map((d): ParkOutcome => {
          if (d.claims !== undefined && s.workExists.get(d.claims)) return "superseded";
          const encoding = d.rawEncoding ?? "utf8";
          const parked = s.insertDeadLetter.run(d.key, d.kind, d.reason, d.source, rawSize(d.raw, encoding), encoding, d.runId, now);
          if (parked.changes === 0) return "duplicate";
          s.insertDeadLetterRaw.run(Number(parked.lastInsertRowid), d.raw);
          // A decided key is finished work without a body: a duplicate for every later record.
          if (d.claims !== undefined) {
            const end = d.kind === "run" ? parkedEnd(d.reason) : null;
            s.insertDecided.run(d.claims, d.kind, d.source, now, end?.status ?? null, end?.summary ?? null);
          }
          queueReports(d.reports ?? [], now);
          return "accepted";
        });
        queueReports(batch.reports, now);
        return { records, deadLetters };
      });
    },

    async claimWork({ owner, limit, leaseMs, now, takeExpired = true, kind }: WorkClaim): Promise<ClaimedWork[]> {
      if (limit <= 0) return [];
      // Not taking expired leases: compare them with a time before any lease (-1), so none qualifies.
      const rows = await queue.run(() => s.claim.all(owner, now + leaseMs, takeExpired ? now : -1, limit, kind ?? null, now), BACKGROUND);
      return rows
        .sort((a, b) => a.seq - b.seq)
        .map((r) => ({ key: r.key, kind: r.kind, body: r.body, source: r.source, lane: r.lane, attempt: r.attempt, acceptedAt: r.accepted_at }));
    },

    async renewWork(keys: string[], owner: string, leaseMs: number, now: number): Promise<void> {
      if (keys.length === 0) return;
      await queue.run(() => {
        for (const key of keys) s.renew.run(now + leaseMs, key, owner);
      }, BACKGROUND);
    },

    async finishWork(key: string, owner: string, reports: ReportInput[], now: number, ended?: WorkEnd): Promise<boolean> {
      return finishTogether(key, owner, reports, now, ended);
    },

    async leaseHolders(): Promise<string[]> {
      const rows = await queue.run(() => s.leaseHolders.all());
      return rows.map((r) => r.owner);
    },

    async expireLeases(owners: string[], _now: number): Promise<{ work: number; reports: number }> {
      if (owners.length === 0) return { work: 0, reports: 0 };
      const list = JSON.stringify(owners);
      return queue.run(() => ({ work: s.expireWork.run(list).changes, reports: s.expireOutboxes.run(list).changes }));
    },

    async releaseWork(key: string, owner: string): Promise<void> {
      await queue.run(() => s.release.run(key, owner), BACKGROUND);
    },

    async appendReports(reports: ReportInput[], now: number): Promise<void> {
      if (reports.length > 0) await queue.run(() => queueReports(reports, now), BACKGROUND);
    },

    async claimReports({ owner, limit, leaseMs, now, limitRuns }: ClaimOptions & { limitRuns?: number }): Promise<PendingReport[]> {
      const runs = limitRuns ?? limit;
      if (runs <= 0) return [];
      return queue.run(() => {
        const ready = s.readyRuns.all(now, runs).map((r) => r.run_id);
        if (ready.length === 0) return [];
        // Every report a claim can look at: at most `limit` taken, plus one not yet due per run. A run with
        // more behind a report that is not due could fill the window; then the claim goes run by run.
        const window = limit + ready.length;
        const rows = s.runsReports.all(JSON.stringify(ready), window);
        if (rows.length >= window) return claimRunByRun(ready, owner, limit, leaseMs, now);
        const out: PendingReport[] = [];
        const leases: Array<[string, number]> = [];
        let row = 0;
        for (const [pos, runId] of ready.entries()) {
          if (out.length >= limit) break;
          let last = 0;
          let due = true;
          for (; row < rows.length && (rows[row] as { pos: number }).pos === pos; row++) {
            const r = rows[row] as { seq: number; call: string; attempts: number; due_at: number };
            if (!due || out.length >= limit || r.due_at > now) {
              due = false;
              continue;
            }
            out.push({ id: String(r.seq), runId, call: JSON.parse(r.call) as PortCall, attempts: r.attempts });
            last = r.seq;
          }
          leases.push([runId, last]);
        }
        s.leaseOutboxes.run(JSON.stringify(leases), now + leaseMs, owner);
        return out;
      }, BACKGROUND);
    },

    async settleReport(id: string, outcome: ReportOutcome, now: number): Promise<void> {
      const seq = parseId(id);
      if (seq === undefined) return;
      // The usual case, delivered: settled together with the others of this moment (see settleDelivered).
      if (outcome.type === "delivered") return settleDelivered(seq, now);
      await queue.run(() => {
        // Only a pending report can be settled: a late or repeated settle changes nothing.
        let runId: string | undefined;
        if (outcome.type === "retry") {
          runId = s.markRetry.get(seq, outcome.at, outcome.error)?.run_id;
          if (runId === undefined) return;
          s.pushBehind.run(runId, seq, outcome.at);
          s.endLease.run(runId, Number.MAX_SAFE_INTEGER);
        } else {
          runId = s.markSettled.get(seq, ReportState.failed, now, outcome.error)?.run_id;
          if (runId === undefined) return;
          s.endLease.run(runId, seq);
        }
        refreshOutbox(runId);
      }, BACKGROUND);
    },

    async listDeadLetters(o: { limit?: number; after?: string } = {}): Promise<DeadLetterSummary[]> {
      const after = parseCursor(o.after);
      const rows = await queue.run(() => s.listDeadLetters.all(after, o.limit ?? 0));
      return rows.map(deadLetter);
    },

    async getDeadLetter(id: string): Promise<DeadLetter | undefined> {
      const seq = parseId(id);
      if (seq === undefined) return undefined;
      const row = await queue.run(() => s.getDeadLetter.get(seq));
      return row ? { ...deadLetter(row), raw: row.raw } : undefined;
    },

    async removeDeadLetter(id: string): Promise<boolean> {
      const seq = parseId(id);
      if (seq === undefined) return false;
      return queue.run(() => s.removeDeadLetter.run(seq).changes === 1);
    },

    async purgeDeadLetters(before: number): Promise<number> {
      return purgeAll(s.purgeDeadLetters, before);
    },

    async purge(before: number): Promise<{ work: number; reports: number }> {
      const work = await purgeAll(s.purgeDone, before);
      const reports = (await purgeAll(s.purgeDelivered, before)) + (await purgeAll(s.purgeFailed, before));
      return { work, reports };
    },

    listRuns: history.listRuns,
    getRun: history.getRun,

    async counts(): Promise<LedgerCounts> {
      const c = await queue.run(() => s.counts.get());
      if (!c) throw new Error("SQLite returned no counts");
      return c;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await queue.close();
      db.exec("PRAGMA optimize");
      db.close();
    },

    async unsettled(keys: string[], runIds: string[]): Promise<{ keys: string[]; runIds: string[] }> {
      return queue.run(() => ({
        keys: s.unsettledWork.all(JSON.stringify(keys)).map((r) => r.key),
        runIds: s.unsettledRuns.all(JSON.stringify(runIds)).map((r) => r.run_id),
      }));
    },
  });
}

function deadLetter(r: DeadLetterRow): DeadLetterSummary {
  return {
    id: String(r.seq),
    key: r.key,
    kind: r.kind,
    reason: r.reason,
    source: r.source,
    rawEncoding: r.raw_encoding,
    size: r.size,
    runId: r.run_id,
    parkedAt: r.parked_at,
  };
}
