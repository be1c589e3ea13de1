/**
 * Time as a dependency: the current time and a way to wait, passed in so tests control the clock and
 * record requested waits instead of spending wall time. Used by the Port stack, EventBridge and the pipeline.
 */

/** Current time, epoch milliseconds. */
export type Clock = () => number;

/** Waits `ms`. */
export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Lets timers and other requests run before going on (long work is done in slices with this in between). */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * `work`, or a rejection after `ms` (the work itself goes on): with `reason` as an Error's message, or the
 * error `late()` makes (which may also tell the work to stop, e.g. through an AbortController).
 */
export function within<T>(work: Promise<T>, ms: number, late: string | (() => Error)): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(typeof late === "string" ? new Error(late) : late()), Math.max(0, ms));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** True once `work` is done, false when `ms` passed first (the work goes on); a rejection is passed on. */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
