import type { Database } from "bun:sqlite";

/**
 * Group commit for a synchronous SQLite connection. Every ledger call becomes a job; the jobs that arrive
 * within one turn of the event loop run in call order inside ONE `BEGIN IMMEDIATE` transaction, so they
 * share one WAL fsync. That is what lets `synchronous = FULL` (every acknowledged call is on disk) go
 * with thousands of calls per second: the cost of a sync is paid per turn, not per call.
 *
 * A job must only touch the database (no outside side effects): when one job throws, the group's
 * transaction is rolled back, that job fails, and the others run again in the next group. When BEGIN or
 * COMMIT fails (disk full, I/O error, lock timeout), nothing was written and every job of the group fails.
 */
export interface GroupCommit {
  run<T>(job: () => T): Promise<T>;
  /** Runs what is queued, then refuses new jobs. */
  close(): Promise<void>;
}

interface Job {
  job: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export function createGroupCommit(db: Database, opts: { maxJobs?: number } = {}): GroupCommit {
  const maxJobs = opts.maxJobs ?? 500;
  /** The job running right now, so a failure can be pinned on it rather than on the transaction. */
  let running: Job | undefined;
  const runGroup = db.transaction((jobs: Job[]) =>
    jobs.map((j) => {
      running = j;
      const result = j.job();
      running = undefined;
      return result;
    }),
  );
  const queue: Job[] = [];
  let scheduled = false;
  let closed = false;
  let idle: (() => void) | undefined;

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    // setImmediate, not a microtask: the jobs from every I/O callback of this loop turn join the group.
    setImmediate(flush);
  }

  function flush(): void {
    scheduled = false;
    const jobs = queue.splice(0, maxJobs);
    running = undefined;
    try {
      const results = runGroup.immediate(jobs);
      jobs.forEach((j, i) => j.resolve(results[i]));
    } catch (error) {
      const culprit = running as Job | undefined; // set by runGroup, which TS cannot see
      running = undefined;
      if (culprit) {
        culprit.reject(error);
        queue.unshift(...jobs.filter((j) => j !== culprit));
      } else {
        for (const j of jobs) j.reject(error);
      }
    }
    if (queue.length > 0) schedule();
    else idle?.();
  }

  return {
    run<T>(job: () => T): Promise<T> {
      if (closed) return Promise.reject(new Error(`The SQLite ledger ${db.filename} is closed`));
      return new Promise<T>((resolve, reject) => {
        queue.push({ job, resolve: resolve as (value: unknown) => void, reject });
        schedule();
      });
    },
    close(): Promise<void> {
      closed = true;
      if (queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => {
        idle = resolve;
      });
    },
  };
}
