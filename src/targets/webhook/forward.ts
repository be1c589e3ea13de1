/**
 * One forwarded call, as Port's agent makes it (`requests.request(method, url, json=body, headers, params,
 * timeout=WEBHOOK_INVOKER_TIMEOUT, verify=WEBHOOK_VERIFY_SSL)`), plus what the agent lacks: an idempotency key
 * (the run id) and a bounded number of retries with jittered backoff on 5xx, connection errors and timeouts.
 * The answer is read up to a cap, as Port's own answers are (`readCapped` in src/port/http.ts).
 */
import type { FetchFn } from "../../port/http.ts";
import { parseBody, readCapped, untilAborted } from "../../shared/http-answer.ts";
import { type Random, type RetryPolicy, retryPolicies } from "../../shared/retry.ts";
import { canRetry, retryDelay } from "../../shared/retry.ts";
import { realSleep, type Sleep } from "../../shared/time.ts";
import type { ForwardRequest } from "./mapping-eval.ts";

/** The header that carries the run id, so a receiver can tell a retried call from a new run. */
export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";

/** Port's agent's `WEBHOOK_INVOKER_TIMEOUT` default, in seconds. */
export const DEFAULT_WEBHOOK_TIMEOUT_S = 30;

/** Three tries in all, 0.5 s then up to 1 s apart (full jitter), never more than 10 s. */

/** The most of an answer read (512 KiB, so the stored response fits in Port's 1 MiB request limit); the rest is cancelled unread. */
export const DEFAULT_ANSWER_MAX_BYTES = 512 * 1024;

export interface ForwardOptions {
  fetch: FetchFn;
  /** Per call, ms (default `DEFAULT_WEBHOOK_TIMEOUT_S` × 1000). */
  timeoutMs?: number;
  retry?: RetryPolicy;
  maxAnswerBytes?: number;
  sleep?: Sleep;
  random?: Random;
  clock?: () => number;
}

export interface ForwardAnswer {
  status: number;
  headers: Record<string, string>;
  /** The answer's text (its start when cut). */
  text: string;
  /** The answer parsed as JSON, or null when it is not JSON. */
  json: unknown;
  truncated: boolean;
}

export type ForwardOutcome =
  | { type: "answered"; answer: ForwardAnswer; attempts: number }
  /** No answer: every try failed to connect or timed out. `reason` names the error's kind, never the request. */
  | { type: "unreachable"; cause: "timeout" | "network"; reason: string; attempts: number };

/** The URL with the query parameters added (arrays repeated). */
function withQuery(url: string, query: ForwardRequest["query"]): string {
  const entries = Object.entries(query);
  if (entries.length === 0) return url;
  const target = new URL(url);
  for (const [name, value] of entries) for (const one of [value].flat()) target.searchParams.append(name, one);
  return target.toString();
}

/** Sends `request` for `runId`, retrying what a retry may cure; resolves with the last answer or why none came. */
export async function forward(request: ForwardRequest, runId: string, opts: ForwardOptions): Promise<ForwardOutcome> {
  const policy = opts.retry ?? retryPolicies.forward;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_S * 1000;
  const sleep = opts.sleep ?? realSleep;
  const clock = opts.clock ?? Date.now;
  const headers = new Headers(request.headers);
  headers.set(IDEMPOTENCY_KEY_HEADER, runId);
  if (request.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
  const url = withQuery(request.url, request.query);
  const body = request.body === undefined ? undefined : JSON.stringify(request.body);
  for (let attempt = 1; ; attempt++) {
    const signal = AbortSignal.timeout(timeoutMs);
    let outcome: ForwardOutcome;
    let answerHeaders: Headers | undefined;
    try {
      const res = await untilAborted(opts.fetch(url, { method: request.method, headers, body, signal }), signal);
      const { text, truncated } = await untilAborted(readCapped(res, opts.maxAnswerBytes ?? DEFAULT_ANSWER_MAX_BYTES), signal);
      const parsed = truncated ? undefined : parseBody(text);
      answerHeaders = res.headers;
      const answer: ForwardAnswer = {
        status: res.status,
        headers: Object.fromEntries(res.headers),
        text,
        json: parsed === undefined || typeof parsed === "string" ? null : parsed,
        truncated,
      };
      outcome = { type: "answered", answer, attempts: attempt };
      if (res.status < 500) return outcome;
    } catch (err) {
      const timedOut = signal.aborted || (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError"));
      // The runtime's message may quote the URL (which can hold a token): only the error's name and code are kept.
      const code = (err as { code?: unknown }).code;
      const reason = timedOut
        ? `no answer within ${timeoutMs} ms`
        : `connection failed (${typeof code === "string" ? code : err instanceof Error ? err.name : "error"})`;
      outcome = { type: "unreachable", cause: timedOut ? "timeout" : "network", reason, attempts: attempt };
    }
    if (!canRetry(policy, attempt)) return outcome;
    const { delayMs } = retryDelay(policy, attempt, { headers: answerHeaders, nowMs: clock(), random: opts.random, maxServerMs: policy.maxMs });
    await sleep(delayMs);
  }
}
