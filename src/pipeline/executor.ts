import type { ClaimedWork, Ledger } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import { parseChange, parseRun, type RunLocator } from "../messages/index.ts";
import type { Change, Run } from "../messages/views.ts";
import type { ReportInput } from "../port/calls.ts";
import type { ExternalTarget, RunResult } from "../targets/define.ts";
import type { Registry } from "../targets/registry.ts";
import { truncate } from "./accept.ts";
import { parsedRuns } from "./parsed-runs.ts";
import { createRunContext, type RunCalls } from "./run-context.ts";
import { withTimeout, TimeoutError } from "./timeout.ts";

/**
 * The executor runs accepted work from the ledger: it claims items under a lease (so two replicas never
 * run the same one), runs the handler with a time limit, and finishes the item together with the
 * run's final reports in one ledger transaction. It never reads a request; it only reads the ledger.
 */

/** Runs records whose target is not local code (EventBridge fan-out, …). */
export interface ExternalTargetRunner {
  /** Resolves to the run's result, or `{ deferred: true }` when someone downstream reports the status. */
  run(target: ExternalTarget, run: Run, log: (message: string) => Promise<void>): Promise<RunResult | { deferred: true }>;
  change(target: ExternalTarget, change: Change): Promise<void>;
}

export interface ExecutorDeps {
  ledger: Ledger;
  registry: Registry;
  logger: Logger;
  clock: () => number;
  /** Unique per process: leases are held in its name. */
  owner: string;
  concurrency: number;
  handlerTimeoutMs: number;
  leaseMs?: number;
  locator: RunLocator | null;
  /** Wakes the reporter when reports were written. */
  onReports: () => void;
  targets?: Record<string, ExternalTargetRunner>;
  /** How often to look for work nobody announced (expired leases after a crash elsewhere). */
  pollMs?: number;
  /** How often buffered logs of running handlers are written out. */
  logFlushMs?: number;
}

export interface Executor {
  start(): void;
  /** New work was committed: look for it now. */
  notify(): void;
  /** Resolves when the item with this key finishes in this process (used by the synchronous ack mode). */
  settled(key: string): Promise<void>;
  /** Stops claiming, waits up to `graceMs` for running handlers, and leaves everything else in the ledger. */
  stop(graceMs: number): Promise<{ unfinished: number }>;
  readonly active: number;
}

interface Active {
  item: ClaimedWork;
  calls?: RunCalls;
  abort: AbortController;
}

