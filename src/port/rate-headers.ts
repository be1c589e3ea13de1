/**
 * Port's rate numbers as portside reads them from an answer's headers: the window of the organisation's
 * budget (`x-ratelimit-limit`, `-remaining`, `-reset`) and the waits it asks for (`Retry-After`, the reset).
 * The limiter (rate-limit.ts) paces and pauses by them.
 *
 * Every wait is taken up to a bound (`PORT_MAX_WAIT_MS`, default `defaultMaxPortWaitMs`): one answer asking
 * for years (a `Retry-After: 315360000`, a reset in 2100) once stalled reporting until a restart, and put
 * every pending report off to then in the ledger. The first larger ask is said, once, as a warning.
 */
import type { PortLogger } from "./deps.ts";
import { serverDelayMs } from "../shared/retry.ts";

/** The longest wait taken from Port's numbers when nothing else is configured: 5 minutes. */
export const defaultMaxPortWaitMs = 5 * 60_000;

export interface Budget {
  limit: number;
  remaining: number;
  /** When the window resets, epoch ms. */
  resetAtMs: number;
}

/** Port asked for a wait longer than portside takes (logged once per header). */
export const waitCappedEvent = "port.rate.wait_capped";

/**
 * The window as an answer states it: `x-ratelimit-limit`, `-remaining` and `-reset` (epoch seconds when
 * above 1e9, else seconds from `nowMs`), the reset no later than `maxWaitMs` from now. Undefined when any
 * is missing or not a number.
 */
export function readBudget(headers: Headers, nowMs: number, maxWaitMs: number): Budget | undefined {
  const limit = headerNumber(headers, "x-ratelimit-limit");
  const remaining = headerNumber(headers, "x-ratelimit-remaining");
  const resetAtMs = resetAt(headers, nowMs);
  if (limit === undefined || remaining === undefined || resetAtMs === undefined) return undefined;
  return { limit, remaining, resetAtMs: Math.min(resetAtMs, nowMs + maxWaitMs) };
}

/**
 * Warns the first time an answer asks for a longer wait than `maxWaitMs` (its `Retry-After`, or its reset
 * with nothing remaining; a second over is the headers' rounding), in one line and once only, so a Port that
 * keeps asking cannot flood the log. Only numbers are said, never a header's text.
 */
export function capWarning(logger: PortLogger, maxWaitMs: number): (headers: Headers, nowMs: number) => void {
  let warned = false;
  return (headers, nowMs) => {
    if (warned) return;
    const askedMs = serverDelayMs(headers, nowMs) ?? 0;
    if (askedMs <= maxWaitMs + 1_000) return;
    warned = true;
    logger.warn(waitCappedEvent, {
      askedS: Math.round(askedMs / 1000),
      takenS: Math.round(maxWaitMs / 1000),
      message: "Port asked for a longer wait (Retry-After or x-ratelimit-reset) than portside takes: waiting at most PORT_MAX_WAIT_MS; said once",
    });
  };
}

function headerNumber(headers: Headers, name: string): number | undefined {
  const raw = headers.get(name)?.trim();
  return raw && /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : undefined;
}

/** `x-ratelimit-reset` as epoch ms: epoch seconds when above 1e9, else seconds from `nowMs` (Port's sources disagree). */
function resetAt(headers: Headers, nowMs: number): number | undefined {
  const reset = headerNumber(headers, "x-ratelimit-reset");
  if (reset === undefined) return undefined;
  return reset > 1e9 ? reset * 1000 : nowMs + reset * 1000;
}
