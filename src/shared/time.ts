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

/** `work`, or a rejection saying `reason` when it has not settled within `ms` (the work itself goes on). */
export function within<T>(work: Promise<T>, ms: number, reason: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(reason)), Math.max(0, ms))));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
