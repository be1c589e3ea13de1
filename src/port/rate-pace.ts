/**
 * How Port's budget lets a call go now (the limiter in rate-limit.ts asks before every call): at once while
 * plenty is left; once less than a share of the limit is left, spaced so what is left lasts to the reset,
 * with a reserve kept for terminal statuses; held until the reset when nothing usable is left.
 */
import type { Budget } from "./rate-headers.ts";

export type CallPriority = "status" | "normal";

export type Pace = { kind: "free" } | { kind: "hold"; untilMs: number } | { kind: "paced"; intervalMs: number };

export interface PaceOptions {
  priority: CallPriority;
  /** Now, epoch ms. */
  at: number;
  /** Calls sent and not yet answered: they will spend the budget too. */
  inFlight: number;
  /** Share of the limit kept for terminal statuses once the budget is short (at least 1 call). */
  reserveShare: number;
  /** Pacing starts when less than this share of the limit is left. */
  paceBelowShare: number;
}

export function paceOf(budget: Budget | undefined, o: PaceOptions): Pace {
  if (!budget || o.at >= budget.resetAtMs) return { kind: "free" };
  const left = Math.max(0, budget.remaining - o.inFlight);
  const reserve = Math.max(1, Math.ceil(budget.limit * o.reserveShare));
  const paceBelow = Math.max(reserve + 1, Math.ceil(budget.limit * o.paceBelowShare));
  if (left > paceBelow) return { kind: "free" };
  const usable = o.priority === "status" ? left : left - reserve;
  if (usable <= 0) return { kind: "hold", untilMs: budget.resetAtMs };
  return { kind: "paced", intervalMs: (budget.resetAtMs - o.at) / usable };
}
