/**
 * Port's rate numbers as portside reads them from an answer's headers: the window of the organisation's
 * budget (`x-ratelimit-limit`, `-remaining`, `-reset`). The limiter (rate-limit.ts) paces and pauses by them.
 */

export interface Budget {
  limit: number;
  remaining: number;
  /** When the window resets, epoch ms. */
  resetAtMs: number;
}

/**
 * The window as an answer states it: `x-ratelimit-limit`, `-remaining` and `-reset` (epoch seconds when
 * above 1e9, else seconds from `nowMs`). Undefined when any is missing or not a number.
 */
export function readBudget(headers: Headers, nowMs: number): Budget | undefined {
  const number = (name: string) => {
    const raw = headers.get(name)?.trim();
    return raw && /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : undefined;
  };
  const limit = number("x-ratelimit-limit");
  const remaining = number("x-ratelimit-remaining");
  const reset = number("x-ratelimit-reset");
  if (limit === undefined || remaining === undefined || reset === undefined) return undefined;
  const resetAtMs = reset > 1e9 ? reset * 1000 : nowMs + reset * 1000;
  return { limit, remaining, resetAtMs };
}
