/**
 * One HTTP exchange with Port: build the request, bound it with a timeout, read the answer, and turn a
 * failure into a typed error. No retries here (see `client.ts`), so every path is easy to test.
 *
 * An answer is read up to a cap and the rest cancelled unread: whatever Port (or something in between)
 * sends back, one call holds at most `maxReplyBytes` of it.
 */
import { truncate } from "../shared/text.ts";
import { PortApiError, PortNetworkError, PortTimeoutError } from "./errors.ts";
import { serverDelayMs } from "../shared/retry.ts";
import { parseBody, readCapped, REMOTE_MESSAGE_MAX, untilAborted } from "../shared/http-answer.ts";

/** The most of an answer read by default (Port's answers to the calls portside makes are a few hundred bytes). */
export const PORT_REPLY_MAX_BYTES = 64 * 1024;
/**
 * The most of an answer that echoes what portside sent (a run with its inputs, a bulk write's entities)
 * read: Port takes request bodies of up to 1 MiB, so its echo fits in twice that. A polling claim reads this
 * much per run it asks for (polling.ts).
 */
export const PORT_ECHO_REPLY_MAX_BYTES = 2 * 1024 * 1024;

export type FetchFn = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface ExchangeRequest {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Path and query under the base URL, segments already encoded. */
  path: string;
  body?: unknown;
  /** Bearer token; absent only for the token endpoint. */
  token?: string | undefined;
  runId?: string | undefined;
  /** The most of the answer read (default `PORT_REPLY_MAX_BYTES`). */
  maxReplyBytes?: number;
  /** Headers of this call besides the ones every call has (e.g. Port's `x-port-reserved-usage`). */
  headers?: Record<string, string>;
}

export interface ExchangeResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the raw text when the body is not JSON (or was cut), or undefined when empty. */
  body: unknown;
  /** The answer was longer than the cap: `body` is its start, as text. */
  truncated: boolean;
}

export interface ExchangeDeps {
  fetch: FetchFn;
  baseUrl: string;
  timeoutMs: number;
}

/** Sends one request. Resolves with any HTTP answer; rejects only with `PortNetworkError`/`PortTimeoutError`. */
export async function exchange(deps: ExchangeDeps, req: ExchangeRequest): Promise<ExchangeResponse> {
  // A plain record: fetch takes it as it is, and one call costs no Headers object to build and copy.
  const headers: Record<string, string> = { ...req.headers, accept: "application/json", "user-agent": "portside" };
  if (req.body !== undefined) headers["content-type"] = "application/json";
  if (req.token !== undefined) headers.authorization = `Bearer ${req.token}`;
  const signal = AbortSignal.timeout(deps.timeoutMs);
  const send = async () => {
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const res = await deps.fetch(deps.baseUrl + req.path, { method: req.method, headers, body, signal });
    return { res, read: await readCapped(res, req.maxReplyBytes ?? PORT_REPLY_MAX_BYTES) };
  };
  try {
    // Raced against the signal as well, so an injected fetch that ignores `signal` still times out; the
    // answer's body is read under the same race, so a server that stalls mid-body times out too.
    const { res, read } = await untilAborted(send(), signal);
    return { status: res.status, headers: res.headers, body: read.truncated ? read.text : parseBody(read.text), truncated: read.truncated };
  } catch (err) {
    const ctx = { method: req.method, path: req.path, runId: req.runId };
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
    if (typeof body.error === "string") code = truncate(body.error, 100);
    if (typeof body.message === "string") portMessage = truncate(body.message, REMOTE_MESSAGE_MAX);
  } else if (typeof body === "string" && body.length > 0) {
    portMessage = truncate(body, REMOTE_MESSAGE_MAX);
  }
  if (res.truncated)
    portMessage = `${portMessage ?? ""} (the answer was longer than ${req.maxReplyBytes ?? PORT_REPLY_MAX_BYTES} bytes: the rest was not read)`.trimStart();
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

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
}
