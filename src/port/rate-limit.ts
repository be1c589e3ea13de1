/**
 * One budget for Port: every call portside makes to Port (the token endpoint included) asks this limiter
 * first. Port's rate limit is per organisation, so honouring 429s per call is not enough — while one call
 * waited out its Retry-After, the others kept going and kept being refused.
 *
 * - **Pacing before Port refuses.** Every answer's `x-ratelimit-limit/-remaining/-reset` say what is left of
 *   the window. While plenty is left, calls go at once. Once it falls below a share of the limit
 *   (`paceBelowShare`), what is left is spread over the time to the reset, and a reserve (`reserveShare`) is
 *   kept for terminal statuses. Port's resets and waits are taken up to `maxPortWaitMs` (rate-headers.ts).
 * - **A 429 pauses everything** until its Retry-After (or the reset) has passed; without either, for a backoff
 *   that grows with each refused probe. Then one call goes as a probe, and the others follow only once it
 *   was answered without a 429. A call that would wait longer than it may (`maxWaitMs`) is not sent: it
 *   fails at once with `PortPausedError`, and the reporter reschedules it for the end of the pause.
 * - **One call first whenever what the limiter knows is stale**: after a quiet spell (nothing in flight,
 *   nothing heard for `quietMs`; a new process too) and when the budget's own hold ends, one call goes and
 *   the others wait for its answer. Calls sent at once on stale knowledge are all refused when Port has
 *   begun refusing meanwhile: 200 reports due together were 200 calls into a window of 429s.
 * - **Terminal statuses first.** Waiting calls are served in priority order: `status` (terminal statuses,
 *   the checks that go with them, the token) before `normal` (logs, entities).
 * - **Replicas** share the pause, the probe and the paced timeline through a `RateStore` (Redis in
 *   production). A replica reads the shared pause before it lets a call go (the calls asking at the same
 *   moment share one read), so a 429 answered to another replica holds its next call too: a view up to a
 *   second old let a replica send everything it had into a window another had already been refused in.
 *
 * Time and waiting are dependencies (tests drive them). The limiter's own sense of time never runs behind
 * the waits it has made, so an injected sleep that does not move the clock cannot make it spin.
 */
import type { PortLogger } from "./deps.ts";
import { silentLogger } from "../log.ts";
import { type Budget, capWarning, defaultMaxPortWaitMs, readBudget, waitCappedEvent } from "./rate-headers.ts";
import { type CallPriority, type Pace, paceOf } from "./rate-pace.ts";
import { enqueue, expiring, remove, type Waiter } from "./rate-queue.ts";
import { createMemoryRateStore, type RateStore } from "./rate-store.ts";
import { serverDelayMs } from "../shared/retry.ts";
import type { Clock, Sleep } from "../shared/time.ts";
import { realSleep } from "../shared/time.ts";
import { describeError } from "../shared/errors.ts";
import { serial } from "../shared/promises.ts";

export type { CallPriority };

/** The right to send one call. Say how it ended, exactly once. */
export interface Permit {
  /** Port answered: its headers feed the budget; a 429 pauses every caller. */
  answered(status: number, headers: Headers): void;
  /** No answer (network error, timeout): the slot is given back, the budget learns nothing. */
  failed(): void;
}

/** The call may not wait that long: Port's rate limit holds every call for another `retryAfterMs`. */
export class RateLimitWait extends Error {
  override readonly name = "RateLimitWait";
  constructor(readonly retryAfterMs: number) {
    super(`calls to Port are held by its rate limit for another ${retryAfterMs} ms`);
  }
}

export interface PortRateLimiter {
  /** Resolves when the call may go; rejects with `RateLimitWait` when that would be later than `maxWaitMs` from now. */
  acquire(opts: { priority: CallPriority; maxWaitMs: number }): Promise<Permit>;
  /** What the limiter knows now, for logs and tests. */
  snapshot(): RateLimitSnapshot;
  /** The longest wait taken from Port's numbers (`Retry-After`, `x-ratelimit-reset`); the client reads them with it too. */
  readonly maxPortWaitMs: number;
}

export interface RateLimitSnapshot {
  pausedUntilMs: number;
  needProbe: boolean;
  waiting: number;
  inFlight: number;
  budget: Budget | undefined;
}

