import type { RunPage, RunQuery, RunRecord } from "./ledger.ts";

/**
 * What every ledger shares in serving the run history: the filter, the paging over a bounded scan, and
 * the split of a long report list into its first and last halves. Each store only reads its rows.
 */

/** Runs one `listRuns` call looks at, at most, unless the caller says otherwise. */
export const RUN_SCAN_LIMIT = 10_000;
/** Reports of one run `getRun` returns, at most (the first and the last halves). */
export const RUN_REPORT_LIMIT = 200;
/** Runs read from a store per step of a scan. */
const CHUNK = 256;

export function runMatches(query: RunQuery, run: RunRecord): boolean {
  if (query.action !== undefined && run.action !== query.action) return false;
  if (query.state !== undefined && run.state !== query.state) return false;
  if (query.status !== undefined && run.status !== query.status) return false;
  return true;
}

/**
 * Pages through a store's runs newest first: `read(before, n)` returns up to `n` runs with `seq < before`
 * (any seq when undefined), newest first. Stops at `limit` matches, at runs accepted before `since`, or
 * after `scanLimit` runs looked at — then `next` says where to go on.
 */
export async function pageRuns(query: RunQuery, read: (before: number | undefined, n: number) => Promise<RunRecord[]>): Promise<RunPage> {
  const scanLimit = query.scanLimit ?? RUN_SCAN_LIMIT;
  const runs: RunRecord[] = [];
  let before = query.before;
  let scanned = 0;
  while (runs.length < query.limit && scanned < scanLimit) {
    const asked = Math.min(CHUNK, scanLimit - scanned);
    const chunk = await read(before, asked);
    for (const run of chunk) {
      scanned++;
      before = run.seq;
      if (query.since !== undefined && run.acceptedAt < query.since) return { runs, next: null };
      if (runMatches(query, run)) {
        runs.push(run);
        if (runs.length === query.limit) return { runs, next: run.seq };
      }
    }
    if (chunk.length < asked) return { runs, next: null };
  }
  return { runs, next: before ?? null };
}

/** How many of a run's reports to read from the front and from the back. */
export function headAndTail(total: number, limit = RUN_REPORT_LIMIT): { head: number; tail: number; notShown: number } {
  if (total <= limit) return { head: total, tail: 0, notShown: 0 };
  const head = Math.ceil(limit / 2);
  return { head, tail: limit - head, notShown: total - limit };
}
