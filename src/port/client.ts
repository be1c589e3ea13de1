/**
 * The Port REST API client portside reports through. `fetch`, time and sleep are dependencies, so tests
 * drive it against the emulator in process and assert on requested waits rather than wall time.
 *
 * Every call has a timeout; network errors, timeouts, 429 and 5xx are retried in process with jittered
 * backoff (honouring `Retry-After` / `x-ratelimit-reset` when the wait is short enough); other 4xx become
 * a `PortApiError` with Port's message. One cached token serves all calls; a 401 refreshes it once. With a
 * `tokenStore`, replicas share that token, so they fetch one per deployment.
 */
import type { EntityInput, RunPatch } from "./calls.ts";
import type { PortLogger } from "./deps.ts";
import type { Clock, Sleep } from "../shared/time.ts";
import { PortEvents, silentLogger } from "./deps.ts";
import { realSleep } from "../shared/time.ts";
import { isPortError, PortApiError } from "./errors.ts";
import type { PortError } from "./errors.ts";
import type { ExchangeRequest, FetchFn } from "./http.ts";
import { exchange, isRecord, toApiError } from "./http.ts";
import type { Random, RetryPolicy } from "../shared/retry.ts";
import { canRetry, defaultRetryPolicy, fitsInProcess, retryDelay } from "../shared/retry.ts";
import { createTokenCache } from "./token.ts";
import type { SharedTokenStore } from "./token.ts";

export type PortCallKind = "token" | "patchRun" | "postLog" | "upsertEntity" | "getRun";

/** Emitted once per HTTP request sent (retries included), for metrics and benchmarks. */
export interface PortCallEvent {
  kind: PortCallKind;
  method: string;
  path: string;
  runId: string | undefined;
  attempt: number;
  /** HTTP status, absent when no answer came. */
  status: number | undefined;
  durationMs: number;
  error: PortError | undefined;
}

export interface RunLog {
  message: string;
  terminationStatus?: "SUCCESS" | "FAILURE";
  statusLabel?: string;
}

/** A run as `GET /v1/actions/runs/{runId}` returns it (only the fields portside reads are typed). */
export interface PortRun {
  id: string;
  status: string;
  [key: string]: unknown;
}

export interface PortClient {
  patchRun(runId: string, patch: RunPatch): Promise<void>;
  postLog(runId: string, log: RunLog): Promise<void>;
  upsertEntity(blueprint: string, entity: EntityInput, opts?: { runId?: string | undefined }): Promise<void>;
  getRun(runId: string): Promise<PortRun>;
  /** HTTP requests sent so far, per kind (retries and token fetches included). */
  readonly calls: Readonly<Record<PortCallKind, number>>;
}

export interface PortClientOptions {
  /** e.g. `https://api.getport.io`, `https://api.port.io` (EU), `https://api.us.port.io` (US); chosen by config. */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  fetch: FetchFn;
  timeoutMs: number;
  retry?: RetryPolicy;
  clock?: Clock;
  sleep?: Sleep;
  random?: Random;
  logger?: PortLogger;
  onCall?: (event: PortCallEvent) => void;
  /** Token shared with the other replicas (e.g. Redis), so the deployment fetches one token, not one per replica. */
  tokenStore?: SharedTokenStore;
}

export const terminalRunStatuses: ReadonlySet<string> = new Set(["SUCCESS", "FAILURE"]);

