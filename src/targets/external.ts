import type { Change, Run } from "../messages/views.ts";
import type { ExternalTarget } from "./define.ts";

/**
 * Runners for targets that are not local code (EventBridge fan-out, …), keyed by the target's `kind`. The
 * executor hands them runs and changes; they live beside the targets they run, not in the pipeline.
 */
export interface ExternalTargetRunner {
  /**
   * Resolves to the run's result (checked like a handler's), or `DEFERRED` when someone downstream
   * reports the run's status to Port.
   */
  run(target: ExternalTarget, run: Run, log: (message: string) => Promise<void>): Promise<unknown>;
  change(target: ExternalTarget, change: Change): Promise<void>;
}

/** A runner's answer for "published; the consumer reports the status". Compared by identity. */
export const DEFERRED: unique symbol = Symbol("portside.deferred");