export interface RateLimiterOptions {
  clock?: Clock;
  sleep?: Sleep;
  /** Shared with the other replicas; default: this process only. */
  store?: RateStore;
  /** Port's `Retry-After` and `x-ratelimit-reset` are taken up to this (default `defaultMaxPortWaitMs`, 5 min). */
  maxPortWaitMs?: number;
  /** This process's name in the shared probe lock (default: random). */
  owner?: string;
  logger?: PortLogger;
  /** Pacing starts when less than this share of the limit is left in the window (default 0.2). */
  paceBelowShare?: number;
  /** Share of the limit kept for terminal statuses once the budget is short (default 0.05, at least 1). */
  reserveShare?: number;
  /** First pause after a 429 that names no wait; doubles with each refused probe (default 1 s)… */
  pauseBaseMs?: number;
  /** …up to this (default 60 s). */
  pauseMaxMs?: number;
  /** How old this replica's view of the shared pause may be when it lets a call go (default 0: read first). */
  syncMs?: number;
  /** How often waiting calls look again while a probe is out (default 50 ms). */
  pollMs?: number;
  /** Nothing in flight and nothing heard from Port for this long: the next call goes first, alone (default 1 s). */
  quietMs?: number;
  /** Lifetime of the shared probe lock: longer than a call's timeout (default 30 s). */
  probeTtlMs?: number;
}

/** Log events of the limiter. */
export const RateEvents = {
  paused: "port.rate.paused",
  resumed: "port.rate.resumed",
  pacing: "port.rate.pacing",
  storeFailed: "port.rate.store_failed",
  waitCapped: waitCappedEvent,
} as const;

