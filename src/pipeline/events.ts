/** Log event names of the pipeline (ingest, executor, replay), one catalogue so metrics and tests can rely on them. */
export const PipelineEvents = {
  /** A request's records were recorded and some were parked (the reasons, never the values). */
  parked: "ingest.parked",
  /** The ledger could not record a request; nothing in it was acknowledged. */
  ledgerUnavailable: "ingest.ledger_unavailable",
  /** A run for an action nobody here handles was left alone (logged once per action). */
  unhandledRun: "ingest.unhandled_run",

  runStarted: "run.started",
  runFinished: "run.finished",
  runFailed: "run.failed",
  runDeferred: "run.deferred",
  runNoHandler: "run.no_handler",
  runInterrupted: "run.interrupted",
  runGaveUp: "run.gave_up",
  runInvalidResult: "run.invalid_result",
  runInternalError: "run.internal_error",
  /** A handler wrote to Port after its run ended; dropped (logged once per run). */
  callAfterEnd: "run.call_after_end",
  /** An accepted run no longer validates (the configuration changed since it was accepted). */
  runUnreadable: "run.unreadable",
  changeFailed: "change.failed",
  changeInvalid: "change.invalid",

  claimFailed: "executor.claim_failed",
  renewFailed: "executor.renew_failed",
  flushFailed: "executor.flush_failed",
  /** Finishing an item failed (ledger away); it is retried, with the result kept in memory. */
  finishRetry: "executor.finish_retry",
  finishRecovered: "executor.finish_recovered",
  leaseLost: "executor.lease_lost",
} as const;
