import type { SqliteDatabase } from "./sqlite-driver.ts";

/**
 * Group commit for a synchronous SQLite connection. Every ledger call becomes a job; queued jobs run
 * inside ONE `BEGIN IMMEDIATE` transaction, so they share one WAL fsync. That is what lets
 * `synchronous = FULL` (every acknowledged call is on disk) go with thousands of calls per second: the
 * cost of a sync is paid per group, not per call.
 *
 * Two kinds of job:
 * - urgent (the default): a sender waits on it right now, for its ack. Urgent jobs run in the next turn
 *   of the event loop;
 * - background (`{ background: true }`: the executor's claims and finishes, the outbox's claims and
 *   settles, lease renewals, purges). When the ledger has been quiet they run in the next turn too;
 *   right after a group they wait until `syncShare`⁻¹−1 times that group's duration has passed (a quarter of it, by default; at most
 *   `maxWaitMs` in all), so the event loop gets to answer requests and Port in between and the next
 *   group is bigger: fewer BEGIN/COMMIT pairs and fsyncs, and fewer statements, for the same work.
 *
 * A group is every job queued by then, in call order (an urgent job takes the waiting background ones
 * along). An idle ledger adds no delay to anything.
 *
 * A job must only touch the database (no outside side effects): when one job throws, the group's
 * transaction is rolled back, that job fails, and the others run again in the next group. When BEGIN or
 * COMMIT fails (disk full, I/O error, lock timeout), nothing was written and every job of the group fails.
 */
export interface GroupCommit {
  run<T>(job: () => T, opts?: JobOptions): Promise<T>;
  /** Runs what is queued, then refuses new jobs. */
  close(): Promise<void>;
}

export interface JobOptions {
  /** Nobody waits on it right now: under load it may wait for a bigger group (see above). */
  background?: boolean;
}

interface Job {
  job: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  background: boolean;
}

export interface GroupCommitOptions {
  /** Most jobs in one transaction (default 500). */
  maxJobs?: number;
  /** Largest share of the time background groups may spend in their transactions (default 0.8). */
  syncShare?: number;
  /** Cap on how long a background job waits for its group (default 20 ms). */
  maxWaitMs?: number;
}

export function createGroupCommit(db: SqliteDatabase, opts: GroupCommitOptions = {}): GroupCommit {
  const maxJobs = opts.maxJobs ?? 500;
  const gapFactor = 1 / (opts.syncShare ?? 0.8) - 1;
  const maxWaitMs = opts.maxWaitMs ?? 20;
  /** The job running right now, so a failure can be pinned on it rather than on the transaction. */
  let running: Job | undefined;
  const runGroup = db.immediate((jobs: Job[]) =>
    jobs.map((j) => {
      running = j;
      const result = j.job();
      running = undefined;
      return result;
    }),
  );
  const queue: Job[] = [];
  let urgent = 0;
  let immediate = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let idle: (() => void) | undefined;
  /** When background jobs may run next (performance.now() ms): the end of the last group plus its gap. */
  let quietUntil = 0;

  function schedule(): void {
    const now = performance.now();
    if (urgent > 0 || closed || quietUntil <= now) {
      if (!immediate) {
        immediate = true;
        // setImmediate, not a microtask: the jobs from every I/O callback of this loop turn join the group.
        setImmediate(flush, false);
      }
    }
    if (!immediate && timer === undefined && queue.length > urgent) timer = setTimeout(flush, Math.max(1, Math.min(maxWaitMs, quietUntil - now)), true);
  }

  function flush(fromTimer: boolean): void {
    if (fromTimer) timer = undefined;
    else immediate = false;
    const jobs = queue.splice(0, maxJobs);
    if (jobs.length === 0) {
      idle?.();
      return;
    }
    for (const j of jobs) if (!j.background) urgent--;
    running = undefined;
    const startedAt = performance.now();
    try {
      const results = runGroup(jobs);
      for (const [i, j] of jobs.entries()) j.resolve(results[i]);
    } catch (error) {
      const culprit = running as Job | undefined; // set by runGroup, which TS cannot see
      running = undefined;
      if (culprit) {
        culprit.reject(error);
        const again = jobs.filter((j) => j !== culprit);
        for (const j of again) if (!j.background) urgent++;
        queue.unshift(...again);
      } else {
        for (const j of jobs) j.reject(error);
      }
    }
    const endedAt = performance.now();
    quietUntil = endedAt + (endedAt - startedAt) * gapFactor;
    if (queue.length > 0) schedule();
    else idle?.();
  }

  return {
    run<T>(job: () => T, runOpts?: JobOptions): Promise<T> {
      if (closed) return Promise.reject(new Error(`The SQLite ledger ${db.filename} is closed`));
      return new Promise<T>((resolve, reject) => {
        const background = runOpts?.background === true;
        queue.push({ job, resolve: resolve as (value: unknown) => void, reject, background });
        if (!background) urgent++;
        schedule();
      });
    },
    close(): Promise<void> {
      closed = true;
      if (queue.length === 0) return Promise.resolve();
      schedule();
      return new Promise((resolve) => {
        idle = resolve;
      });
    },
  };
}
