import type { ReportInput, RunPatch } from "../port/calls.ts";

/**
 * Where a synchronous webhook's answer waits for its run's result (a handler with `sync: true`, called by
 * Port with `synchronized`): Port takes the run's status from that answer, so when a waiter on this replica
 * takes the result in time, the status report is not sent to Port's API as well; the run's logs and
 * entities still are. When nobody here waits (the deadline passed, portside restarted, another replica
 * claimed the run) the status is reported through the API as for any run.
 *
 * A waiter also reads the ledger: a request Port sends again for a run that already ended, or a run another
 * replica finished, is answered from the result the ledger kept. An answer in hand waits (within the same
 * deadline) until the run's logs and entities have reached Port: Port ends the run when it gets the answer,
 * and a log sent after that would be refused.
 */
export interface SyncAnswers {
  /** The run's final patch once it ends, or null when `ms` pass first. */
  wait(runId: string, ms: number): Promise<RunPatch | null>;
  /** A run ended with `reports`: hands its final patch to whoever waits here, and returns the reports still to send. */
  offer(runId: string, reports: ReportInput[]): ReportInput[];
}

export interface SyncAnswersDeps {
  /** How the ledger says the run ended (null while it has not). */
  ended(runId: string): Promise<RunPatch | null>;
  /** Whether reports about the run (its logs, entities) are still to be delivered to Port. */
  reportsPending(runId: string): Promise<boolean>;
  /** How often a waiter reads the ledger. */
  lookEveryMs?: number;
}

/** How often an answer in hand looks whether the run's logs have reached Port. */
const DELIVERY_LOOK_MS = 25;

export function createSyncAnswers(deps: SyncAnswersDeps): SyncAnswers {
  const waiting = new Map<string, Set<(patch: RunPatch) => void>>();
  const lookEveryMs = deps.lookEveryMs ?? 500;
  const ended = (runId: string) => deps.ended(runId).catch(() => null);

  /** The result, once the run's logs and entities reached Port (Port ends the run when it gets the answer), or the deadline passed. */
  async function afterDelivery(patch: RunPatch | null, runId: string, deadline: number): Promise<RunPatch | null> {
    while (patch && Date.now() < deadline && (await deps.reportsPending(runId).catch(() => false)))
      await new Promise((resolve) => setTimeout(resolve, DELIVERY_LOOK_MS));
    return patch;
  }

  return {
    async wait(runId, ms) {
      const deadline = Date.now() + ms;
      const already = await ended(runId);
      return afterDelivery(already ?? (await waitForEnd(runId, ms)), runId, deadline);
    },
    offer(runId, reports) {
      const takers = waiting.get(runId);
      if (!takers) return reports;
      const final = reports.find((r) => r.runId === runId && r.call.kind === "update" && r.call.patch.status !== undefined);
      if (final?.call.kind !== "update") return reports;
      for (const take of [...takers]) take(final.call.patch);
      return reports.filter((r) => r !== final);
    },
  };

  function waitForEnd(runId: string, ms: number): Promise<RunPatch | null> {
    return new Promise((resolve) => {
      let done = false;
      const settle = (patch: RunPatch | null) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        clearInterval(look);
        const takers = waiting.get(runId);
        takers?.delete(settle);
        if (takers?.size === 0) waiting.delete(runId);
        resolve(patch);
      };
      const deadline = setTimeout(() => settle(null), ms);
      const look = setInterval(() => void ended(runId).then((patch) => patch && settle(patch)), lookEveryMs);
      waiting.set(runId, (waiting.get(runId) ?? new Set()).add(settle));
    });
  }
}
