import { type ClaimedWork, type Ledger, runIdOfKey, type WorkEnd } from "../ledger/ledger.ts";
import { LedgerInputError } from "../ledger/validate.ts";
import type { Logger } from "../log.ts";
import { parseChange, parseRun, type RunLocator } from "../messages/index.ts";
import { ADDRESSABLE_RUN_ID } from "../messages/run-schemas.ts";
import { decryptSecretInputs, notDecrypted } from "../messages/secrets.ts";
import type { Run } from "../messages/views.ts";
import { isEntityCall, type ReportInput } from "../port/calls.ts";
import { finalReports } from "../port/run-kinds.ts";
import { backoffMs, type RetryPolicy } from "../shared/retry.ts";
import { truncate } from "../shared/text.ts";
import { realSleep, type Sleep } from "../shared/time.ts";
import { DEFERRED, type ExternalTargetRunner } from "../targets/external.ts";
import type { Registry } from "../targets/registry.ts";
import { resultToPatch, SUMMARY_MAX } from "../targets/result.ts";
import { PipelineEvents as E } from "./events.ts";
import type { ParsedRuns } from "./parsed-runs.ts";
import { createRunContext, type RunCalls } from "./run-context.ts";
import { TimeoutError, withTimeout } from "./timeout.ts";

/**
 * The executor runs accepted work from the ledger: it claims items under a lease (so two replicas never
 * run the same one), runs the handler with a time limit, and finishes the item together with the
 * run's final reports in one ledger transaction. It never reads a request; it only reads the ledger.
 *
 * Every claimed run ends with a status: a handler's result is checked (an invalid one is a FAILURE naming
 * the field), an error inside portside is a FAILURE too, and a finished result is held in memory and
 * written again until the ledger takes it, however long the ledger is away.
 */

export interface ExecutorDeps {
  ledger: Ledger;
  registry: Registry;
  logger: Logger;
  clock: () => number;
  /** Unique per process: leases are held in its name. */
  owner: string;
  /** How many local handlers run at once. */
  concurrency: number;
  /**
   * How many items may wait on external targets (EventBridge) at once, besides — a hard cap. Such an item
   * holds no handler slot: it waits for a PutEvents answer shared with others, so its throughput is how
   * many wait together divided by the call's latency. An item that would go beyond it keeps its slot until
   * one of them ends.
   */
  targetConcurrency: number;
  handlerTimeoutMs: number;
  leaseMs?: number;
  locator: RunLocator | null;
  /** Runs the acceptor has just validated, so they are not parsed twice. */
  parsedRuns: ParsedRuns;
  /** How many times a run may be started before an interrupted one is given up as FAILURE. */
  maxAttempts: number;
  /** Port's client secret, whose first 32 bytes decrypt secret inputs; null when there is none. */
  secretKey: string | null;
  /** Wakes the reporter when reports were written. */
  onReports: () => void;
  /** A run's handler (or target) ended, or portside failed it: the status Port is told (DEFERRED: the target reports it), why, how long it took. */
  onRunEnded?: (run: { runId: string; action: string; status: string; summary: string | null; seconds: number }) => void;
  targets?: Record<string, ExternalTargetRunner>;
  /** How often to look for work nobody announced (expired leases after a crash elsewhere). */
  pollMs?: number;
  /** How often buffered logs of running handlers are written out. */
  logFlushMs?: number;
  /** Backoff between attempts to write a finished item while the ledger is away. */
  ledgerRetry?: RetryPolicy;
  sleep?: Sleep;
}

export interface Executor {
  start(): void;
  /** New work (of this kind) was committed: look for it now. */
  notify(kind?: ClaimedWork["kind"]): void;
  /** Resolves when the item with this key finishes in this process (used by the synchronous ack mode). */
  settled(key: string): Promise<void>;
  /** Claims and runs work until nothing is claimable and nothing runs (starts the executor if it was not). */
  runToIdle(): Promise<void>;
  /** Stops claiming, waits up to `graceMs` for running handlers, and leaves everything else in the ledger. */
  stop(graceMs: number): Promise<{ unfinished: number }>;
  readonly active: number;
}

