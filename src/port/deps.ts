/**
 * The small capabilities the Port modules take as dependencies, so tests control time and observe logs
 * without module mocking. Structural types: any logger with these methods fits.
 */

/** Current time, epoch milliseconds. */
export type Clock = () => number;

/** Waits `ms`. Injected so tests record requested waits instead of spending wall time. */
export type Sleep = (ms: number) => Promise<void>;

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
  reporterClaimFailed: "port.reporter.claim_failed",
  reporterCrashed: "port.reporter.crashed",
} as const;

export const silentLogger: PortLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
