import { within } from "../shared/time.ts";

/** Thrown when a handler runs past its time limit. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
  }
}

/**
 * Resolves with `work`, or rejects with `TimeoutError` after `timeoutMs` and aborts `abort` so the
 * handler can notice (JavaScript cannot stop a promise; the signal is the polite way to ask).
 */
export function withTimeout<T>(work: Promise<T>, timeoutMs: number, abort: AbortController): Promise<T> {
  return within(work, timeoutMs, () => {
    const error = new TimeoutError(timeoutMs);
    abort.abort(error);
    return error;
  });
}
