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
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new TimeoutError(timeoutMs);
      abort.abort(error);
      reject(error);
    }, timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