export function createExecutor(deps: ExecutorDeps): Executor {
  const leaseMs = deps.leaseMs ?? 60_000;
  const pollMs = deps.pollMs ?? 1_000;
  const logFlushMs = deps.logFlushMs ?? 1_000;
  const active = new Map<string, Active>();
  const waiters = new Map<string, Array<() => void>>();
  // Keys finished lately (the last 10,000 to 20,000), so a waiter that registers just after the finish is
  // not left hanging. Two generations rather than one set trimmed from the front: deleting a Set's oldest
  // entry one at a time leaves tombstones that every later `values().next()` walks past.
  let recentlySettled = new Set<string>();
  let settledBefore = new Set<string>();
  let running = false;
  let pumping = false;
  let again = false;
  let timers: Array<ReturnType<typeof setInterval>> = [];
  let drained: (() => void) | null = null;

  async function pump(): Promise<void> {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        while (running && active.size < deps.concurrency) {
          const items = await deps.ledger.claimWork({ owner: deps.owner, limit: deps.concurrency - active.size, leaseMs, now: deps.clock() });
          if (items.length === 0) break;
          for (const item of items) launch(item);
        }
      } while (again && running);
    } catch (error) {
      deps.logger.error("executor.claim_failed", { error });
    } finally {
      pumping = false;
    }
  }

  function launch(item: ClaimedWork) {
    const entry: Active = { item, abort: new AbortController() };
    active.set(item.key, entry);
    const work = item.kind === "run" ? executeRun(entry) : executeChange(entry);
    work
      .catch((error) => deps.logger.error("executor.item_failed", { key: item.key, error }))
      .finally(() => {
        active.delete(item.key);
        recentlySettled.add(item.key);
        if (recentlySettled.size >= 10_000) {
          settledBefore = recentlySettled;
          recentlySettled = new Set();
        }
        for (const resolve of waiters.get(item.key) ?? []) resolve();
        waiters.delete(item.key);
        if (active.size === 0 && drained) drained();
        if (running) void pump();
      });
  }

  async function finish(entry: Active, reports: ReportInput[]) {
    // Entity links first, then the logs (which the reporter joins into one call), then the final status:
    // a run that logs around its entity upserts still costs Port two calls besides the entities.
    const buffered = entry.calls?.take() ?? [];
    const all = [...buffered.filter((r) => r.call.kind === "entity"), ...buffered.filter((r) => r.call.kind !== "entity"), ...reports];
    const held = await deps.ledger.finishWork(entry.item.key, deps.owner, all, deps.clock());
    if (!held)
      deps.logger.warn("executor.lease_lost", { key: entry.item.key, note: "another owner took this item after our lease expired; its result was dropped" });
    if (all.length > 0) deps.onReports();
  }

  async function executeRun(entry: Active) {
    const { item } = entry;
    const cached = parsedRuns.take(item.body, deps.locator);
    const parsed: ReturnType<typeof parseRun> = cached
      ? { ok: true, run: cached }
      : parseRun(JSON.parse(item.body), deps.locator ? { locator: deps.locator } : {});
    if (!parsed.ok) {
      // Accepted records were valid; this only happens if the configuration changed in between.
      const runId = parsed.runId;
      await finish(entry, runId ? failure(runId, `The run message no longer validates: ${parsed.reason}`) : []);
      return;
    }
    const run = parsed.run;
    const log = deps.logger.child({ runId: run.id, action: run.action });
    const route = deps.registry.forRun(run.action);
    if (route.type === "missing") {
      log.warn("run.no_handler", { source: deps.registry.source });
      await finish(entry, failure(run.id, route.reason));
      return;
    }
    if (item.attempt > 1 && !route.rerunOnInterrupt) {
      log.warn("run.interrupted", { attempt: item.attempt });
      await finish(
        entry,
        failure(
          run.id,
          "portside stopped while this run was executing, and its handler is not marked safe to re-run (rerunOnInterrupt). Check what it did, then re-trigger the action from Port.",
        ),
      );
      return;
    }
    const calls = createRunContext({ run, attempt: item.attempt, signal: entry.abort.signal, flushAt: 100, onFull: () => void flushLogs(entry) });
    entry.calls = calls;
    log.info("run.started", { attempt: item.attempt });
    let result: RunResult | { deferred: true };
    try {
      if (route.type === "local") {
        const timeoutMs = route.timeoutMs ?? deps.handlerTimeoutMs;
        result = await withTimeout(
          Promise.resolve().then(() => route.handle(calls.context)),
          timeoutMs,
          entry.abort,
        );
      } else {
        const runner = deps.targets?.[route.target.kind];
        if (!runner) throw new Error(`No runner for target kind "${route.target.kind}" (action "${run.action}")`);
        result = await withTimeout(runner.run(route.target, run, calls.context.log), deps.handlerTimeoutMs, entry.abort);
      }
    } catch (error) {
      const message =
        error instanceof TimeoutError
          ? `Handler for "${run.action}" timed out after ${error.timeoutMs} ms`
          : `Handler for "${run.action}" failed: ${error instanceof Error ? error.message : String(error)}`;
      log.warn("run.failed", { reason: message });
      await finish(entry, failure(run.id, message));
      return;
    }
    if (result && "deferred" in result && result.deferred === true) {
      log.info("run.deferred");
      await finish(entry, []);
      return;
    }
    const { status, ...rest } = (result ?? {}) as Exclude<RunResult, void | undefined>;
    const patch = { ...pickPatch(rest), status: status === "FAILURE" ? ("FAILURE" as const) : ("SUCCESS" as const) };
    log.info("run.finished", { status: patch.status });
    await finish(entry, [{ runId: run.id, call: { kind: "update", patch } }]);
  }

  async function executeChange(entry: Active) {
    const { item } = entry;
    const parsed = await parseChange(JSON.parse(item.body), item.body);
    if (!parsed.ok) {
      deps.logger.error("change.invalid", { key: item.key, reason: parsed.reason });
      await finish(entry, []);
      return;
    }
    const change = parsed.change;
    for (const route of deps.registry.forChange(change)) {
      try {
        if (route.type === "local") {
          await withTimeout(
            Promise.resolve().then(() => route.handle({ ...change, signal: entry.abort.signal })),
            route.timeoutMs ?? deps.handlerTimeoutMs,
            entry.abort,
          );
        } else {
          const runner = deps.targets?.[route.target.kind];
          if (!runner) throw new Error(`No runner for target kind "${route.target.kind}"`);
          await runner.change(route.target, change);
        }
      } catch (error) {
        // A failing change handler is parked with the record, so it can be replayed once fixed.
        const reason =
          error instanceof TimeoutError
            ? `change handler timed out after ${error.timeoutMs} ms`
            : `change handler failed: ${error instanceof Error ? error.message : String(error)}`;
        deps.logger.warn("change.failed", { key: item.key, reason });
        await deps.ledger.commit(
          {
            records: [],
            deadLetters: [{ key: `failed:${item.key}`, kind: "change", reason, source: item.source, raw: item.body, runId: change.runId }],
            reports: [],
          },
          deps.clock(),
        );
      }
    }
    await finish(entry, []);
  }

  async function flushLogs(entry: Active) {
    const calls = entry.calls?.take() ?? [];
    if (calls.length === 0) return;
    try {
      await deps.ledger.appendReports(calls, deps.clock());
      deps.onReports();
    } catch (error) {
      deps.logger.error("executor.flush_failed", { key: entry.item.key, error });
    }
  }

  async function heartbeat() {
    if (active.size === 0) return;
    try {
      await deps.ledger.renewWork([...active.keys()], deps.owner, leaseMs, deps.clock());
    } catch (error) {
      deps.logger.error("executor.renew_failed", { error });
    }
  }

  return {
    get active() {
      return active.size;
    },
    start() {
      if (running) return;
      running = true;
      timers = [
        setInterval(() => void pump(), pollMs),
        setInterval(() => void heartbeat(), Math.max(10, Math.floor(leaseMs / 3))),
        setInterval(() => {
          for (const entry of active.values()) void flushLogs(entry);
        }, logFlushMs),
      ];
      void pump();
    },
    notify() {
      if (running) void pump();
    },
    settled(key) {
      if (recentlySettled.has(key) || settledBefore.has(key)) return Promise.resolve();
      return new Promise((resolve) => {
        const list = waiters.get(key) ?? [];
        list.push(resolve);
        waiters.set(key, list);
      });
    },
    async stop(graceMs) {
      running = false;
      if (active.size > 0) {
        const done = new Promise<void>((resolve) => (drained = resolve));
        await Promise.race([done, new Promise((resolve) => setTimeout(resolve, graceMs))]);
      }
      for (const t of timers) clearInterval(t);
      timers = [];
      const unfinished = active.size;
      // What still runs keeps its lease until it expires; on the next start it counts as interrupted.
      for (const entry of active.values()) entry.abort.abort(new Error("portside is shutting down"));
      return { unfinished };
    },
  };
}

function failure(runId: string, reason: string): ReportInput[] {
  return [{ runId, call: { kind: "update", patch: { status: "FAILURE", summary: truncate(reason, 1000) } } }];
}

/** Keeps only the keys Port's PATCH accepts: anything else would make Port answer 422. */
function pickPatch(result: Record<string, unknown>) {
  const patch: { summary?: string; link?: string | string[]; externalRunId?: string; statusLabel?: string } = {};
  if (typeof result.summary === "string") patch.summary = truncate(result.summary, 1000);
  if (typeof result.link === "string" || (Array.isArray(result.link) && result.link.every((l) => typeof l === "string")))
    patch.link = result.link as string | string[];
  if (typeof result.externalRunId === "string") patch.externalRunId = result.externalRunId;
  if (typeof result.statusLabel === "string") patch.statusLabel = result.statusLabel;
  return patch;
}
