/**
 * Typed failures of calls to Port. Callers branch on `retriable` (retry later) versus a permanent refusal
 * (record Port's message and go on). Context (status, method, path, run id, attempt) lives in fields, not in
 * the message, so logs stay structured. Nothing here ever sees the access token or the client secret:
 * errors are built from the response and the request line only.
 */
import { describeError } from "../shared/errors.ts";

interface CallContext {
  method: string;
  /** Path and query, e.g. `/v1/actions/runs/r_1`; never a full URL with credentials. */
  path: string;
  runId?: string | undefined;
  /** Tries made so far, the failing one included. */
  attempt?: number | undefined;
}

/** Statuses worth retrying: rate limit, request timeout, and every 5xx. */
export const isRetriableStatus = (status: number): boolean => status === 429 || status === 408 || status >= 500;

/** Port answered with an error status. */
export class PortApiError extends Error {
  override readonly name = "PortApiError";
  readonly status: number;
  /** Port's machine-readable `error` code (e.g. `invalid_request`, `not_found`), when the body had one. */
  readonly code: string | undefined;
  /** Port's human-readable `message`, when the body had one. */
  readonly portMessage: string | undefined;
  readonly method: string;
  readonly path: string;
  readonly runId: string | undefined;
  attempt: number | undefined;
  readonly retriable: boolean;
  /** How long Port asked us to wait (Retry-After / rate-limit reset), when it did. */
  readonly retryAfterMs: number | undefined;

  constructor(init: CallContext & { status: number; code?: string | undefined; portMessage?: string | undefined; retryAfterMs?: number | undefined }) {
    const what = init.code ? `${init.status} ${init.code}` : `${init.status}`;
    super(`Port refused the call (${what}): ${init.portMessage ?? "no message in the response"}`);
    this.status = init.status;
    this.code = init.code;
    this.portMessage = init.portMessage;
    this.method = init.method;
    this.path = init.path;
    this.runId = init.runId;
    this.attempt = init.attempt;
    this.retriable = isRetriableStatus(init.status);
    this.retryAfterMs = init.retryAfterMs;
  }

  /**
   * 401/403 mean portside is misconfigured (credentials, IP allow-list), not that the report is bad; the
   * reporter keeps such reports for later instead of dropping them.
   */
  get isAuthProblem(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

/** The request never got an answer: connection refused, reset, DNS, TLS. Always worth retrying. */
export class PortNetworkError extends Error {
  override readonly name: string = "PortNetworkError";
  readonly method: string;
  readonly path: string;
  readonly runId: string | undefined;
  attempt: number | undefined;
  readonly retriable = true;
  readonly retryAfterMs: number | undefined = undefined;

  constructor(init: CallContext & { cause?: unknown; message?: string }) {
    super(init.message ?? `Port could not be reached: ${describeError(init.cause)}`, { cause: init.cause });
    this.method = init.method;
    this.path = init.path;
    this.runId = init.runId;
    this.attempt = init.attempt;
  }
}

/** No answer within `timeoutMs`. Port may still have applied the call, which is why reporting is idempotent. */
export class PortTimeoutError extends PortNetworkError {
  override readonly name = "PortTimeoutError";
  readonly timeoutMs: number;

  constructor(init: CallContext & { timeoutMs: number; cause?: unknown }) {
    super({ ...init, message: `Port did not answer within ${init.timeoutMs} ms` });
    this.timeoutMs = init.timeoutMs;
  }
}

/**
 * Not sent: Port's rate limit has every call paused (a 429 was answered, here or on another replica) for
 * longer than this call may wait in process. Retry after `retryAfterMs`; nothing reached Port.
 */
export class PortPausedError extends Error {
  override readonly name = "PortPausedError";
  readonly method: string;
  readonly path: string;
  readonly runId: string | undefined;
  attempt: number | undefined;
  readonly retriable = true;
  readonly retryAfterMs: number;

  constructor(init: CallContext & { retryAfterMs: number }) {
    super(`Not sent: calls to Port are paused by its rate limit for another ${Math.ceil(init.retryAfterMs / 1000)} s`);
    this.method = init.method;
    this.path = init.path;
    this.runId = init.runId;
    this.attempt = init.attempt;
    this.retryAfterMs = init.retryAfterMs;
  }
}

export type PortError = PortApiError | PortNetworkError | PortPausedError;

export const isPortError = (err: unknown): err is PortError => err instanceof PortApiError || err instanceof PortNetworkError || err instanceof PortPausedError;

/** A refusal by Port's rate limit (429), or a call held back by the pause one caused. */
export const isRateLimited = (err: unknown): boolean => err instanceof PortPausedError || (err instanceof PortApiError && err.status === 429);

/** Unknown errors (programmer errors, bugs) are not retried: retrying cannot fix them. */
export const isRetriable = (err: unknown): boolean => isPortError(err) && err.retriable;
