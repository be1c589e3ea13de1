/**
 * The reporter drains the ledger's outbox to Port. Reports of one run go out in the order they were
 * queued (logs and entity links before the terminal status, as Port requires), consecutive logs coalesced
 * so a run's happy path costs at most two calls. A retriable failure stops that run until its retry time
 * (order is kept); a permanent refusal is recorded with Port's message and the run goes on, so a bad
 * entity never keeps a run from being terminated.
 *
 * Delivery is at least once: after a crash a terminal PATCH may be re-sent; when Port then says the run is
 * already terminated, that is what we wanted, so it counts as delivered.
 *
 * A run Port does not know (404 on its logs or status: a message Port never published, a deleted run) is a
 * permanent refusal like any other 4xx: recorded, logged once per report with what it means, never retried;
 * the run's other reports in the same pass are settled with it rather than sent to meet the same 404.
 */
import type { Ledger, PendingReport, ReportOutcome } from "../ledger/ledger.ts";
import { isTerminal, type PortCall } from "./calls.ts";
import type { BulkEntityError, PortClient } from "./client.ts";
import type { Delivery } from "./coalesce.ts";
import type { PortEndpoint } from "./endpoints.ts";
import { isNodeRun } from "./run-kinds.ts";
import { defaultMaxLogBytes, nextDelivery } from "./coalesce.ts";
import type { PortLogger } from "./deps.ts";
import type { Clock } from "../shared/time.ts";
import { PortEvents } from "./deps.ts";
import { isRateLimited, isRetriable, PortApiError, PortPausedError } from "./errors.ts";
import { defaultMaxPortWaitMs } from "./rate-headers.ts";
import type { Random, RetryPolicy } from "../shared/retry.ts";
import { backoffMs, retryPolicies } from "../shared/retry.ts";
import { truncate } from "../shared/text.ts";

export interface ReporterOptions {
  ledger: Pick<Ledger, "claimReports" | "settleReport">;
  port: Pick<PortClient, "patchRun" | "putRunResponse" | "postLogs" | "getRun" | "upsertEntity" | "updateEntity" | "deleteEntity" | "upsertEntities">;
  clock: Clock;
  logger: PortLogger;
  /** This replica's name in report leases. */
  owner: string;
  /** Runs claimed (and delivered concurrently) per drain (default 64). */
  batchRuns?: number;
  /**
   * Runs being delivered at once by the loop, across drains (default 256): the loop claims the next
   * drain while earlier ones are still waiting for Port, so throughput is not capped at one drain's
   * round trips. Each run's reports still go out one at a time, in order.
   */
  maxRunsInFlight?: number;
  /** Lease on claimed reports; must outlast one delivery including the client's in-process retries (default 2 min). */
  leaseMs?: number;
  /**
   * Outbox schedule for retriable failures (default `retryPolicies.outbox`). `maxAttempts` is ignored:
   * a report is never dropped for Port being slow or down, or the terminal status would be lost.
   */
  retry?: RetryPolicy;
  /** Fallback poll when nobody calls `notify()` (default 1 s). */
  pollIntervalMs?: number;
  /** Cap on reports claimed per drain, across runs (default 100 per run). */
  maxReportsPerClaim?: number;
  /** Cap on one coalesced log message (default 512 KiB). */
  maxLogBytes?: number;
  /** The latest a retry is put off to, from now, whatever Port asked (default `defaultMaxPortWaitMs`, 5 min). */
  maxDelayMs?: number;
  random?: Random;
  /** A report Port refused for good, by the endpoint its call goes to and Port's status (207: part of a bulk write; 0: no status). */
  onRefused?: (refusal: { endpoint: PortEndpoint; status: number }) => void;
}

export interface DrainResult {
  runs: number;
  delivered: number;
  retried: number;
  failed: number;
}

