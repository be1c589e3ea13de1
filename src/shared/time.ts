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
