import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { connectRedis } from "../shared/redis.ts";
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
  RawEncoding,
  ReportOutcome,
  WorkClaim,
  WorkEnd,
  WorkKind,
} from "./ledger.ts";
import * as dl from "./redis-dead-letters.ts";
import { redisHistory } from "./redis-history.ts";
import * as lua from "./redis-scripts.ts";
import * as upkeep from "./redis-upkeep.ts";
import { callText, parseCursor, parseId, rawSize, withInputChecks } from "./validate.ts";

export type RedisLedgerOptions = ({ url: string; onConnectionError?: (error: Error, count: number) => void } | { client: Redis }) & {
  /** Every key of this ledger starts with `<prefix>:`; ledgers with different prefixes share a Redis safely. */
  prefix?: string;
  /** Finished items and settled reports deleted per script by `purge`, so Redis is never blocked for long. */
  purgeChunk?: number;
};

/**
 * The ledger for several portside replicas sharing one Redis.
 *
 * Every call is one Lua script (EVALSHA, falling back to EVAL once per script and server), so it is
 * atomic and one round trip: a 100-record commit, with its dedupe checks, dead letters and reports, is a
 * single script. Leases are what keep replicas apart: a claim takes only pending items and running items
 * whose lease has expired, inside one script, so two replicas never hold one item under a live lease.
 * Lease times come from the callers' clocks (`now`), so keep replica clocks in sync (NTP) and leases far
 * longer than any skew.
 *
 * Purge uses sorted sets scored by finish/settle time rather than key expiry: `purge(before)` then means
 * exactly what it says, on the caller's clock, in every store.
 *
 * Not supported: Redis Cluster (scripts build key names from the prefix, so all keys must live on one
 * node). "Ack means safe" holds only as far as Redis persists: run it with `appendonly yes` and
 * `appendfsync always` (or accept `everysec`'s one second), and fail over only to replicas that have the
 * writes (`WAIT`/`min-replicas-to-write`).
 *
 * With `url` the ledger owns its connection and closes it; with `client` the caller does. Its own
 * connection never resends a command after a reconnect (a resent commit would report "duplicate" and
 * park dead letters twice); the call fails instead and the sender retries.
 */
