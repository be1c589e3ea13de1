import { type ClaimedWork, runIdOfKey, type WorkEnd } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import { parseChange, parseRun, type RunLocator } from "../messages/index.ts";
import { ADDRESSABLE_RUN_ID } from "../messages/run-schemas.ts";
import { checkInputs } from "../actions/check.ts";
import { decryptSecretInputs, notDecrypted } from "../messages/secrets.ts";
import type { Run } from "../messages/views.ts";
import type { ReportInput } from "../port/calls.ts";
import { finalReports } from "../port/run-kinds.ts";
import { describeError } from "../shared/errors.ts";
import { truncate } from "../shared/text.ts";
import { DEFERRED, type ExternalTargetRunner } from "../targets/external.ts";
import type { Registry } from "../targets/registry.ts";
import { resultToPatch, SUMMARY_MAX } from "../targets/result.ts";
import { PipelineEvents as E } from "./events.ts";
import type { ParsedRuns } from "./parsed-runs.ts";
import { createRunContext, type RunCalls } from "./run-context.ts";
import { TimeoutError, withTimeout } from "./timeout.ts";
import { handlerStack } from "./handler-stack.ts";

/**
 * What one claimed item does, and what Port is to be told of it. The executor (executor.ts) decides when an
 * item runs and records how it ended; this room runs it: a run's handler or target with its time limit and
 * its checks, a change's rules, and the reports that follow. Every run ends with a status: a handler's
 * result is checked (an invalid one is a FAILURE naming the field), and portside's own failure is a FAILURE
 * too (`failed`).
 */
export interface WorkDeps {
  registry: Registry;
  logger: Logger;
  locator: RunLocator | null;
  /** Runs the acceptor has just validated, so they are not parsed twice. */
  parsedRuns: ParsedRuns;
  /** How many times a run may be started before an interrupted one is given up as FAILURE. */
  maxAttempts: number;
  /** Port's client secret, whose first 32 bytes decrypt secret inputs; null when there is none. */
  secretKey: string | null;
  handlerTimeoutMs: number;
  targets?: Record<string, ExternalTargetRunner>;
  /** A run's handler (or target) ended, or portside failed it: the status Port is told (DEFERRED: the target reports it), why, how long it took. */
  onRunEnded?: (run: { runId: string; action: string; status: string; summary: string | null; seconds: number }) => void;
}

/** One claimed item while it runs, as the executor holds it. */
export interface Claimed {
  readonly item: ClaimedWork;
  readonly abort: AbortController;
  /** The run it holds, once read. */
  run?: Run;
  /** When its handler started (performance.now()). */
  startedMs?: number;
  /** A running handler's calls to Port, buffered until the executor writes them out. */
  calls?: RunCalls;
  /** The stack of what its handler threw (handler-stack.ts): kept with how the run ended, never sent to Port. */
  stack?: string | null;
}

/** What the work asks of the executor while it runs an item. */
export interface WorkSeam {
  /** The item waits on a target from now on: its handler slot is free for the next claim. */
  waitOnTarget(claimed: Claimed): Promise<void>;
  /** The buffer of a running handler is full: write it out now. */
  flush(claimed: Claimed): void;
  /** Parks a change with its record (written until the ledger takes it), keyed so that a later attempt parks it once. */
  parkChange(claimed: Claimed, runId: string | null, reason: string): Promise<void>;
}

export interface Work {
  /** Runs the item; resolves to its final reports (none for a change). Throws only on portside's own failure. */
  run(claimed: Claimed): Promise<ReportInput[]>;
  /** After portside's own failure while running (or finishing) the item: what ends it all the same. */
  failed(claimed: Claimed, error: unknown): Promise<ReportInput[]>;
}

