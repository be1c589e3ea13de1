import type { ClaimedWork, Ledger, WorkEnd } from "../ledger/ledger.ts";
import { LedgerInputError } from "../ledger/validate.ts";
import { isEntityCall, type ReportInput } from "../port/calls.ts";
import { backoffMs, type RetryPolicy, retryPolicies } from "../shared/retry.ts";
import { deferred, serial } from "../shared/promises.ts";
import { realSleep, type Sleep, settlesWithin } from "../shared/time.ts";
import { PipelineEvents as E } from "./events.ts";
import { settledKeys } from "./settled-keys.ts";
import { type Claimed, createWork, endOf, type WorkDeps } from "./work.ts";

/**
 * The executor decides when accepted work runs: it claims items from the ledger under a lease (so two
 * replicas never run the same one), as many as can start at once, keeps the leases alive, and records how
 * each ended together with its final reports in one ledger transaction. What an item does is work.ts's.
 * It never reads a request; it only reads the ledger.
 *
 * Two kinds of room: handler slots (CONCURRENCY) for local code, and room to wait on targets
 * (TARGET_CONCURRENCY) for work whose answer is an external call shared with others (EventBridge). A claim
 * never asks for more than can start, so nothing is claimed to be handed back and an attempt is counted
 * only for work that starts. A finished result is held in memory and written again until the ledger takes
 * it, however long the ledger is away.
 */
export interface ExecutorDeps extends WorkDeps {
  ledger: Ledger;
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
  leaseMs?: number;
  /** Wakes the reporter when reports were written. */
  onReports: () => void;
  /** A run ended: its reports pass here first, and what a synchronous answer carried is not sent again (sync-answers.ts). */
  answer?: (runId: string, reports: ReportInput[]) => ReportInput[];
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
  /**
   * Resolves when the item with this key finishes in this process (used by the synchronous ack mode); with
   * `signal`, the wait is given up (and forgotten) when it aborts.
   */
  settled(key: string, signal?: AbortSignal): Promise<void>;
  /** Claims and runs work until nothing is claimable and nothing runs (starts the executor if it was not). */
  runToIdle(): Promise<void>;
  /** Stops claiming, waits up to `graceMs` for running handlers, and leaves everything else in the ledger. */
  stop(graceMs: number): Promise<{ unfinished: number }>;
  readonly active: number;
}

interface Active extends Claimed {
  /** Waiting on an external target, not running a local handler (see `targetConcurrency`). */
  external?: boolean;
  /** A flush of buffered calls in flight; the finish waits for it, so no call is taken twice or lost. */
  flushing?: Promise<void>;
}

/**
 * After the ledger was unavailable, expired leases are left to their owners this long before they are
 * taken over: every replica's leases ran out during the outage, and live owners need a moment to renew
 * them and to write the results they held meanwhile (finishes retry every 3 s at most; the heartbeat runs
 * as soon as the ledger answers again). Owners that died are taken over once it has passed.
 */
const EXPIRED_GRACE_MS = 10_000;

/** How many changes bound only for targets one claim takes at most (see claimWhatCanStart). */
const CHANGE_CLAIM = 256;

export function createExecutor(deps: ExecutorDeps): Executor {
  const leaseMs = deps.leaseMs ?? 60_000;
  const pollMs = deps.pollMs ?? 1_000;
  const logFlushMs = deps.logFlushMs ?? 1_000;
  const ledgerRetry = deps.ledgerRetry ?? retryPolicies.ledgerWrite;
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
  const settling = settledKeys();
  let running = false;
  const pumping = serial(claimWhatCanStart, () => running);
  const pump = () => pumping.run();
  let timers: Array<ReturnType<typeof setInterval>> = [];
  /** Resolved (and replaced) whenever an item settles. */
  let settledSignal = deferred();
  /** When a ledger call last failed (0: never); see EXPIRED_GRACE_MS. */
  let ledgerFailedAt = 0;
  let ledgerDown = false;
  const work = createWork(deps, {
    waitOnTarget: (claimed) => goExternal(claimed as Active),
    flush: (claimed) => void flushLogs(claimed as Active),
    parkChange: (claimed, runId, reason) => {
      const { item } = claimed;
      const deadLetter = { key: `failed:${item.key}`, kind: "change" as const, reason, source: item.source, raw: item.body, runId };
      return untilRecorded(item.key, () => deps.ledger.commit({ records: [], deadLetters: [deadLetter], reports: [] }, deps.clock())).then(() => undefined);
    },
  });

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
   * Claims what can start now. Two kinds of claim: for the free handler slots (any work, or runs only while
   * changes need no slot), and for the room on targets (changes bound only for targets). Each asks for no
   * more than can start at once.
   */
  async function claimWhatCanStart(): Promise<void> {
    try {
      for (let claimed = true; running && claimed; ) {
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
    } catch (error) {
      ledgerFailed();
      deps.logger.error(E.claimFailed, { error });
    }
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
    complete(entry)
      .catch((error) => deps.logger.error(E.runInternalError, { key: item.key, error }))
      .finally(() => {
        active.delete(item.key);
        if (entry.external) {
          // Its room on targets passes to the first item waiting for some, or is free again.
          const next = targetQueue.shift();
          if (next) next();
          else external--;
        }
        settling.settle(item.key);
        const settledNow = settledSignal;
        settledSignal = deferred();
        settledNow.resolve();
        if (running) void pump();
      });
  }

  /** Runs the item and records how it ended; after portside's own failure, what ends it all the same. */
  async function complete(entry: Active): Promise<void> {
    try {
      await finish(entry, await work.run(entry));
    } catch (error) {
      await finish(entry, await work.failed(entry, error));
    }
  }

  /** A run's history keeps how it ended (the status its final reports give), whoever tells Port. */
  function endedWith(entry: Active, reports: ReportInput[]): { ended: WorkEnd | undefined; send: ReportInput[] } {
    if (entry.item.kind !== "run") return { ended: undefined, send: reports };
    // The stack of what its handler threw stays with the run's story (the ledger), never with what Port is told.
    const ended = entry.stack ? { ...endOf(reports), stack: entry.stack } : endOf(reports);
    const runId = entry.run?.id;
    return { ended, send: runId && deps.answer ? deps.answer(runId, reports) : reports };
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
   * writes still costs Port two calls besides the entities. Retried until the ledger takes it; the result is
   * never turned into anything else. A run's history keeps how it ended: the status its final reports give.
   */
  async function finish(entry: Active, reports: ReportInput[]) {
    await entry.flushing;
    const buffered = entry.calls?.end() ?? [];
    const { ended, send } = endedWith(entry, reports);
    const all = [...buffered.filter((r) => isEntityCall(r.call)), ...buffered.filter((r) => !isEntityCall(r.call)), ...send];
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
    settled: (key, signal) => settling.settled(key, signal),
    async runToIdle() {
      const startedHere = !running;
      if (startedHere) this.start();
      try {
        for (;;) {
          await pump();
          if (active.size === 0 && !pumping.pending) return;
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
      // A claim on its way hands its items back (see claim); wait for it, so nothing starts after this returns.
      await pumping.current;
      const until = Date.now() + graceMs;
      while (active.size > 0 && Date.now() < until) await settlesWithin(settledSignal.promise, until - Date.now());
      stopTimers();
      const unfinished = active.size;
      // What still runs keeps its lease until it expires; on the next start it counts as interrupted.
      for (const entry of active.values()) entry.abort.abort(new Error("portside is shutting down"));
      return { unfinished };
    },
  };
}