export interface Reporter {
  /** Runs drains until `stop()`, waking on `notify()` or at the fallback poll interval. */
  start(): void;
  /** Stops the loop and waits for deliveries in flight. */
  stop(): Promise<void>;
  /** One claim-and-deliver pass (tests, shutdown flush). */
  drainOnce(): Promise<DrainResult>;
  /** Claims and delivers until nothing is due (reports backing off after a failure are not waited for). */
  drainToIdle(): Promise<void>;
  /** New reports were appended: drain now instead of at the next poll. */
  notify(): void;
}

type Attempt =
  | { type: "delivered"; alreadyTerminated?: string }
  /** `held`: not sent, the limiter's pause held it back (said once by the limiter, so logged quietly here). */
  | { type: "retry"; delayMs: number; error: string; held?: boolean }
  /** `status`: Port's HTTP status of the refusal (207 for a bulk write taken in part; 0 when there was none). */
  | { type: "failed"; error: string; status: number; runUnknown?: boolean };

export function createReporter(opts: ReporterOptions): Reporter {
  const { ledger, port, clock, logger, owner } = opts;
  const batchRuns = opts.batchRuns ?? 64;
  const maxRunsInFlight = Math.max(batchRuns, opts.maxRunsInFlight ?? 256);
  const leaseMs = opts.leaseMs ?? 120_000;
  const retry = opts.retry ?? retryPolicies.outbox;
  const pollIntervalMs = opts.pollIntervalMs ?? 1_000;
  const maxReportsPerClaim = opts.maxReportsPerClaim ?? batchRuns * 100;
  const maxLogBytes = opts.maxLogBytes ?? defaultMaxLogBytes;
  const maxDelayMs = opts.maxDelayMs ?? defaultMaxPortWaitMs;
  const inFlight = new Set<Promise<unknown>>();
  let running = false;
  let loop: Promise<void> | undefined;
  let notified = false;
  let wake: (() => void) | undefined;
  let earliestRetryAtMs = Infinity;

  let runsInFlight = 0;
  /** Resolves the loop's wait for room when a drain finishes. */
  let roomFreed: (() => void) | undefined;

  /** Claims the due reports of up to `limitRuns` runs, grouped by run in queue order. */
  async function claim(limitRuns: number): Promise<{ byRun: Map<string, PendingReport[]>; claimedAtMs: number }> {
    const claimedAtMs = clock();
    const claimed = await ledger.claimReports({ owner, limit: Math.min(maxReportsPerClaim, limitRuns * 100), limitRuns, leaseMs, now: claimedAtMs });
    const byRun = new Map<string, PendingReport[]>();
    for (const report of claimed) {
      const list = byRun.get(report.runId);
      if (list) list.push(report);
      else byRun.set(report.runId, [report]);
    }
    return { byRun, claimedAtMs };
  }

  /** Delivers what one claim handed out, runs side by side; tracked so `stop()` can wait for it. */
  function deliverClaimed(byRun: Map<string, PendingReport[]>, claimedAtMs: number, tally: DrainResult): Promise<void> {
    const work = Promise.all(
      [...byRun].map(([runId, reports]) =>
        deliverRun(runId, reports, tally, claimedAtMs + leaseMs / 2).catch((err: unknown) => {
          // Usually the ledger failing to settle; the lease runs out and the reports are delivered again.
          logger.error(PortEvents.reporterCrashed, { runId, error: describe(err) });
        }),
      ),
    ).then(() => undefined);
    inFlight.add(work);
    runsInFlight += byRun.size;
    void work.finally(() => {
      inFlight.delete(work);
      runsInFlight -= byRun.size;
      roomFreed?.();
    });
    return work;
  }

  async function drainOnce(): Promise<DrainResult> {
    const tally: DrainResult = { runs: 0, delivered: 0, retried: 0, failed: 0 };
    const { byRun, claimedAtMs } = await claim(batchRuns);
    tally.runs = byRun.size;
    await deliverClaimed(byRun, claimedAtMs, tally);
    return tally;
  }

  /**
   * Delivers one run's reports in order. Stops starting new deliveries after `stopStartingAtMs` (half the
   * lease) so the lease never runs out mid-run and another replica cannot deliver the rest out of order.
   */
  async function deliverRun(runId: string, reports: PendingReport[], tally: DrainResult, stopStartingAtMs: number): Promise<void> {
    for (let index = 0; index < reports.length; ) {
      if (clock() > stopStartingAtMs) return;
      const delivery = nextDelivery(reports, index, maxLogBytes);
      if (!delivery) break;
      index += delivery.reports.length;
      const result = await attempt(runId, delivery);
      const settling = [...delivery.reports];
      if (result.type === "failed" && result.runUnknown) {
        // Port has no such run: the rest of this pass's reports would only meet the same 404.
        settling.push(...reports.slice(index));
        index = reports.length;
      }
      const nowMs = clock();
      const outcome = toOutcome(result, nowMs);
      for (const report of settling) {
        await ledger.settleReport(report.id, outcome, nowMs);
        logOutcome(runId, report, outcome, result);
        if (outcome.type === "delivered") tally.delivered++;
        else if (outcome.type === "failed") {
          tally.failed++;
          if (result.type === "failed") opts.onRefused?.({ endpoint: endpointOf(runId, report.call), status: result.status });
        } else {
          tally.retried++;
          earliestRetryAtMs = Math.min(earliestRetryAtMs, outcome.at);
        }
      }
      // Keep order: nothing after a report that must be retried goes out before it.
      if (result.type === "retry") return;
    }
  }

  /**
   * One delivery per kind of call; a kind missing here is a type error, so nothing is settled unsent. A
   * delivery resolves with a description of what Port refused when it took the call only in part.
   */
  const send: { [K in PortCall["kind"]]: (runId: string, call: Extract<PortCall, { kind: K }>) => Promise<string | undefined | void> } = {
    log: (runId, call) => port.postLogs(runId, [call]),
    update: (runId, call) => port.patchRun(runId, call.patch, { output: call.output }),
    response: (runId, call) => port.putRunResponse(runId, call.response),
    entity: (runId, call) => port.upsertEntity(call.blueprint, call.entity, { runId, createMissingRelatedEntities: call.createMissingRelatedEntities }),
    entityUpdate: (runId, call) =>
      port.updateEntity(call.blueprint, call.identifier, call.patch, { runId, createMissingRelatedEntities: call.createMissingRelatedEntities }),
    entityDelete: (runId, call) => port.deleteEntity(call.blueprint, call.identifier, { runId, deleteDependents: call.deleteDependents }),
    entityBulk: async (runId, call) => {
      const { errors } = await port.upsertEntities(call.blueprint, call.entities, { runId, createMissingRelatedEntities: call.createMissingRelatedEntities });
      return errors.length > 0 ? describeBulkRefusals(call.blueprint, call.entities.length, errors) : undefined;
    },
  };
  const deliver = (runId: string, call: PortCall): Promise<string | undefined | void> =>
    (send[call.kind] as (runId: string, call: PortCall) => Promise<string | undefined | void>)(runId, call);

  async function attempt(runId: string, delivery: Delivery): Promise<Attempt> {
    const report = delivery.reports[0];
    try {
      if (delivery.kind === "log") await port.postLogs(runId, delivery.lines);
      else {
        const refusals = await deliver(runId, report.call);
        // Port took part of the call (a bulk write answered 207): recorded as failed with what it refused, and
        // said in the run's log, since the handler that asked for it will not hear of it otherwise.
        if (refusals) {
          await tellRun(runId, refusals);
          return { type: "failed", error: refusals, status: 207 };
        }
      }
      return { type: "delivered" };
    } catch (err) {
      const attempts = Math.max(...delivery.reports.map((r) => r.attempts)) + 1;
      // Port's rate limit: the client's limiter paces and pauses every call, so come back exactly when the pause
      // ends (when Port said) instead of after a backoff that grows with each window the report sat out.
      if (isRateLimited(err)) {
        const untilMs = (err as PortApiError | PortPausedError).retryAfterMs;
        return { type: "retry", delayMs: untilMs ?? backoffMs(retry, attempts, opts.random), error: describe(err), held: err instanceof PortPausedError };
      }
      if (isRetriable(err) || (err instanceof PortApiError && err.isAuthProblem)) {
        const serverMs = err instanceof PortApiError ? (err.retryAfterMs ?? 0) : 0;
        return { type: "retry", delayMs: Math.max(serverMs, backoffMs(retry, attempts, opts.random)), error: describe(err) };
      }
      if (err instanceof PortApiError && err.status === 404 && isRunScoped(report?.call)) {
        return { type: "failed", error: describe(err), status: err.status, runUnknown: true };
      }
      if (report && isTerminal(report.call) && err instanceof PortApiError) {
        return confirmTerminated(runId, err, attempts);
      }
      return { type: "failed", error: describe(err), status: err instanceof PortApiError ? err.status : 0 };
    }
  }

  /** Best effort: a line in the run's log. Failing that, portside's own log (the report's record) still has it. */
  async function tellRun(runId: string, message: string): Promise<void> {
    try {
      await port.postLogs(runId, [{ message, level: "WARN" }]);
    } catch (err) {
      logger.warn(PortEvents.reportNoteNotLogged, { runId, error: describe(err) });
    }
  }

  /** A refused terminal PATCH: if Port already has a terminal status (we sent it before a crash), we are done. */
  async function confirmTerminated(runId: string, refusal: PortApiError, attempts: number): Promise<Attempt> {
    try {
      const run = await port.getRun(runId);
      if (run.terminated) return { type: "delivered", alreadyTerminated: run.status };
      return { type: "failed", error: describe(refusal), status: refusal.status };
    } catch (err) {
      if (isRetriable(err)) return { type: "retry", delayMs: backoffMs(retry, attempts, opts.random), error: describe(err) };
      return { type: "failed", error: describe(refusal), status: refusal.status };
    }
  }

  function toOutcome(result: Attempt, nowMs: number): ReportOutcome {
    if (result.type === "delivered") return { type: "delivered" };
    if (result.type === "failed") return { type: "failed", error: result.error };
    return { type: "retry", at: nowMs + Math.min(result.delayMs, maxDelayMs), error: result.error };
  }

  function logOutcome(runId: string, report: PendingReport, outcome: ReportOutcome, result: Attempt): void {
    const fields = { runId, reportId: report.id, kind: report.call.kind, attempts: report.attempts + 1 };
    if (result.type === "delivered" && result.alreadyTerminated) {
      logger.info(PortEvents.reportAlreadyTerminated, { ...fields, portStatus: result.alreadyTerminated });
    } else if (outcome.type === "delivered") logger.debug(PortEvents.reportDelivered, fields);
    else if (outcome.type === "retry") {
      const level = result.type === "retry" && result.held ? "debug" : "warn";
      logger[level](PortEvents.reportRetry, { ...fields, at: outcome.at, error: outcome.error });
    } else logger.error(PortEvents.reportFailed, { ...fields, error: outcome.error });
  }

  /**
   * Waits `ms`, or less: `notify()`, `stop()`, and a drain finishing (its runs may have been handed a
   * retry time, or left reports queued meanwhile) all end the wait.
   */
  function idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (notified || !running) return resolve();
      const timer = setTimeout(done, Math.max(0, ms));
      wake = () => {
        clearTimeout(timer);
        done();
      };
      roomFreed = wake;
      function done() {
        wake = undefined;
        roomFreed = undefined;
        resolve();
      }
    });
  }

  /** Waits until a drain in flight finishes (or `stop()`/`notify()`). */
  function roomOrWake(): Promise<void> {
    return new Promise((resolve) => {
      if (!running || runsInFlight === 0) return resolve();
      const done = () => {
        roomFreed = undefined;
        wake = undefined;
        resolve();
      };
      roomFreed = done;
      wake = done;
    });
  }

  async function runLoop(): Promise<void> {
    let claimFailures = 0;
    while (running) {
      const room = maxRunsInFlight - runsInFlight;
      if (room < batchRuns) {
        await roomOrWake();
        continue;
      }
      notified = false;
      // A retry time already reached is claimed now; a later one (from any drain) is kept for the wait.
      if (earliestRetryAtMs <= clock()) earliestRetryAtMs = Infinity;
      let claimed: Awaited<ReturnType<typeof claim>>;
      try {
        claimed = await claim(batchRuns);
        claimFailures = 0;
      } catch (err) {
        claimFailures++;
        logger.error(PortEvents.reporterClaimFailed, { error: describe(err), attempt: claimFailures });
        await idle(Math.max(backoffMs(retry, claimFailures, opts.random), Math.min(pollIntervalMs, retry.initialMs)));
        continue;
      }
      const tally: DrainResult = { runs: claimed.byRun.size, delivered: 0, retried: 0, failed: 0 };
      // Not awaited: the next claim goes out while these wait for Port (up to maxRunsInFlight runs).
      if (claimed.byRun.size > 0) void deliverClaimed(claimed.byRun, claimed.claimedAtMs, tally);
      if (claimed.byRun.size >= batchRuns) continue; // more may be due right now
      await idle(Math.min(pollIntervalMs, earliestRetryAtMs - clock()));
    }
  }

  return {
    drainOnce,
    async drainToIdle() {
      for (let drained = await drainOnce(); drained.runs > 0; drained = await drainOnce());
    },
    notify() {
      notified = true;
      wake?.();
    },
    start() {
      if (running) return;
      running = true;
      loop = runLoop();
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      loop = undefined;
      await Promise.all(inFlight);
    },
  };
}