export function createPortClient(opts: PortClientOptions): PortClient {
  const clock = opts.clock ?? Date.now;
  const sleep = opts.sleep ?? realSleep;
  const logger = opts.logger ?? silentLogger;
  const policy = opts.retry ?? defaultRetryPolicy;
  const deps = { fetch: opts.fetch, baseUrl: opts.baseUrl.replace(/\/+$/, ""), timeoutMs: opts.timeoutMs };
  const calls: Record<PortCallKind, number> = { token: 0, patchRun: 0, postLog: 0, upsertEntity: 0, getRun: 0 };

  const tokens = createTokenCache({
    clock,
    logger,
    ...(opts.tokenStore ? { shared: opts.tokenStore, sleep } : {}),
    fetchToken: async () => {
      const body = await request(
        "token",
        { method: "POST", path: "/v1/auth/access_token", body: { clientId: opts.clientId, clientSecret: opts.clientSecret } },
        false,
      );
      if (!isRecord(body) || typeof body.accessToken !== "string") {
        throw new Error("Port's token endpoint answered without an accessToken; check the base URL points at Port's API");
      }
      const expiresInS = typeof body.expiresIn === "number" ? body.expiresIn : 3 * 3600;
      return { accessToken: body.accessToken, expiresInS };
    },
  });

  async function request(kind: PortCallKind, req: ExchangeRequest, auth: boolean): Promise<unknown> {
    let attempt = 0;
    let reauthorised = false;
    for (;;) {
      attempt++;
      const token = auth ? await tokens.get() : undefined;
      const startedMs = clock();
      calls[kind]++;
      let error: PortError;
      let headers: Headers | undefined;
      try {
        const res = await exchange(deps, { ...req, token });
        if (res.status >= 200 && res.status < 300) {
          opts.onCall?.({
            kind,
            method: req.method,
            path: req.path,
            runId: req.runId,
            attempt,
            status: res.status,
            durationMs: clock() - startedMs,
            error: undefined,
          });
          return res.body;
        }
        headers = res.headers;
        error = toApiError(res, req, clock());
      } catch (err) {
        if (!isPortError(err)) throw err;
        error = err;
      }
      error.attempt = attempt;
      opts.onCall?.({
        kind,
        method: req.method,
        path: req.path,
        runId: req.runId,
        attempt,
        status: error instanceof PortApiError ? error.status : undefined,
        durationMs: clock() - startedMs,
        error,
      });

      // A token Port no longer honours (expired early, replaced by another replica): refresh once, retry at once.
      if (token !== undefined && error instanceof PortApiError && error.status === 401 && !reauthorised) {
        reauthorised = true;
        tokens.invalidate(token);
        attempt--;
        continue;
      }
      if (!error.retriable || !canRetry(policy, attempt)) throw fail(error);
      const { delayMs, source } = retryDelay(policy, attempt, { headers, nowMs: clock(), random: opts.random });
      if (!fitsInProcess(policy, delayMs)) throw fail(error);
      logger.warn(PortEvents.callRetry, {
        runId: req.runId,
        kind,
        attempt,
        delayMs,
        source,
        status: error instanceof PortApiError ? error.status : undefined,
        error: error.message,
      });
      await sleep(delayMs);
    }
  }

  function fail(error: PortError): PortError {
    logger.warn(PortEvents.callFailed, {
      runId: error.runId,
      method: error.method,
      path: error.path,
      attempt: error.attempt,
      retriable: error.retriable,
      error: error.message,
    });
    return error;
  }

  const enc = encodeURIComponent;

  return {
    calls,
    async patchRun(runId, patch) {
      await request("patchRun", { method: "PATCH", path: `/v1/actions/runs/${enc(runId)}`, body: patch, runId }, true);
    },
    async postLog(runId, log) {
      await request("postLog", { method: "POST", path: `/v1/actions/runs/${enc(runId)}/logs`, body: log, runId }, true);
    },
    async upsertEntity(blueprint, entity, upsertOpts) {
      const runId = upsertOpts?.runId;
      const query = `upsert=true&merge=true${runId === undefined ? "" : `&run_id=${enc(runId)}`}`;
      await request("upsertEntity", { method: "POST", path: `/v1/blueprints/${enc(blueprint)}/entities?${query}`, body: entity, runId }, true);
    },
    async getRun(runId) {
      const body = await request("getRun", { method: "GET", path: `/v1/actions/runs/${enc(runId)}`, runId }, true);
      const run = isRecord(body) && isRecord(body.run) ? body.run : body;
      if (!isRecord(run) || typeof run.status !== "string") {
        throw new Error(`Port's answer for run ${runId} has no status; check the base URL points at Port's API`);
      }
      return { ...run, id: typeof run.id === "string" ? run.id : runId, status: run.status };
    },
  };
}