export function createPortRateLimiter(opts: RateLimiterOptions = {}): PortRateLimiter {
  const clock = opts.clock ?? Date.now;
  const sleep = opts.sleep ?? realSleep;
  const store = opts.store ?? createMemoryRateStore({ clock });
  const owner = opts.owner ?? `rate-${globalThis.crypto.randomUUID()}`;
  const logger = opts.logger ?? silentLogger;
  const paceBelowShare = opts.paceBelowShare ?? 0.2;
  const reserveShare = opts.reserveShare ?? 0.05;
  const pauseBaseMs = opts.pauseBaseMs ?? 1_000;
  const pauseMaxMs = opts.pauseMaxMs ?? 60_000;
  const syncMs = opts.syncMs ?? 0;
  const pollMs = opts.pollMs ?? 50;
  const probeTtlMs = opts.probeTtlMs ?? 30_000;
  const quietMs = opts.quietMs ?? 1_000;
  const maxPortWaitMs = opts.maxPortWaitMs ?? defaultMaxPortWaitMs;
  const warnIfCapped = capWarning(logger, maxPortWaitMs);

  const queue: Waiter<Permit>[] = [];
  let inFlight = 0;
  let budget: Budget | undefined;
  let pausedUntilMs = 0;
  /** A pause has been set and no probe has been answered since: the next call must be a probe. */
  let needProbe = false;
  let probeInFlight = false;
  /** The next call goes alone and the rest wait for its answer (after a quiet spell, or the budget's hold). */
  let oneFirst = false;
  let firstInFlight = false;
  /** When Port last answered (or a call last failed to get an answer). */
  let lastHeardMs = Number.NEGATIVE_INFINITY;
  /** 429s in a row to probes (or to calls while nothing was paused): the backoff's exponent. */
  let refusedInARow = 0;
  let lastSyncMs = Number.NEGATIVE_INFINITY;
  let syncFailedUntilMs = 0;
  let syncing: Promise<void> | undefined;
  let pacingLogged = false;
  /** The limiter's time never runs behind the waits it made (see the module comment). */
  let waitedUntilMs = 0;
  const now = () => Math.max(clock(), waitedUntilMs);
  const wait = async (ms: number) => {
    const until = now() + ms;
    await sleep(ms);
    waitedUntilMs = Math.max(waitedUntilMs, until);
  };

  function storeFailed(step: string, error: unknown) {
    logger.warn(RateEvents.storeFailed, { step, error: describeError(error) });
  }

  // ---- what the answers say ----------------------------------------------------------------------------

  function observe(headers: Headers, atMs: number) {
    const next = readBudget(headers, atMs, maxPortWaitMs);
    if (!next) return;
    // Answers of one window arrive out of order: there, the lowest remaining is the truest. An answer naming
    // another window (a new one, or a 429's own reset) replaces what was known.
    if (!budget || Math.abs(next.resetAtMs - budget.resetAtMs) > 1_500) budget = next;
    else budget = { limit: next.limit, remaining: Math.min(budget.remaining, next.remaining), resetAtMs: Math.max(budget.resetAtMs, next.resetAtMs) };
  }

  function pauseFor(ms: number, reason: string) {
    const until = now() + ms;
    if (until > pausedUntilMs) {
      pausedUntilMs = until;
      logger.warn(RateEvents.paused, { untilMs: until, waitMs: ms, reason, message: "Port's rate limit: every call waits, then one probes" });
    }
    needProbe = true;
    store.pause(until).catch((error: unknown) => storeFailed("pause", error));
  }

  /** `probe`: the shared probe after a pause; `first`: the call that goes alone while the rest wait for it. */
  type Kind = "call" | "probe" | "first";

  function makePermit(kind: Kind): Permit {
    const probe = kind === "probe";
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      inFlight--;
      lastHeardMs = now();
      if (probe) probeInFlight = false;
      if (kind === "first") firstInFlight = false;
      return true;
    };
    return {
      answered(status, headers) {
        if (!settle()) return;
        const atMs = now();
        observe(headers, atMs);
        warnIfCapped(headers, atMs);
        // An answer to the call sent first is what the others waited for (a 429 pauses them all below).
        if (kind !== "call") oneFirst = false;
        if (status === 429) {
          if (probe || !needProbe) refusedInARow++;
          // Port's word when it gives one (Retry-After, else the reset); without it, a backoff that grows with each refused probe.
          const serverMs = serverDelayMs(headers, atMs, maxPortWaitMs);
          const backoffMs = Math.min(pauseMaxMs, pauseBaseMs * 2 ** Math.max(0, refusedInARow - 1));
          pauseFor(serverMs ?? backoffMs, probe ? "probe refused" : "429");
          if (probe) store.releaseProbe(owner).catch((error: unknown) => storeFailed("releaseProbe", error));
        } else {
          refusedInARow = 0;
          if (probe) {
            needProbe = false;
            logger.info(RateEvents.resumed, { message: "the probe after the pause was answered; calls to Port go on" });
            store.resume(owner, atMs).catch((error: unknown) => storeFailed("resume", error));
          }
        }
        void pump();
      },
      failed() {
        if (!settle()) return;
        if (probe) store.releaseProbe(owner).catch((error: unknown) => storeFailed("releaseProbe", error));
        void pump();
      },
    };
  }

  // ---- the replicas' shared pause ------------------------------------------------------------------------

  /**
   * Reads the shared pause (unless the last read is younger than `syncMs`; a read under way is shared, or
   * when `force`d, waited for and followed by a new one):
   * adopts a pause set elsewhere, and notices one lifted. After a failed read the store is left alone for a
   * second, so a store that is down costs neither a read nor a log line per call.
   */
  function sync(force = false): Promise<void> {
    if (syncing) return force ? syncing.then(() => sync(true)) : syncing;
    if (now() < syncFailedUntilMs || (!force && now() - lastSyncMs < syncMs)) return Promise.resolve();
    lastSyncMs = now();
    syncing = store
      .pausedUntil()
      .then((until) => {
        const at = now();
        if (until === null) {
          // Cleared: a probe (ours or another replica's) was answered.
          if (needProbe && !probeInFlight && at >= pausedUntilMs) needProbe = false;
          return;
        }
        if (until > pausedUntilMs) {
          pausedUntilMs = until;
          if (until > at)
            logger.warn(RateEvents.paused, {
              untilMs: until,
              waitMs: until - at,
              reason: "another replica",
              message: "Port's rate limit: every call waits, then one probes",
            });
        }
        needProbe = true;
      })
      .catch((error: unknown) => {
        syncFailedUntilMs = now() + 1_000;
        storeFailed("pausedUntil", error);
      })
      .finally(() => {
        syncing = undefined;
      });
    return syncing;
  }

  // ---- the queue -----------------------------------------------------------------------------------------

  /** How the budget lets a call of `priority` go now; says once when pacing starts. */
  function pace(priority: CallPriority, at: number): Pace {
    const p = paceOf(budget, { priority, at, inFlight, reserveShare, paceBelowShare });
    if (p.kind === "free") pacingLogged = false;
    else if (!pacingLogged && budget) {
      pacingLogged = true;
      logger.info(RateEvents.pacing, {
        remaining: budget.remaining,
        limit: budget.limit,
        resetInMs: budget.resetAtMs - at,
        message: "Port's budget is short: pacing calls to its reset, statuses first",
      });
    }
    return p;
  }

  /** The permit for a call let go now: the one sent first when what is known is stale. */
  function grant(kind: Kind): Permit {
    if (kind === "call" && !firstInFlight && (oneFirst || (inFlight === 0 && now() - lastHeardMs > quietMs))) kind = "first";
    if (kind === "first") oneFirst = firstInFlight = true;
    if (kind === "probe") probeInFlight = true;
    inFlight++;
    return makePermit(kind);
  }

  function dispatch(waiter: Waiter<Permit>, kind: Kind) {
    remove(queue, waiter);
    waiter.resolve(grant(kind));
  }

  /** Waiters that cannot be served before `untilMs` within their wait are told when to come back. */
  function turnAway(untilMs: number, only?: CallPriority) {
    const at = now();
    for (const waiter of expiring(queue, untilMs, only)) waiter.reject(new RateLimitWait(Math.max(0, untilMs - at)));
  }

  /** Serves the queue in order until it is empty or must wait; one pass at a time. */
  const pumping = serial(serve);
  const pump = () => pumping.run();

  async function serve(): Promise<void> {
    for (let head = queue[0]; head !== undefined; head = queue[0]) {
      await sync();
      if (head !== queue[0]) continue; // the queue changed while the shared pause was read
      let at = now();
      if (at < pausedUntilMs) {
        turnAway(pausedUntilMs);
        if (queue.length > 0) await wait(pausedUntilMs - at);
        continue;
      }
      if (needProbe) {
        if (probeInFlight) {
          turnAway(at + pollMs);
          if (queue.length > 0) await wait(pollMs);
          continue;
        }
        const mine = await store.tryProbe(owner, probeTtlMs).catch((error: unknown) => {
          storeFailed("tryProbe", error);
          return true;
        });
        if (mine) {
          // The lock is free as soon as the last probe was answered, and a 429 to it may have moved the
          // pause a moment before: look at the pause again before probing.
          await sync(true);
          if (needProbe && now() >= pausedUntilMs && queue.includes(head)) dispatch(head, "probe");
          else await store.releaseProbe(owner).catch(() => undefined);
          continue;
        }
        // Another replica probes: look again shortly; its answer clears the shared pause.
        turnAway(at + pollMs);
        if (queue.length > 0) await wait(pollMs);
        await sync(true);
        continue;
      }
      const p = pace(head.priority, at);
      if (p.kind === "free") {
        // While the call sent first is out the rest wait for its answer, each no longer than it may wait:
        // this is caution, not Port's word, so a call is never turned away for it.
        if (firstInFlight && head.deadlineMs > at) await wait(Math.min(pollMs, head.deadlineMs - at));
        else dispatch(head, "call");
        continue;
      }
      if (p.kind === "hold") {
        // Nothing left but the statuses' reserve: normal calls wait for the reset (or are turned away), and
        // when the hold ends one call goes first.
        oneFirst = true;
        turnAway(p.untilMs, head.priority);
        if (queue.length > 0 && queue[0] === head) await wait(Math.min(p.untilMs - at, Math.max(pollMs, 1_000)));
        continue;
      }
      const slotMs = await store.takeSlot(at, p.intervalMs).catch((error: unknown) => {
        storeFailed("takeSlot", error);
        return at;
      });
      at = now();
      if (slotMs > at) {
        if (head.deadlineMs < slotMs) {
          remove(queue, head);
          head.reject(new RateLimitWait(slotMs - at));
          continue;
        }
        await wait(slotMs - at);
        // A 429 answered meanwhile takes precedence over the slot.
        if (now() < pausedUntilMs || needProbe) continue;
      }
      if (queue.includes(head)) dispatch(head, "call");
    }
  }

  return {
    async acquire({ priority, maxWaitMs }) {
      // What the other replicas know first: a pause one of them was just told of holds this call too.
      await sync();
      const at = now();
      if (at < pausedUntilMs && pausedUntilMs - at > maxWaitMs) throw new RateLimitWait(pausedUntilMs - at);
      // Nothing queued, nothing paused, budget not short: go at once.
      if (queue.length === 0 && at >= pausedUntilMs && !needProbe && !firstInFlight && pace(priority, at).kind === "free") return grant("call");
      return new Promise<Permit>((resolve, reject) => {
        enqueue(queue, { priority, deadlineMs: at + maxWaitMs, resolve, reject });
        void pump();
      });
    },
    maxPortWaitMs,
    snapshot: () => ({ pausedUntilMs, needProbe, waiting: queue.length, inFlight, budget: budget ? { ...budget } : undefined }),
  };
}