/** What Port refused of a bulk write, for the run's log and the report's record: each entity with Port's words, ten at most. */
function describeBulkRefusals(blueprint: string, sent: number, errors: BulkEntityError[]): string {
  const listed = errors.slice(0, 10).map((e) => {
    const which = e.identifier ?? `entity #${e.index}`;
    const why = [e.statusCode, e.error].filter((part) => part !== undefined).join(" ");
    return `${which}${why ? ` (${why})` : ""}${e.message ? `: ${e.message}` : ""}`;
  });
  const more = errors.length > listed.length ? `; and ${errors.length - listed.length} more` : "";
  return truncate(`Port refused ${errors.length} of ${sent} ${blueprint} entities in a bulk write: ${listed.join("; ")}${more}`, 2_000);
}

/** The endpoint a report's call goes to, by the names the client counts its calls by. */
function endpointOf(runId: string, call: PortCall): PortEndpoint {
  const node = isNodeRun(runId);
  const endpoints: Record<PortCall["kind"], PortEndpoint> = {
    update: node ? "patchNodeRun" : "patchRun",
    log: node ? "postNodeLog" : "postLog",
    response: "putRunResponse",
    entity: "upsertEntity",
    entityUpdate: "updateEntity",
    entityDelete: "deleteEntity",
    entityBulk: "upsertEntities",
  };
  return endpoints[call.kind];
}

/**
 * Calls addressed to the run itself (its logs, its status): a 404 there means Port has no such run. An
 * entity call's 404 may be its blueprint instead, so it says nothing about the run.
 */
const isRunScoped = (call: PortCall | undefined): boolean => call?.kind === "log" || call?.kind === "update" || call?.kind === "response";

function describe(err: unknown): string {
  if (err instanceof PortApiError) {
    const code = err.code ? ` ${err.code}` : "";
    const hint = err.isAuthProblem
      ? " (check portside's Port client id and secret, and Port's IP allow-list)"
      : err.status === 404
        ? " (Port does not know this run or resource: was the message published by this organisation's Port, or was it deleted? Not retried)"
        : "";
    return `Port answered ${err.status}${code}: ${err.portMessage ?? "no message"}${hint}`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