export function createRedisLedger(opts: RedisLedgerOptions): Ledger {
  const owned = "url" in opts;
  const redis = owned
    ? connectRedis(opts.url, {
        maxRetriesPerRequest: 2,
        autoResendUnfulfilledCommands: false,
        enableAutoPipelining: true,
        ...(opts.onConnectionError ? { onError: opts.onConnectionError } : {}),
      })
    : opts.client;
  const P = `${opts.prefix ?? "portside"}:`;
  const purgeChunk = opts.purgeChunk ?? 1_000;
  const run = scriptRunner(redis);
  let closed = false;

  const alive = (): void => {
    if (closed) throw new Error("The Redis ledger is closed");
  };
  const call = async (script: string, ...args: Array<string | number>): Promise<unknown> => {
    alive();
    return run(script, [P, ...args]);
  };

  function reportArgs(reports: ReportInput[]): Array<string | number> {
    const args: Array<string | number> = [reports.length];
    // The third: a status update (the run history's status report).
    for (const r of reports) args.push(r.runId, callText(r), isTerminal(r.call) ? "1" : "0");
    return args;
  }

  return withInputChecks({
    async commit(batch: CommitBatch, now: number): Promise<CommitResult> {
      const args: Array<string | number> = [now, batch.records.length];
      for (const r of batch.records) args.push(r.key, r.kind, r.body, r.source, r.lane === null ? "0" : "1", r.lane ?? "", r.action ?? "", r.requestId ?? "");
      args.push(batch.deadLetters.length);
      for (const d of batch.deadLetters) {
        const encoding = d.rawEncoding ?? "utf8";
        args.push(d.key, d.kind, d.reason, d.source, d.raw, encoding, d.runId === null ? "0" : "1", d.runId ?? "", d.claims ?? "", rawSize(d.raw, encoding));
        args.push(...reportArgs(d.reports ?? []));
      }
      args.push(...reportArgs(batch.reports));
      const [records = [], deadLetters = []] = (await call(lua.commitLua, ...args)) as number[][];
      const outcome = (f: number): CommitOutcome => (f === 1 ? "accepted" : "duplicate");
      const parked = (f: number): ParkOutcome => (f === 2 ? "superseded" : outcome(f));
      return { records: records.map(outcome), deadLetters: deadLetters.map(parked) };
    },

    async claimWork({ owner, limit, leaseMs, now, takeExpired = true, kind }: WorkClaim): Promise<ClaimedWork[]> {
      if (limit <= 0) return [];
      const flat = (await call(lua.claimWorkLua, owner, limit, now + leaseMs, now, takeExpired ? "1" : "0", kind ?? "")) as Array<string | number | null>;
      const out: ClaimedWork[] = [];
      for (let i = 0; i < flat.length; i += 7) {
        const [key, itemKind, body, source, lane, attempt, acceptedAt] = flat.slice(i, i + 7);
        out.push({
          key: String(key),
          kind: itemKind as WorkKind,
          body: String(body),
          source: String(source),
          lane: lane === null ? null : String(lane),
          attempt: Number(attempt),
          acceptedAt: Number(acceptedAt),
        });
      }
      return out;
    },

    async renewWork(keys: string[], owner: string, leaseMs: number, now: number): Promise<void> {
      if (keys.length > 0) await call(lua.renewWorkLua, owner, now + leaseMs, ...keys);
    },

    async finishWork(key: string, owner: string, reports: ReportInput[], now: number, ended?: WorkEnd): Promise<boolean> {
      const end = [ended?.status ?? "", ended?.summary ?? "", ended?.stack ?? ""];
      return (await call(lua.finishWorkLua, key, owner, now, ...end, ...reportArgs(reports))) === 1;
    },

    async leaseHolders(): Promise<string[]> {
      const owners = (await call(upkeep.leaseHoldersLua)) as string[];
      return owners.map(String).sort();
    },

    async expireLeases(owners: string[], _now: number): Promise<{ work: number; reports: number }> {
      if (owners.length === 0) return { work: 0, reports: 0 };
      const [work = 0, reports = 0] = (await call(upkeep.expireLeasesLua, ...owners)) as number[];
      return { work, reports };
    },

    async releaseWork(key: string, owner: string): Promise<void> {
      await call(lua.releaseWorkLua, key, owner);
    },

    async appendReports(reports: ReportInput[], now: number): Promise<void> {
      if (reports.length > 0) await call(lua.appendReportsLua, now, ...reportArgs(reports));
    },

    async claimReports({ owner, limit, leaseMs, now, limitRuns }: ClaimOptions & { limitRuns?: number }): Promise<PendingReport[]> {
      const runs = limitRuns ?? limit;
      if (runs <= 0) return [];
      const flat = (await call(lua.claimReportsLua, owner, limit, runs, now + leaseMs, now)) as Array<string | number>;
      const out: PendingReport[] = [];
      for (let i = 0; i < flat.length; i += 4) {
        const [id, runId, callJson, attempts] = flat.slice(i, i + 4);
        out.push({ id: String(id), runId: String(runId), call: JSON.parse(String(callJson)) as PortCall, attempts: Number(attempts) });
      }
      return out;
    },

    async settleReport(id: string, outcome: ReportOutcome, now: number): Promise<void> {
      if (parseId(id) === undefined) return;
      if (outcome.type === "retry") {
        await call(lua.settleReportLua, id, "retry", now, outcome.at, outcome.error);
      } else {
        await call(lua.settleReportLua, id, outcome.type, now, 0, outcome.type === "failed" ? outcome.error : "");
      }
    },

    async listDeadLetters(o: { limit?: number; after?: string } = {}): Promise<DeadLetterSummary[]> {
      const after = parseCursor(o.after);
      const limit = o.limit ?? 0;
      if (limit <= 0) return [];
      const flat = (await call(dl.listDeadLettersLua, after, limit)) as Array<string | number | null>;
      const out: DeadLetterSummary[] = [];
      for (let i = 0; i < flat.length; i += 9) {
        const [id, key, kind, reason, source, rawEncoding, size, runId, parkedAt] = flat.slice(i, i + 9);
        if (kind === null || kind === undefined) continue;
        out.push({
          id: String(id),
          key: key === null || key === undefined ? legacyKey(String(id)) : String(key),
          kind: kind as WorkKind,
          reason: String(reason),
          source: String(source),
          rawEncoding: encoding(rawEncoding === null ? null : String(rawEncoding)),
          size: Number(size),
          runId: runId === null || runId === undefined ? null : String(runId),
          parkedAt: Number(parkedAt),
        });
      }
      return out;
    },

    async getDeadLetter(id: string): Promise<DeadLetter | undefined> {
      if (parseId(id) === undefined) return undefined;
      alive();
      const [key, kind, reason, source, raw, rawEncoding, size, runId, parkedAt] = await redis.hmget(
        `${P}dl:${id}`,
        "key",
        "kind",
        "reason",
        "source",
        "raw",
        "rawEncoding",
        "size",
        "runId",
        "parkedAt",
      );
      if (kind === null || kind === undefined) return undefined;
      return {
        id,
        key: key ?? legacyKey(id),
        kind: kind as WorkKind,
        reason: reason ?? "",
        source: source ?? "",
        raw: raw ?? "",
        rawEncoding: encoding(rawEncoding),
        // Letters parked before sizes were kept are text: their size is that of the stored text.
        size: size === null || size === undefined ? rawSize(raw ?? "") : Number(size),
        runId: runId ?? null,
        parkedAt: Number(parkedAt),
      };
    },

    async removeDeadLetter(id: string): Promise<boolean> {
      if (parseId(id) === undefined) return false;
      return (await call(dl.removeDeadLetterLua, id)) === 1;
    },

    async purgeDeadLetters(before: number): Promise<number> {
      let total = 0;
      for (;;) {
        const n = Number(await call(dl.purgeDeadLettersLua, before, purgeChunk));
        total += n;
        if (n < purgeChunk) return total;
      }
    },

    async purge(before: number): Promise<{ work: number; reports: number }> {
      const total = { work: 0, reports: 0 };
      for (;;) {
        const [work = 0, reports = 0] = (await call(upkeep.purgeLua, before, purgeChunk)) as number[];
        total.work += work;
        total.reports += reports;
        if (work < purgeChunk && reports < purgeChunk) return total;
      }
    },

    async counts(): Promise<LedgerCounts> {
      const [pendingWork = 0, runningWork = 0, doneWork = 0, pendingReports = 0, failedReports = 0, deadLetters = 0, oldest] = (await call(
        upkeep.countsLua,
      )) as Array<number | string | null>;
      const n = Number;
      return {
        pendingWork: n(pendingWork),
        runningWork: n(runningWork),
        doneWork: n(doneWork),
        pendingReports: n(pendingReports),
        failedReports: n(failedReports),
        deadLetters: n(deadLetters),
        oldestHeldReportAt: oldest === null || oldest === undefined ? null : n(oldest),
      };
    },

    ...redisHistory(call),

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (owned) await redis.quit();
    },

    async unsettled(keys: string[], runIds: string[]): Promise<{ keys: string[]; runIds: string[] }> {
      const [open = [], runs = []] = (await call(lua.unsettledLua, keys.length, ...keys, ...runIds)) as string[][];
      return { keys: open.map(String), runIds: runs.map(String) };
    },
  });
}

/**
 * The key a dead letter parked before dead letters had keys reads with (as the SQLite migration gives
 * such rows). It is in no dedupe index, so such a letter never makes a new one a duplicate.
 */
const legacyKey = (id: string): string => `legacy:${id}`;

/**
 * Runs a script by its SHA-1 (EVALSHA); when the server does not have it yet (first use, restart,
 * SCRIPT FLUSH) it is sent once with EVAL, which also caches it. A NOSCRIPT reply means the script did
 * not run, so sending it again is safe.
 */
function scriptRunner(redis: Redis) {
  const shas = new Map<string, string>();
  return async (script: string, args: Array<string | number>): Promise<unknown> => {
    let sha = shas.get(script);
    if (sha === undefined) {
      sha = createHash("sha1").update(script).digest("hex");
      shas.set(script, sha);
    }
    try {
      return await redis.call("EVALSHA", sha, 0, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return redis.call("EVAL", script, 0, ...args);
    }
  };
}

/** Letters parked before encodings were kept are text. */
const encoding = (value: string | null | undefined): RawEncoding => (value === "base64" ? "base64" : "utf8");
