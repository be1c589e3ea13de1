/**
 * One HTTP exchange with Port: build the request, bound it with a timeout, read the answer, and turn a
 * failure into a typed error. No retries here (see `client.ts`), so every path is easy to test.
 */
import { PortApiError, PortNetworkError, PortTimeoutError } from "./errors.ts";
import { serverDelayMs } from "../shared/retry.ts";

export type FetchFn = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface ExchangeRequest {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Path and query under the base URL, segments already encoded. */
  path: string;
  body?: unknown;
  /** Bearer token; absent only for the token endpoint. */
  token?: string | undefined;
  runId?: string | undefined;
}

export interface ExchangeResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the raw text when the body is not JSON, or undefined when empty. */
  body: unknown;
}

export interface ExchangeDeps {
  fetch: FetchFn;
  baseUrl: string;
  timeoutMs: number;
}

/** Sends one request. Resolves with any HTTP answer; rejects only with `PortNetworkError`/`PortTimeoutError`. */
export async function exchange(deps: ExchangeDeps, req: ExchangeRequest): Promise<ExchangeResponse> {
  const headers = new Headers({ accept: "application/json", "user-agent": "portside" });
  if (req.body !== undefined) headers.set("content-type", "application/json");
  if (req.token !== undefined) headers.set("authorization", `Bearer ${req.token}`);
  const signal = AbortSignal.timeout(deps.timeoutMs);
  const ctx = { method: req.method, path: req.path, runId: req.runId };
  try {
    // Raced against the signal as well, so an injected fetch that ignores `signal` still times out.
    const res = await untilAborted(
      deps.fetch(deps.baseUrl + req.path, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal,
      }),
      signal,
    );
    // Reading the body is under the same signal: a server that stalls mid-body times out too.
    const text = await untilAborted(res.text(), signal);
    return { status: res.status, headers: res.headers, body: parseBody(text) };
  } catch (err) {
    if (signal.aborted || isTimeout(err)) throw new PortTimeoutError({ ...ctx, timeoutMs: deps.timeoutMs, cause: err });
    throw new PortNetworkError({ ...ctx, cause: err });
  }
}

/** Builds the typed error for a non-2xx answer, keeping Port's `error` code and `message`, and the wait it asked for (at most `maxWaitMs`). */
export function toApiError(res: ExchangeResponse, req: ExchangeRequest, nowMs: number, maxWaitMs: number): PortApiError {
  const body = res.body;
  let code: string | undefined;
  let portMessage: string | undefined;
  if (isRecord(body)) {
    if (typeof body.error === "string") code = body.error;
    if (typeof body.message === "string") portMessage = body.message;
  } else if (typeof body === "string" && body.length > 0) {
    portMessage = body.length > 500 ? `${body.slice(0, 500)}…` : body;
  }
  return new PortApiError({
    status: res.status,
    code,
    portMessage,
    method: req.method,
    path: req.path,
    runId: req.runId,
    retryAfterMs: serverDelayMs(res.headers, nowMs, maxWaitMs),
  });
}

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

function parseBody(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
}
