import { isTerminal, type PortCall, type ReportInput } from "../port/calls.ts";
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
  RunHistory,
  RunPage,
  RunQuery,
  RunRecord,
  WorkClaim,
  WorkEnd,
  WorkRecord,
} from "./ledger.ts";
import { parkedEnd, runIdOfKey, runKey } from "./ledger.ts";
import { headAndTail, pageRuns } from "./history.ts";
import { callText, parseId, withInputChecks } from "./validate.ts";
import { createMemoryDeadLetters } from "./memory-dead-letters.ts";
import { claimed, type Item, type Outbox, type Report, reportRecord, runRecord } from "./memory-records.ts";

/**
 * A ledger held in this process's memory. NOT DURABLE: a restart forgets every accepted run, every
 * queued report and every dead letter, so "ack means safe" does not hold. It exists for unit tests and
 * Lambda functions without a Redis ledger, and is the plainest statement of the semantics the durable stores share (all of them
 * pass `test/ledger/contract.ts`). Web-standard JavaScript only, so it runs on Bun, Deno and Node.
 */
export function createMemoryLedger(): Ledger {
  const items = new Map<string, Item>();
  /** Pending and running items: the only ones a claim can take (waiting items sit behind a lane head). */
  const open = new Set<Item>();
  /** Unfinished items per lane, head first. */
  const lanes = new Map<string, Item[]>();
  const reports = new Map<number, Report>();
  /** Every report of a run, settled or not, in queue order (the run history); purged with the reports. */
  const reportsOfRun = new Map<string, Report[]>();
  /** Run items in acceptance order (the run history). */
  let runItems: Item[] = [];
  const outboxes = new Map<string, Outbox>();
  const deadLetters = createMemoryDeadLetters();
  let workSeq = 0;
  let reportSeq = 0;
  let closed = false;

  function alive(): void {
    if (closed) throw new Error("The memory ledger is closed");
  }

  function queueReports(list: ReportInput[], now: number): void {
    for (const r of list) {
      const report: Report = {
        seq: ++reportSeq,
        runId: r.runId,
        createdAt: now,
        call: callText(r),
        terminal: isTerminal(r.call),
        state: "pending",
        attempts: 0,
        dueAt: now,
        settledAt: 0,
        error: null,
      };
      reports.set(report.seq, report);
      const ofRun = reportsOfRun.get(r.runId);
      if (ofRun) ofRun.push(report);
      else reportsOfRun.set(r.runId, [report]);
      const outbox = outboxes.get(r.runId);
      if (outbox) outbox.pending.push(report);
      else outboxes.set(r.runId, { pending: [report], leaseUntil: 0, owner: null, claimedTo: 0, since: now });
    }
  }

  /** The latest report of a run that tells Port its status. */
  function statusReportOf(item: Item): Report | undefined {
    return reportsOfRun.get(runIdOfKey(item.record.key) ?? "")?.findLast((r) => r.terminal);
  }

  /** The item's lane moves on: the next waiting item becomes claimable. */
  function leaveLane(item: Item): void {
    const lane = item.record.lane;
    if (lane === null) return;
    const queue = lanes.get(lane);
    if (!queue) return;
    const at = queue.indexOf(item);
    if (at >= 0) queue.splice(at, 1);
    const next = queue[0];
    if (!next) lanes.delete(lane);
    else if (next.state === "waiting") {
      next.state = "pending";
      open.add(next);
    }
  }

  function endLease(outbox: Outbox): void {
    outbox.leaseUntil = 0;
    outbox.owner = null;
    outbox.claimedTo = 0;
  }

  return withInputChecks({
    async commit(batch: CommitBatch, now: number): Promise<CommitResult> {
      alive();
      const records = batch.records.map((record): CommitOutcome => {
        if (items.has(record.key)) return "duplicate";
        const item: Item = {
          seq: ++workSeq,
          record: { ...record },
          state: "pending",
          attempt: 0,
          owner: null,
          leaseUntil: 0,
          acceptedAt: now,
          finishedAt: 0,
          startedAt: null,
          ended: null,
        };
        if (record.lane !== null) {
          const queue = lanes.get(record.lane);
          if (queue) {
            queue.push(item);
            item.state = "waiting";
          } else lanes.set(record.lane, [item]);
        }
        items.set(record.key, item);
        if (item.state === "pending") open.add(item);
        if (record.kind === "run") runItems.push(item);
        return "accepted";
      });
      const parked = batch.deadLetters.map((d): ParkOutcome => {
        const { claims } = d;
        if (claims !== undefined && items.has(claims)) return "superseded";
        if (deadLetters.isParked(d.key)) return "duplicate";
        if (claims !== undefined) {
          // The key is decided: remembered as finished work (no body; never claimable), purged like any.
          const record: WorkRecord = { key: claims, kind: d.kind, body: "", source: d.source, lane: null };
          const ended = d.kind === "run" ? parkedEnd(d.reason) : null;
          const item: Item = {
            seq: ++workSeq,
            record,
            state: "done",
            attempt: 0,
            owner: null,
            leaseUntil: 0,
            acceptedAt: now,
            finishedAt: now,
            startedAt: null,
            ended,
          };
          items.set(claims, item);
          if (d.kind === "run") runItems.push(item);
        }
        deadLetters.park(d, now);
        queueReports(d.reports ?? [], now);
        return "accepted";
      });
      queueReports(batch.reports, now);
      return { records, deadLetters: parked };
    },

    async claimWork({ owner, limit, leaseMs, now, takeExpired = true, kind }: WorkClaim): Promise<ClaimedWork[]> {
      alive();
      const eligible = [...open].filter(
        (i) => (kind === undefined || i.record.kind === kind) && (i.state === "pending" || (takeExpired && i.leaseUntil <= now)),
      );
      eligible.sort((a, b) => a.seq - b.seq);
      return eligible.slice(0, limit).map((item) => {
        item.state = "running";
        item.owner = owner;
        item.leaseUntil = now + leaseMs;
        item.attempt += 1;
        item.startedAt = now;
        return claimed(item);
      });
    },

    async renewWork(keys: string[], owner: string, leaseMs: number, now: number): Promise<void> {
      alive();
      for (const key of keys) {
        const item = items.get(key);
        if (item?.state === "running" && item.owner === owner) item.leaseUntil = now + leaseMs;
      }
    },

    async finishWork(key: string, owner: string, list: ReportInput[], now: number, ended?: WorkEnd): Promise<boolean> {
      alive();
      const item = items.get(key);
      if (item?.state !== "running" || item.owner !== owner) return false;
      item.ended = ended ? { ...ended } : null;
      item.state = "done";
      item.owner = null;
      item.leaseUntil = 0;
      item.finishedAt = now;
      open.delete(item);
      leaveLane(item);
      queueReports(list, now);
      return true;
    },

    async leaseHolders(): Promise<string[]> {
      alive();
      const owners = new Set<string>();
      for (const item of open) if (item.state === "running" && item.owner !== null) owners.add(item.owner);
      for (const outbox of outboxes.values()) if (outbox.owner !== null) owners.add(outbox.owner);
      return [...owners].sort();
    },

    async expireLeases(owners: string[], _now: number): Promise<{ work: number; reports: number }> {
      alive();
      const dead = new Set(owners);
      let work = 0;
      let runs = 0;
      for (const item of open) {
        if (item.state !== "running" || item.owner === null || !dead.has(item.owner)) continue;
        // Back to pending with its attempt kept: the next claim counts it as a later attempt.
        item.state = "pending";
        item.owner = null;
        item.leaseUntil = 0;
        work += 1;
      }
      for (const outbox of outboxes.values()) {
        if (outbox.owner === null || !dead.has(outbox.owner)) continue;
        endLease(outbox);
        runs += 1;
      }
      return { work, reports: runs };
    },

    async releaseWork(key: string, owner: string): Promise<void> {
      alive();
      const item = items.get(key);
      if (item?.state !== "running" || item.owner !== owner) return;
      item.state = "pending";
      item.owner = null;
      item.leaseUntil = 0;
      item.attempt -= 1;
    },

    async appendReports(list: ReportInput[], now: number): Promise<void> {
      alive();
      queueReports(list, now);
    },

    async claimReports({ owner, limit, leaseMs, now, limitRuns }: ClaimOptions & { limitRuns?: number }): Promise<PendingReport[]> {
      alive();
      const ready: Array<[string, Outbox, number]> = [];
      for (const [runId, outbox] of outboxes) {
        const head = outbox.pending[0];
        if (!head) continue;
        const readyAt = Math.max(head.dueAt, outbox.leaseUntil);
        if (readyAt <= now) ready.push([runId, outbox, readyAt]);
      }
      ready.sort((a, b) => a[2] - b[2]);
      const out: PendingReport[] = [];
      let runs = 0;
      for (const [runId, outbox] of ready) {
        if (runs >= (limitRuns ?? limit) || out.length >= limit) break;
        let last = 0;
        for (const report of outbox.pending) {
          if (report.dueAt > now || out.length >= limit) break;
          out.push({ id: String(report.seq), runId, call: JSON.parse(report.call) as PortCall, attempts: report.attempts });
          last = report.seq;
        }
        outbox.leaseUntil = now + leaseMs;
        outbox.owner = owner;
        outbox.claimedTo = last;
        runs += 1;
      }
      return out;
    },

    async settleReport(id: string, outcome: ReportOutcome, now: number): Promise<void> {
      alive();
      const seq = parseId(id);
      const report = seq === undefined ? undefined : reports.get(seq);
      const outbox = report && outboxes.get(report.runId);
      if (report?.state !== "pending" || !outbox) return;
      report.attempts += 1;
      if (outcome.type === "retry") {
        report.dueAt = outcome.at;
        report.error = outcome.error;
        for (const later of outbox.pending) if (later.seq > report.seq) later.dueAt = Math.max(later.dueAt, outcome.at);
        endLease(outbox);
      } else {
        report.state = outcome.type;
        report.settledAt = now;
        // A delivery keeps Port's last refusal (the history shows what it took to get through).
        if (outcome.type === "failed") report.error = outcome.error;
        outbox.pending.splice(outbox.pending.indexOf(report), 1);
        if (report.seq >= outbox.claimedTo) endLease(outbox);
        if (outbox.pending.length === 0) outboxes.delete(report.runId);
      }
    },

    async listDeadLetters(opts: { limit?: number; after?: string } = {}): Promise<DeadLetterSummary[]> {
      alive();
      return deadLetters.list(opts);
    },

    async getDeadLetter(id: string): Promise<DeadLetter | undefined> {
      alive();
      return deadLetters.get(id);
    },

    async removeDeadLetter(id: string): Promise<boolean> {
      alive();
      return deadLetters.remove(id);
    },

    async purgeDeadLetters(before: number): Promise<number> {
      alive();
      return deadLetters.purge(before);
    },

    async purge(before: number): Promise<{ work: number; reports: number }> {
      alive();
      let work = 0;
      let settled = 0;
      for (const [key, item] of items) {
        if (item.state === "done" && item.finishedAt < before) {
          items.delete(key);
          work += 1;
        }
      }
      if (work > 0) runItems = runItems.filter((item) => items.get(item.record.key) === item);
      for (const [seq, report] of reports) {
        if (report.state !== "pending" && report.settledAt < before) {
          reports.delete(seq);
          settled += 1;
        }
      }
      if (settled > 0) {
        for (const [runId, list] of reportsOfRun) {
          const kept = list.filter((r) => reports.get(r.seq) === r);
          if (kept.length === 0) reportsOfRun.delete(runId);
          else if (kept.length < list.length) reportsOfRun.set(runId, kept);
        }
      }
      return { work, reports: settled };
    },

    async listRuns(query: RunQuery): Promise<RunPage> {
      alive();
      return pageRuns(query, async (before, n) => {
        const out: RunRecord[] = [];
        for (let i = runItems.length - 1; i >= 0 && out.length < n; i--) {
          const item = runItems[i] as Item;
          if (before === undefined || item.seq < before) out.push(runRecord(item, statusReportOf(item)));
        }
        return out;
      });
    },

    async getRun(runId: string, opts: { reportLimit?: number } = {}): Promise<RunHistory | undefined> {
      alive();
      const item = items.get(runKey(runId));
      if (item?.record.kind !== "run") return undefined;
      const list = reportsOfRun.get(runId) ?? [];
      const { head, tail, notShown } = headAndTail(list.length, opts.reportLimit);
      const shown = [...list.slice(0, head), ...(tail > 0 ? list.slice(-tail) : [])];
      return { ...runRecord(item, statusReportOf(item)), stack: item.ended?.stack ?? null, reports: shown.map(reportRecord), reportsNotShown: notShown };
    },

    async counts(): Promise<LedgerCounts> {
      alive();
      const c: LedgerCounts = {
        pendingWork: 0,
        runningWork: 0,
        doneWork: 0,
        pendingReports: 0,
        failedReports: 0,
        deadLetters: deadLetters.size,
        oldestHeldReportAt: null,
      };
      for (const outbox of outboxes.values()) if (c.oldestHeldReportAt === null || outbox.since < c.oldestHeldReportAt) c.oldestHeldReportAt = outbox.since;
      for (const item of items.values()) {
        if (item.state === "running") c.runningWork += 1;
        else if (item.state === "done") c.doneWork += 1;
        else c.pendingWork += 1;
      }
      for (const report of reports.values()) {
        if (report.state === "pending") c.pendingReports += 1;
        else if (report.state === "failed") c.failedReports += 1;
      }
      return c;
    },

    async close(): Promise<void> {
      closed = true;
    },

    async unsettled(keys: string[], runIds: string[]): Promise<{ keys: string[]; runIds: string[] }> {
      alive();
      const open = (key: string) => {
        const state = items.get(key)?.state;
        return state !== undefined && state !== "done";
      };
      return { keys: keys.filter(open), runIds: runIds.filter((runId) => outboxes.has(runId)) };
    },
  });
}