export function createWork(deps: WorkDeps, seam: WorkSeam): Work {
  const ended = (claimed: Claimed, reports: ReportInput[]) => {
    const { run } = claimed;
    if (run) deps.onRunEnded?.({ runId: run.id, action: run.action, ...endOf(reports), seconds: (performance.now() - (claimed.startedMs ?? 0)) / 1000 });
  };

  async function run(claimed: Claimed): Promise<ReportInput[]> {
    const { item } = claimed;
    if (item.kind === "change") {
      await runChange(claimed);
      return [];
    }
    claimed.run = readRun(item);
    if (!claimed.run) {
      // Still ended in Port, by the id in its key: the record no longer says what to run.
      const runId = addressableRunId(item.key);
      return runId
        ? failure(
            runId,
            "portside could not read this run any more (its configuration changed after it was accepted: RUN_ID_PATH, ACTION_PATH); re-trigger the action from Port.",
          )
        : [];
    }
    claimed.startedMs = performance.now();
    const reports = await runReports(claimed, claimed.run);
    ended(claimed, reports);
    return reports;
  }

  async function failed(claimed: Claimed, error: unknown): Promise<ReportInput[]> {
    const { item } = claimed;
    deps.logger.error(E.runInternalError, { key: item.key, error });
    // What the handler buffered is dropped with the result it belonged to.
    claimed.calls?.take();
    if (item.kind === "change") {
      // The change is parked, so it can be replayed, and its entity lane moves on.
      await seam.parkChange(claimed, null, "portside hit an internal error while handling this change; see portside's log (run.internal_error)");
      return [];
    }
    // The run still gets a status, so Port never shows it running forever and its entity lane is not held;
    // and it is counted and kept as ended like any other.
    const runId = claimed.run?.id ?? addressableRunId(item.key);
    const reports = runId
      ? failure(runId, "portside hit an internal error while running this; see portside's log (run.internal_error) and re-trigger the action from Port.")
      : [];
    ended(claimed, reports);
    return reports;
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

  /** Runs the handler (or external target) and says what Port is to be told. */
  async function runReports(claimed: Claimed, run: Run): Promise<ReportInput[]> {
    const { item } = claimed;
    const log = deps.logger.child({ runId: run.id, action: run.action });
    const route = deps.registry.forRun(run.action, run);
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
    // With the action's definition (the module's `actions`), the handler starts only on inputs that match it.
    const checked =
      route.type === "local" && route.inputs ? checkInputs(route.inputs, secrets.inputs, run.action) : { ok: true as const, inputs: secrets.inputs };
    if (!checked.ok) {
      log.warn(E.runFailed, { reason: checked.reason });
      return failure(run.id, checked.reason);
    }
    const calls = createRunContext({
      run: checked.inputs === run.inputs ? run : { ...run, inputs: checked.inputs },
      attempt: item.attempt,
      signal: claimed.abort.signal,
      flushAt: 100,
      onFull: () => seam.flush(claimed),
      redact: secrets.redact,
      onLate: (method) =>
        log.warn(E.callAfterEnd, {
          call: method,
          note: "the handler wrote to Port after its run had ended (timed out, or returned without awaiting it); this call and any later one are not sent",
        }),
    });
    claimed.calls = calls;
    log.info(E.runStarted, { attempt: item.attempt });
    let result: unknown;
    try {
      if (route.type === "local") {
        const timeoutMs = route.timeoutMs ?? deps.handlerTimeoutMs;
        result = await withTimeout(
          Promise.resolve().then(() => route.handle(calls.context)),
          timeoutMs,
          claimed.abort,
        );
      } else {
        const runner = runnerFor(route.target.kind);
        await seam.waitOnTarget(claimed);
        result = await withTimeout(runner.run(route.target, run, calls.context.log), deps.handlerTimeoutMs, claimed.abort);
      }
    } catch (error) {
      const timedOut = error instanceof TimeoutError;
      const message = timedOut
        ? `Handler for "${run.action}" timed out after ${error.timeoutMs} ms`
        : `Handler for "${run.action}" failed: ${secrets.redact.text(describeError(error))}`;
      // The handler's own stack, for portside's log and the run's story; Port is told the message only.
      claimed.stack = route.type === "local" && !timedOut ? handlerStack(error, secrets.redact) : null;
      log.warn(E.runFailed, { reason: message, ...(claimed.stack ? { stack: claimed.stack } : {}) });
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

  /** Every rule that matches the change, in order; one that fails parks the change with its record, and the rest still run. */
  async function runChange(claimed: Claimed): Promise<void> {
    const { item } = claimed;
    const parsed = await parseChange(JSON.parse(item.body), item.body);
    if (!parsed.ok) {
      deps.logger.error(E.changeInvalid, { key: item.key, reason: parsed.reason });
      return;
    }
    const change = parsed.change;
    // A change whose every attempt was interrupted (its handler crashes the process, say) is parked, not retried forever.
    if (item.attempt > deps.maxAttempts) {
      const reason = `portside started this change ${item.attempt - 1} times and every attempt was interrupted, so it gave up (MAX_RUN_ATTEMPTS=${deps.maxAttempts})`;
      return seam.parkChange(claimed, change.runId, reason);
    }
    const routes = deps.registry.forChange(change);
    if (routes.length > 0 && routes.every((route) => route.type !== "local")) await seam.waitOnTarget(claimed);
    for (const route of routes) {
      try {
        if (route.type === "local") {
          await withTimeout(
            Promise.resolve().then(() => route.handle({ ...change, signal: claimed.abort.signal })),
            route.timeoutMs ?? deps.handlerTimeoutMs,
            claimed.abort,
          );
        } else await runnerFor(route.target.kind).change(route.target, change);
      } catch (error) {
        // A failing change handler is parked with the record, so it can be replayed once fixed.
        const reason =
          error instanceof TimeoutError ? `change handler timed out after ${error.timeoutMs} ms` : `change handler failed: ${describeError(error)}`;
        deps.logger.warn(E.changeFailed, { key: item.key, reason });
        await seam.parkChange(claimed, change.runId, reason);
      }
    }
  }

  function runnerFor(kind: string): ExternalTargetRunner {
    const runner = deps.targets?.[kind];
    if (!runner) throw new Error(`No runner for target kind "${kind}"`);
    return runner;
  }

  return { run, failed };
}

/** The run id in a run's ledger key, when Port can address it. */
function addressableRunId(key: string): string | null {
  const id = runIdOfKey(key);
  return id !== null && ADDRESSABLE_RUN_ID.test(id) ? id : null;
}

function failure(runId: string, reason: string): ReportInput[] {
  return finalReports(runId, { status: "FAILURE", summary: truncate(reason, SUMMARY_MAX) });
}

/** The status (and summary) a run's final reports give Port; DEFERRED when they give none (the target reports it later). */
export function endOf(reports: ReportInput[]): WorkEnd {
  for (const { call } of reports) if (call.kind === "update" && call.patch.status) return { status: call.patch.status, summary: call.patch.summary ?? null };
  return { status: "DEFERRED", summary: null };
}
