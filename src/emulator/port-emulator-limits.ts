/**
 * The organisation's rate budget as the emulator keeps it (tests and the local demo only — this is not
 * Port). Port puts `x-ratelimit-limit`, `-remaining`, `-reset` and `-period` on every response and counts
 * one budget for the whole organisation. Over the budget its current documentation speaks of requests
 * "taking longer to be processed" (`whenExceeded: "throttle"`, the default here); 429 with `Retry-After` is
 * what clients must still handle (`"refuse"`, `refuseFor` windows and queued 429 faults).
 */
import type { PortEmulatorState } from "./port-emulator-state.ts";

export interface LimitDecision {
  /** Answer 429 with this Retry-After (seconds) instead of serving the call. */
  refuseRetryAfterS?: number;
  /** Serve the call, but this much later (throttled). */
  delayMs: number;
  /** Headers for the answer, whatever it turns out to be. */
  headers: Record<string, string>;
}

/** Counts one call against the budget and decides how it is answered. */
export function decideLimit(state: PortEmulatorState, nowMs: number): LimitDecision {
  const budget = state.spendBudget();
  const rate = state.rateLimit;
  const headers = (remaining: number, resetAtMs: number): Record<string, string> => ({
    "x-ratelimit-limit": String(rate.limit),
    "x-ratelimit-remaining": String(remaining),
    "x-ratelimit-reset": resetHeader(state, resetAtMs, nowMs),
    "x-ratelimit-period": String(rate.periodS),
  });
  if (nowMs < state.refusingUntilMs) {
    return { refuseRetryAfterS: state.refusalRetryAfterS(), delayMs: 0, headers: headers(0, state.refusingUntilMs) };
  }
  if (!budget.exceeded) return { delayMs: 0, headers: headers(budget.remaining, budget.resetAtMs) };
  if ((rate.whenExceeded ?? "throttle") === "refuse") {
    return { refuseRetryAfterS: Math.max(1, Math.ceil((budget.resetAtMs - nowMs) / 1000)), delayMs: 0, headers: headers(0, budget.resetAtMs) };
  }
  return { delayMs: rate.throttleMs ?? 1_000, headers: headers(0, budget.resetAtMs) };
}

/** `x-ratelimit-reset` as Port's sources give it: epoch seconds (its API reference) or seconds from now (its newer page). */
export function resetHeader(state: PortEmulatorState, resetAtMs: number, nowMs: number): string {
  if (state.rateLimit.resetAs === "seconds") return String(Math.max(0, Math.ceil((resetAtMs - nowMs) / 1000)));
  return String(Math.ceil(resetAtMs / 1000));
}
