/**
 * Retry timing as pure functions over data, shared by the Port stack, EventBridge and the executor. Calls to
 * services with limits back off exponentially with full jitter, so a fleet of replicas does not retry in
 * lock-step, and wait exactly as long as the server asks when it says so (`Retry-After`,
 * `x-ratelimit-reset`). Randomness and the current time are parameters so tests are deterministic.
 */

export interface RetryPolicy {
  /** Upper bound of the first backoff (before jitter). */
  initialMs: number;
  /** Cap on any backoff; also the longest server-requested wait the client sleeps in process. */
  maxMs: number;
  /** Growth of the backoff bound per attempt. */
  factor: number;
  /** Total tries of one call in process, the first included (1 = no retry). */
  maxAttempts: number;
}

/** Every retry schedule portside keeps, by what it retries: one table, so they can be read side by side. */
export const retryPolicies = {
  /** One Port call in process: a few quick tries; a longer outage goes back to the outbox with a later due time. */
  portCall: { initialMs: 200, maxMs: 10_000, factor: 2, maxAttempts: 4 },
  /** The outbox between attempts at a report: Port may be down for minutes (the cap is also PORT_MAX_WAIT_MS's). */
  outbox: { initialMs: 1_000, maxMs: 5 * 60_000, factor: 2, maxAttempts: Infinity },
  /** The outbox on AWS Lambda, where an invocation waits for its reports: short waits. */
  lambdaOutbox: { initialMs: 250, maxMs: 10_000, factor: 2, maxAttempts: Infinity },
  /** A finished item written while the ledger is away: quick at first, then every few seconds. */
  ledgerWrite: { initialMs: 100, maxMs: 3_000, factor: 2, maxAttempts: Infinity },
  /** A Kafka batch the ledger could not take: its partitions pause and the batch is tried again. */
  kafkaBatch: { initialMs: 200, maxMs: 10_000, factor: 2, maxAttempts: Infinity },
  /** A new Kafka consumer after one that kafkajs will not restart. */
  kafkaConsumer: { initialMs: 1_000, maxMs: 30_000, factor: 2, maxAttempts: Infinity },
  /** A failed poll of Port's API for runs: Port's agent's schedule (1 s doubling to 5 min). */
  polling: { initialMs: 1_000, maxMs: 300_000, factor: 2, maxAttempts: Infinity },
  /** A forwarded webhook (execution-agent mode) answering 5xx, or not at all: three tries in all. */
  forward: { initialMs: 500, maxMs: 10_000, factor: 2, maxAttempts: 3 },
  /** EventBridge entries throttled or failed, sent again until the run's time limit. */
  eventBridge: { initialMs: 100, maxMs: 10_000, factor: 2, maxAttempts: Infinity },
  /** Near-zero waits so tests exercise every retry path without waiting. */
  test: { initialMs: 1, maxMs: 5, factor: 2, maxAttempts: 4 },
} as const satisfies Record<string, RetryPolicy>;

/** The tests' schedule (`retryPolicies.test`), by the name the tests import. */
export const testRetryPolicy: RetryPolicy = retryPolicies.test;

export type Random = () => number;

/**
 * Full-jitter backoff: a uniform draw from `[0, min(maxMs, initialMs * factor^(attempt-1)))`.
 * `attempt` is 1 for the wait after the first failure. Full jitter spreads retries of many clients best.
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random: Random = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const boundMs = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * boundMs);
}

/**
 * The wait the server asked for, if any, in ms from `nowMs`, and at most `maxMs`:
 * - `Retry-After` as delta seconds or an HTTP date;
 * - otherwise, when `x-ratelimit-remaining` is 0, the time until `x-ratelimit-reset` (epoch seconds; small
 *   values are read as seconds from now, the convention some gateways use).
 * Returns undefined when the headers say nothing usable.
 */
export function serverDelayMs(headers: Headers, nowMs: number, maxMs = Number.POSITIVE_INFINITY): number | undefined {
  const asked = askedDelayMs(headers, nowMs);
  return asked === undefined ? undefined : Math.min(asked, maxMs);
}

/** `Retry-After` alone, in ms from `nowMs` (delta seconds or an HTTP date); undefined when absent or unreadable. */
function retryAfterMs(headers: Headers, nowMs: number): number | undefined {
  const retryAfter = headers.get("retry-after")?.trim();
  if (!retryAfter) return undefined;
  if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.ceil(Number(retryAfter) * 1000);
  const dateMs = Date.parse(retryAfter);
  return Number.isNaN(dateMs) ? undefined : Math.max(0, dateMs - nowMs);
}

function askedDelayMs(headers: Headers, nowMs: number): number | undefined {
  const retryAfter = retryAfterMs(headers, nowMs);
  if (retryAfter !== undefined) return retryAfter;
  const remaining = headers.get("x-ratelimit-remaining")?.trim();
  const reset = headers.get("x-ratelimit-reset")?.trim();
  if (remaining !== undefined && Number(remaining) === 0 && reset && /^\d+(\.\d+)?$/.test(reset)) {
    const resetS = Number(reset);
    // Epoch seconds are > 1e9 for any date after 2001; anything smaller is a relative number of seconds.
    const resetMs = resetS > 1e9 ? resetS * 1000 - nowMs : resetS * 1000;
    return Math.max(0, Math.ceil(resetMs));
  }
  return undefined;
}

export interface RetryDelay {
  delayMs: number;
  /** Where the number came from, for logs and tests. */
  source: "backoff" | "server";
}

/**
 * The wait before the next try: the server's request when it made one (up to `maxServerMs`), else jittered
 * backoff. A server-requested wait is not shortened by the policy's cap — callers decide whether to sleep
 * that long in process or reschedule (see `fitsInProcess`).
 */
export function retryDelay(
  policy: RetryPolicy,
  attempt: number,
  opts: { headers?: Headers; nowMs: number; random?: Random; maxServerMs?: number },
): RetryDelay {
  const server = opts.headers ? serverDelayMs(opts.headers, opts.nowMs, opts.maxServerMs) : undefined;
  if (server !== undefined) return { delayMs: server, source: "server" };
  return { delayMs: backoffMs(policy, attempt, opts.random), source: "backoff" };
}

/** Whether another try is allowed after `attempt` tries. */
export const canRetry = (policy: RetryPolicy, attempt: number): boolean => attempt < policy.maxAttempts;

/**
 * Whether a wait is short enough to sleep through inside one call. Longer waits (a rate-limit window that
 * resets in minutes) are handed back to the outbox so no lease or request is held that long.
 */
export const fitsInProcess = (policy: RetryPolicy, delayMs: number): boolean => delayMs <= policy.maxMs;
