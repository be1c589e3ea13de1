/**
 * The calls waiting for the rate limiter (rate-limit.ts), in the order it serves them: `status` calls
 * (terminal statuses, the checks that go with them, the token) before `normal` ones (logs, entities), first
 * come first served within a priority.
 */
import type { CallPriority } from "./rate-pace.ts";

export interface Waiter<T> {
  priority: CallPriority;
  /** The latest this call may be let go, epoch ms. */
  deadlineMs: number;
  resolve(value: T): void;
  reject(error: Error): void;
}

const RANK: Record<CallPriority, number> = { status: 0, normal: 1 };

/** Puts `waiter` behind the calls of its priority, ahead of lower ones. */
export function enqueue<T>(queue: Waiter<T>[], waiter: Waiter<T>): void {
  const after = queue.findIndex((queued) => RANK[queued.priority] > RANK[waiter.priority]);
  queue.splice(after === -1 ? queue.length : after, 0, waiter);
}

export function remove<T>(queue: Waiter<T>[], waiter: Waiter<T>): void {
  const index = queue.indexOf(waiter);
  if (index !== -1) queue.splice(index, 1);
}

/** Takes out and returns the waiters (of priority `only`, when given) that may not wait until `untilMs`. */
export function expiring<T>(queue: Waiter<T>[], untilMs: number, only?: CallPriority): Waiter<T>[] {
  const out = queue.filter((waiter) => (only === undefined || waiter.priority === only) && waiter.deadlineMs < untilMs);
  for (const waiter of out) remove(queue, waiter);
  return out;
}