interface Active {
  item: ClaimedWork;
  /** Waiting on an external target, not running a local handler (see `targetConcurrency`). */
  external?: boolean;
  calls?: RunCalls;
  abort: AbortController;
  /** A flush of buffered calls in flight; the finish waits for it, so no call is taken twice or lost. */
  flushing?: Promise<void>;
}

/** Writes of finished work while the ledger is away: quick at first, then every few seconds. */
export const defaultLedgerRetry: RetryPolicy = { initialMs: 100, maxMs: 3_000, factor: 2, maxAttempts: Infinity };

/**
 * After the ledger was unavailable, expired leases are left to their owners this long before they are
 * taken over: every replica's leases ran out during the outage, and live owners need a moment to renew
 * them and to write the results they held meanwhile (finishes retry every 3 s at most; the heartbeat runs
 * as soon as the ledger answers again). Owners that died are taken over once it has passed.
 */
const EXPIRED_GRACE_MS = 10_000;

/** How many changes bound only for targets one claim takes at most (see pump). */
const CHANGE_CLAIM = 256;

export function createExecutor(deps: ExecutorDeps): Executor {
  const leaseMs = deps.leaseMs ?? 60_000;
  const pollMs = deps.pollMs ?? 1_000;
  const logFlushMs = deps.logFlushMs ?? 1_000;
  const ledgerRetry = deps.ledgerRetry ?? defaultLedgerRetry;
  const sleep = deps.sleep ?? realSleep;
  const active = new Map<string, Active>();
  /** Items of `active` that wait on an external target; the rest hold handler slots. */
  let external = 0;
  /** Items that hold a slot until there is room to wait on a target (the cap was reached), first come first served. */
  const targetQueue: Array<() => void> = [];
  const localFree = () => deps.concurrency - (active.size - external);
  /** Room to wait on targets that nobody has asked for yet. */
  const targetRoom = () => deps.targetConcurrency - external - targetQueue.length;
  /**
   * Every change goes to targets only (EventBridge): changes are claimed apart from the handler slots, into
   * the room on targets, and a slot claim asks for runs only — so nothing is ever claimed that cannot start.
   */
  const changesNeedNoSlot = deps.registry.changesOnlyToTargets === true;
  /**
   * Such changes may be waiting in the ledger. Set at start, by a notify, by the poll (another replica may
   * have committed them) and by a claim that came back full; cleared just before a claim of changes, so a
   * notify that lands while that claim is on its way is not lost.
   */
  let changesWaiting = changesNeedNoSlot;
  const waiters = new Map<string, Array<() => void>>();
  // Keys finished lately (the last 10,000 to 20,000), so a waiter that registers just after the finish is
  // not left hanging. Two generations rather than one set trimmed from the front: deleting a Set's oldest
  // entry one at a time leaves tombstones that every later `values().next()` walks past.
  let recentlySettled = new Set<string>();
  let settledBefore = new Set<string>();
  let running = false;
  let pumping: Promise<void> | null = null;
  let again = false;
  let timers: Array<ReturnType<typeof setInterval>> = [];
  /** Resolved (and replaced) whenever an item settles. */
  let settledSignal = signal();
  /** When a ledger call last failed (0: never); see EXPIRED_GRACE_MS. */
  let ledgerFailedAt = 0;
  let ledgerDown = false;

  /** Every ledger call reports how it went: the first success after a failure renews our leases at once. */
  function ledgerFailed(): void {
    ledgerFailedAt = Date.now();
    ledgerDown = true;
  }
  function ledgerAnswered(): void {
    if (!ledgerDown) return;
    ledgerDown = false;
    void heartbeat();
  }

  /**
   * Claims what can start now; concurrent calls share one pass (and ask it to go again). Two kinds of
   * claim: for the free handler slots (any work, or runs only while changes need no slot), and for the
   * room on targets (changes bound only for targets). Each asks for no more than can start at once.
   */
  function pump(): Promise<void> {
    if (pumping) {
      again = true;
      return pumping;
    }
    const pass = (async () => {
      // Starts after `pumping` is set below: a pass with nothing to do must not finish before that.
      await undefined;
      try {
        do {
          again = false;
          let claimed = true;
          while (running && claimed) {
            claimed = false;
            if (localFree() > 0) {
              const items = await claim(localFree(), changesNeedNoSlot ? "run" : undefined);
              if (items === null) return;
              for (const item of items) launch(item);
              claimed = items.length > 0;
            }
            const room = Math.min(CHANGE_CLAIM, targetRoom());
            if (running && changesWaiting && room > 0) {
              changesWaiting = false;
              const items = await claim(room, "change");
              if (items === null) return;
              // A full claim may have left more behind.
              if (items.length === room) changesWaiting = true;
              for (const item of items) launch(item, true);
              claimed ||= items.length > 0;
            }
          }
        } while (again && running);
      } catch (error) {
        ledgerFailed();
        deps.logger.error(E.claimFailed, { error });
      } finally {
        pumping = null;
      }
    })();
    pumping = pass;
    return pass;
  }

  /**
   * One claim; the items this process does not run yet, or null when it stopped while the claim was on its
   * way (the items are then handed back untouched: they were never started).
   */
  async function claim(limit: number, kind: ClaimedWork["kind"] | undefined): Promise<ClaimedWork[] | null> {
    const takeExpired = Date.now() - ledgerFailedAt >= EXPIRED_GRACE_MS;
    const items = await deps.ledger.claimWork({ owner: deps.owner, limit, leaseMs, now: deps.clock(), takeExpired, ...(kind ? { kind } : {}) });
    ledgerAnswered();
    if (!running) {
      for (const item of items) if (!active.has(item.key)) await deps.ledger.releaseWork(item.key, deps.owner);
      return null;
    }
    // A key this process still runs came back because its lease lapsed while the ledger was away; the
    // claim renewed it in our name, and the finish that is being retried will complete it.
    return items.filter((item) => !active.has(item.key));
  }

  function launch(item: ClaimedWork, waitsOnTarget = false) {
    const entry: Active = { item, abort: new AbortController() };
    active.set(item.key, entry);
    // Claimed into the room on targets, so there is room for it now.
    if (waitsOnTarget) {
      entry.external = true;
      external++;
    }
    const work = item.kind === "run" ? executeRun(entry) : executeChange(entry);
    work
      .catch((error) => deps.logger.error(E.runInternalError, { key: item.key, error }))
      .finally(() => {
        active.delete(item.key);
        if (entry.external) {
          // Its room on targets passes to the first item waiting for some, or is free again.
          const next = targetQueue.shift();
          if (next) next();
          else external--;
        }
        recentlySettled.add(item.key);
        if (recentlySettled.size >= 10_000) {
          settledBefore = recentlySettled;
          recentlySettled = new Set();
        }
        for (const resolve of waiters.get(item.key) ?? []) resolve();
        waiters.delete(item.key);
        const settledNow = settledSignal;
        settledSignal = signal();
        settledNow.resolve();
        if (running) void pump();
      });
  }

  /**
   * The item waits on an external target from now on, and its handler slot is free for the next claim. At
   * the cap it keeps its slot until an item waiting on a target ends and hands its room on (first come,
   * first served), so the cap is never passed.
   */
  async function goExternal(entry: Active): Promise<void> {
    if (entry.external) return;
    if (external < deps.targetConcurrency && targetQueue.length === 0) external++;
    else await new Promise<void>((resolve) => targetQueue.push(resolve));
    entry.external = true;
    if (running) void pump();
  }

  /**
   * Finishes the item with its reports: entity writes first (in the order the handler made them), then the
   * logs (which the reporter joins into one call), then the final status — a run that logs around its entity
   * writes still costs Port two calls besides the entities. Retried until the ledger takes it; the result is never turned into anything else.
   */
  async function finish(entry: Active, reports: ReportInput[]) {
    await entry.flushing;
    const buffered = entry.calls?.take() ?? [];
    const all = [...buffered.filter((r) => isEntityCall(r.call)), ...buffered.filter((r) => !isEntityCall(r.call)), ...reports];
    // A run's history keeps how it ended: the status its final reports give Port.
    const ended = entry.item.kind === "run" ? endOf(reports) : undefined;
    const held = await untilRecorded(entry.item.key, () => deps.ledger.finishWork(entry.item.key, deps.owner, all, deps.clock(), ended));
    if (!held) deps.logger.warn(E.leaseLost, { key: entry.item.key, note: "another owner took this item after our lease expired; its result was dropped" });
    if (all.length > 0) deps.onReports();
  }

  /**
   * Runs a ledger write until it succeeds. Only an outage is retried: a write the ledger refuses as
   * malformed (`LedgerInputError`) can never succeed, so it is thrown for the caller's fallback.
   */
  async function untilRecorded<T>(key: string, write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await write();
        ledgerAnswered();
        if (attempt > 1) deps.logger.info(E.finishRecovered, { key, attempts: attempt });
        return result;
      } catch (error) {
        if (error instanceof LedgerInputError) throw error;
        ledgerFailed();
        const delayMs = Math.max(10, backoffMs(ledgerRetry, attempt));
        if (attempt === 1 || attempt % 10 === 0) deps.logger.warn(E.finishRetry, { key, attempt, delayMs, error });
        await sleep(delayMs);
      }
    }
  }

  async function executeRun(entry: Active) {
    const { item } = entry;
    let run: Run | undefined;
    let startedMs = performance.now();
    try {
      run = readRun(item);
      if (!run) {
        // Still ended in Port, by the id in its key: the record no longer says what to run.
        const runId = addressableRunId(item.key);
        await finish(
          entry,
          runId
            ? failure(
                runId,
                "portside could not read this run any more (its configuration changed after it was accepted: RUN_ID_PATH, ACTION_PATH); re-trigger the action from Port.",
              )
            : [],
        );
        return;
      }
      startedMs = performance.now();
      const reports = await runReports(entry, run);
      deps.onRunEnded?.({ runId: run.id, action: run.action, ...endOf(reports), seconds: (performance.now() - startedMs) / 1000 });
      await finish(entry, reports);
    } catch (error) {
      // portside's own failure (never the handler's, which runReports turns into a FAILURE): the run still
      // gets a status, so Port never shows it running forever and its entity lane is not held; and it is
      // counted and kept as ended like any other.
      deps.logger.error(E.runInternalError, { key: item.key, error });
      const runId = run?.id ?? addressableRunId(item.key);
      entry.calls?.take();
      const reports = runId
        ? failure(runId, "portside hit an internal error while running this; see portside's log (run.internal_error) and re-trigger the action from Port.")
        : [];
      if (run) deps.onRunEnded?.({ runId: run.id, action: run.action, ...endOf(reports), seconds: (performance.now() - startedMs) / 1000 });
      await finish(entry, reports);
    }
  }

  /** The run a claimed item holds: from the acceptor's cache, else parsed again from the stored text. */
  function readRun(item: ClaimedWork): Run | undefined {
    const cached = deps.parsedRuns.take(item.body, deps.locator);
    if (cached) return cached;
    const parsed = parseRun(JSON.parse(item.body), deps.locator ? { locator: deps.locator } : {});
    if (parsed.ok) return parsed.run;
    // Accepted records were valid; this only happens if the configuration changed in between.
    deps.logger.error(E.runUnreadable, { key: item.key, reason: parsed.reason });
    return undefined;
  }

  /** The run id in a run's ledger key, when Port can address it. */
  const addressableRunId = (key: string): string | null => {
    const id = runIdOfKey(key);
    return id !== null && ADDRESSABLE_RUN_ID.test(id) ? id : null;
  };

  /** Runs the handler (or external target) and says what Port is to be told. */
  async function runReports(entry: Active, run: Run): Promise<ReportInput[]> {
    const { item } = entry;
    const log = deps.logger.child({ runId: run.id, action: run.action });
    const route = deps.registry.forRun(run.action);
    if (route.type === "missing") {
      log.warn(E.runNoHandler, { source: deps.registry.source });
      return failure(run.id, route.reason);
    }
    if (item.attempt > 1 && !route.rerunOnInterrupt) {
      log.warn(E.runInterrupted, { attempt: item.attempt });
      return failure(
        run.id,
        "portside stopped while this run was executing, and its handler is not marked safe to re-run (rerunOnInterrupt). Check what it did, then re-trigger the action from Port.",
      );
    }
    if (item.attempt > deps.maxAttempts) {
      log.warn(E.runGaveUp, { attempt: item.attempt, maxAttempts: deps.maxAttempts });
      return failure(
        run.id,
        `portside started this run ${item.attempt - 1} times and every attempt was interrupted (a crash, a kill or a lost lease), so it gave up (MAX_RUN_ATTEMPTS=${deps.maxAttempts}). Check what the handler did, then re-trigger the action from Port.`,
      );
    }
    // Secret inputs are decrypted here, in memory only, for local code only (a target gets them as they
    // arrived): the ledger and every log keep the encrypted form, and what the run sends on is redacted.
    const secrets = route.type === "local" ? await decryptSecretInputs(run, deps.secretKey) : notDecrypted(run);
    if (!secrets.ok) {
      log.warn(E.runFailed, { reason: secrets.reason });
      return failure(run.id, secrets.reason);
    }
    const calls = createRunContext({
      run: secrets.inputs === run.inputs ? run : { ...run, inputs: secrets.inputs },
      attempt: item.attempt,
      signal: entry.abort.signal,
      flushAt: 100,
      onFull: () => void flushLogs(entry),
      redact: secrets.redact,
    });
    entry.calls = calls;
    log.info(E.runStarted, { attempt: item.attempt });
    let result: unknown;
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
        await goExternal(entry);
        result = await withTimeout(runner.run(route.target, run, calls.context.log), deps.handlerTimeoutMs, entry.abort);
      }
    } catch (error) {
      const message =
        error instanceof TimeoutError
          ? `Handler for "${run.action}" timed out after ${error.timeoutMs} ms`
          : `Handler for "${run.action}" failed: ${secrets.redact.text(describeThrown(error))}`;
      log.warn(E.runFailed, { reason: message });
      return failure(run.id, message);
    }
    if (result === DEFERRED) {
      log.info(E.runDeferred);
      return [];
    }
    const verdict = resultToPatch(result, run.action, secrets.redact);
    if (!verdict.ok) {
      log.warn(E.runInvalidResult, { reason: verdict.reason });
      return failure(run.id, verdict.reason);
    }
    log.info(E.runFinished, { status: verdict.patch.status });
    return finalReports(run.id, verdict.patch);
  }

  async function executeChange(entry: Active) {
    const { item } = entry;
    try {
      const parsed = await parseChange(JSON.parse(item.body), item.body);
      if (!parsed.ok) {
        deps.logger.error(E.changeInvalid, { key: item.key, reason: parsed.reason });
        await finish(entry, []);
        return;
      }
      const change = parsed.change;
      // A change whose every attempt was interrupted (its handler crashes the process, say) is parked, not retried forever.
      if (item.attempt > deps.maxAttempts) {
        await parkChange(
          item,
          change.runId,
          `portside started this change ${item.attempt - 1} times and every attempt was interrupted, so it gave up (MAX_RUN_ATTEMPTS=${deps.maxAttempts})`,
        );
        await finish(entry, []);
        return;
      }
      const routes = deps.registry.forChange(change);
      if (routes.length > 0 && routes.every((route) => route.type !== "local")) await goExternal(entry);
      for (const route of routes) {
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
            error instanceof TimeoutError ? `change handler timed out after ${error.timeoutMs} ms` : `change handler failed: ${describeThrown(error)}`;
          deps.logger.warn(E.changeFailed, { key: item.key, reason });
          await parkChange(item, change.runId, reason);
        }
      }
      await finish(entry, []);
    } catch (error) {
      // portside's own failure: the change is parked, so it can be replayed, and its entity lane moves on.
      deps.logger.error(E.runInternalError, { key: item.key, error });
      await parkChange(item, null, "portside hit an internal error while handling this change; see portside's log (run.internal_error)");
      await finish(entry, []);
    }
  }

  /** Parks a change with its record, keyed so that an attempt after a crash parks it once. */
  function parkChange(item: ClaimedWork, runId: string | null, reason: string) {
    const deadLetter = { key: `failed:${item.key}`, kind: "change" as const, reason, source: item.source, raw: item.body, runId };
    return untilRecorded(item.key, () => deps.ledger.commit({ records: [], deadLetters: [deadLetter], reports: [] }, deps.clock()));
  }

  /**
   * Writes a running handler's buffered calls; on failure they go back to the front of the buffer. One
   * flush at a time per item, and the finish waits for it, so calls keep their order and none is lost.
   */
  function flushLogs(entry: Active): Promise<void> {
    if (entry.flushing) return entry.flushing;
    const calls = entry.calls?.take() ?? [];
    if (calls.length === 0) return Promise.resolve();
    entry.flushing = (async () => {
      try {
        await deps.ledger.appendReports(calls, deps.clock());
        ledgerAnswered();
        deps.onReports();
      } catch (error) {
        ledgerFailed();
        entry.calls?.putBack(calls);
        deps.logger.error(E.flushFailed, { key: entry.item.key, error });
      } finally {
        entry.flushing = undefined;
      }
    })();
    return entry.flushing;
  }

  async function heartbeat() {
    if (active.size === 0) return;
    try {
      await deps.ledger.renewWork([...active.keys()], deps.owner, leaseMs, deps.clock());
      ledgerAnswered();
    } catch (error) {
      ledgerFailed();
      deps.logger.error(E.renewFailed, { error });
    }
  }

  function startTimers() {
    timers = [
      setInterval(() => {
        // Changes another replica committed (or left behind) are found here, slots full or not.
        if (changesNeedNoSlot) changesWaiting = true;
        void pump();
      }, pollMs),
      setInterval(() => void heartbeat(), Math.max(10, Math.floor(leaseMs / 3))),
      setInterval(() => {
        for (const entry of active.values()) void flushLogs(entry);
      }, logFlushMs),
    ];
  }

  function stopTimers() {
    for (const t of timers) clearInterval(t);
    timers = [];
  }

  return {
    get active() {
      return active.size;
    },
    start() {
      if (running) return;
      running = true;
      startTimers();
      void pump();
    },
    notify(kind) {
      // New changes that need no handler slot are claimed even while every slot is taken.
      if (kind !== "run" && changesNeedNoSlot) changesWaiting = true;
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
    async runToIdle() {
      const startedHere = !running;
      if (startedHere) this.start();
      try {
        for (;;) {
          await pump();
          if (active.size === 0 && !again) return;
          await settledSignal.promise;
        }
      } finally {
        if (startedHere) {
          running = false;
          stopTimers();
        }
      }
    },
    async stop(graceMs) {
      running = false;
      // A claim on its way hands its items back (see pump); wait for it, so nothing starts after this returns.
      await pumping;
      if (active.size > 0) {
        const deadline = Date.now() + graceMs;
        while (active.size > 0 && Date.now() < deadline) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([settledSignal.promise, new Promise((resolve) => (timer = setTimeout(resolve, deadline - Date.now())))]);
          clearTimeout(timer);
        }
      }
      stopTimers();
      const unfinished = active.size;
      // What still runs keeps its lease until it expires; on the next start it counts as interrupted.
      for (const entry of active.values()) entry.abort.abort(new Error("portside is shutting down"));
      return { unfinished };
    },
  };
}

function failure(runId: string, reason: string): ReportInput[] {
  return finalReports(runId, { status: "FAILURE", summary: truncate(reason, SUMMARY_MAX) });
}

/** What a handler threw, in words: its message, or what it was (never failing on odd values). */
function describeThrown(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return "a value that is not an Error";
  }
}

function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** The status (and summary) a run's final reports give Port; DEFERRED when they give none (the target reports it later). */
function endOf(reports: ReportInput[]): WorkEnd {
  for (const { call } of reports) if (call.kind === "update" && call.patch.status) return { status: call.patch.status, summary: call.patch.summary ?? null };
  return { status: "DEFERRED", summary: null };
}
