/**
 * The logger the Port modules take as a dependency, so tests observe logs without module mocking, and the
 * catalogue of their log events. Structural types: any logger with these methods fits.
 */

/** Structured logger: an event name from `PortEvents` plus fields (always including `runId` when there is one). */
export interface PortLogger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

/** Catalogue of log event names, for metrics and tests. */
export const PortEvents = {
  tokenRefreshed: "port.token.refreshed",
  tokenRejected: "port.token.rejected",
  callRetry: "port.call.retry",
  callFailed: "port.call.failed",
  reportDelivered: "port.report.delivered",
  reportRetry: "port.report.retry",
  reportFailed: "port.report.failed",
  reportAlreadyTerminated: "port.report.already_terminated",
  /** Port took a call only in part, and saying so in the run's log failed too (the report's record has it). */
  reportNoteNotLogged: "port.report.note_not_logged",
  reporterClaimFailed: "port.reporter.claim_failed",
  reporterCrashed: "port.reporter.crashed",
} as const;
