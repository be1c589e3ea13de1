/**
 * The Port REST API client portside reports through. `fetch`, time and sleep are dependencies, so tests
 * drive it against the emulator in process and assert on requested waits rather than wall time.
 *
 * Every call has a timeout; network errors, timeouts, 429 and 5xx are retried in process with jittered
 * backoff (honouring `Retry-After` / `x-ratelimit-reset` when the wait is short enough); other 4xx become
 * a `PortApiError` with Port's message. One cached token serves all calls; a 401 refreshes it once. With a
 * `tokenStore`, replicas share that token, so they fetch one per deployment.
 */
import * as v from "valibot";
import type { EntityDeleteOptions, EntityInput, EntityPatch, EntityWriteOptions, RunLogLevel, RunPatch, RunResponse } from "./calls.ts";
import type { PortLogger } from "./deps.ts";
import type { Clock, Sleep } from "../shared/time.ts";
import { PortEvents } from "./deps.ts";
import { silentLogger } from "../log.ts";
import { realSleep } from "../shared/time.ts";
import { PORT_ENDPOINTS, type PortEndpoint } from "./endpoints.ts";
import { isPortError, isRateLimited, PortApiError, PortPausedError } from "./errors.ts";
import type { PortError } from "./errors.ts";
import type { ExchangeRequest, FetchFn } from "./http.ts";
import { exchange, isRecord, PORT_ECHO_REPLY_MAX_BYTES, toApiError } from "./http.ts";
import type { Random, RetryPolicy } from "../shared/retry.ts";
import { canRetry, fitsInProcess, retryDelay, retryPolicies } from "../shared/retry.ts";
import { type CallPriority, createPortRateLimiter, type PortRateLimiter, RateLimitWait } from "./rate-limit.ts";
import { type PollingClient, pollingMethods } from "./polling.ts";
import { type DefinitionsClient, definitionMethods } from "./definitions.ts";
import { isNodeRun } from "./run-kinds.ts";
import { createTokenCache, issuedToken } from "./token.ts";
import type { SharedTokenStore } from "./token.ts";
import { firstIssue } from "../messages/issues.ts";

/** A kind of HTTP call to Port (src/port/endpoints.ts). */

/** Emitted once per HTTP request sent (retries included), for metrics and benchmarks. */
export interface PortCallEvent {
  kind: PortEndpoint;
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
  /** Action runs only: ends the run with this status (a node run's status goes through `patchRun`). */
  terminationStatus?: "SUCCESS" | "FAILURE";
  /** Action runs only. */
  statusLabel?: string;
  /** Workflow node runs only (default INFO); action run logs have no level. */
  level?: RunLogLevel;
}

/**
 * A run as Port returns it: `GET /v1/actions/runs/{id}` or `GET /v1/workflows/nodes/runs/{id}` (only the
 * fields portside reads are typed). `terminated`: a terminal status (SUCCESS/FAILURE), or COMPLETED.
 */
export interface PortRun {
  id: string;
  status: string;
  terminated: boolean;
  [key: string]: unknown;
}

/**
 * Every run method goes to the endpoint of the run's kind (`run-kinds.ts`): `/v1/actions/runs/{id}` for
 * action runs, `/v1/workflows/nodes/runs/{id}` for workflow node runs.
 */
export interface PortClient extends PollingClient, DefinitionsClient {
  /**
   * A node run takes only the status (COMPLETED with SUCCESS / FAILED) and, with it, an `output`; without a
   * status there is nothing to send. An action run ignores `output`.
   */
  patchRun(runId: string, patch: RunPatch, opts?: { output?: Record<string, unknown> | undefined }): Promise<void>;
  /**
   * Stores a synchronized webhook's answer as the action run's `response` (`PATCH /v1/actions/runs/{id}/response`,
   * as Port's agent does). A workflow node run has no such endpoint (its answer goes in its status's `output`): refused.
   */
  putRunResponse(runId: string, response: RunResponse): Promise<void>;
  postLog(runId: string, log: RunLog): Promise<void>;
  /** Several lines in one call: joined into one message for an action run, separate leveled entries for a node run. */
  postLogs(runId: string, lines: readonly { message: string; level?: RunLogLevel }[]): Promise<void>;
  /**
   * Entity writes. `runId` links the entity to an action run. Port's entity endpoints take action run ids
   * only, so a workflow node run's entity is written without a link rather than with a `run_id` Port
   * would refuse.
   */
  upsertEntity(blueprint: string, entity: EntityInput, opts?: EntityCallOptions & EntityWriteOptions): Promise<void>;
  updateEntity(blueprint: string, identifier: string, patch: EntityPatch, opts?: EntityCallOptions & EntityWriteOptions): Promise<void>;
  deleteEntity(blueprint: string, identifier: string, opts?: EntityCallOptions & EntityDeleteOptions): Promise<void>;
  /**
   * At most 20 entities (`BULK_ENTITIES_MAX`). Port answers 200, or 207 when it took some and refused
   * others: the refusals are returned, not thrown, since the rest were written.
   */
  upsertEntities(blueprint: string, entities: EntityInput[], opts?: EntityCallOptions & EntityWriteOptions): Promise<BulkUpsertResult>;
  getRun(runId: string): Promise<PortRun>;
  /**
   * Makes sure portside holds an access token: the cached one, the replicas' shared one, or a new one from
   * Port's token endpoint. Rejects with the endpoint's error (a `PortApiError` 401 for credentials Port refuses),
   * which the caller reports: the client logs that refusal at debug level only.
   */
  authenticate(): Promise<void>;
  /**
   * The brokers and SASL credentials of the organisation's Kafka on Port's cluster, as Port's agent asks for
   * them (`GET /v1/kafka-credentials`; not in Port's public reference). The password is a secret: never logged.
   */
  kafkaCredentials(): Promise<KafkaCredentials>;
  /** HTTP requests sent so far, per kind (retries and token fetches included). */
  readonly calls: Readonly<Record<PortEndpoint, number>>;
}

export const KafkaCredentialsSchema = v.object({
  credentials: v.object({
    brokers: v.pipe(v.array(v.pipe(v.string(), v.regex(/^[^\s:/]+:\d{1,5}$/, "must be host:port"))), v.minLength(1, "must name a broker")),
    username: v.pipe(v.string(), v.nonEmpty("must not be empty")),
    password: v.pipe(v.string(), v.nonEmpty("must not be empty")),
  }),
});
export type KafkaCredentials = v.InferOutput<typeof KafkaCredentialsSchema>["credentials"];

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
  /** The process's one budget for Port (see rate-limit.ts); default: one for this client alone. */
  limiter?: PortRateLimiter;
}

export const terminalRunStatuses: ReadonlySet<string> = new Set(["SUCCESS", "FAILURE"]);

export interface EntityCallOptions {
  /** The run the write is linked to (`run_id`). */
  runId?: string | undefined;
}

/** One entity Port refused in a bulk write (its answer's `errors[]`). */
export interface BulkEntityError {
  identifier?: string | undefined;
  index: number;
  statusCode?: number | undefined;
  error?: string | undefined;
  message?: string | undefined;
}

export interface BulkUpsertResult {
  errors: BulkEntityError[];
}

/** What portside reads of a bulk answer: `{ok, entities: [...], errors: [{identifier, index, statusCode, error, message}]}`. */
const BulkAnswerSchema = v.looseObject({
  errors: v.optional(
    v.array(
      v.looseObject({
        identifier: v.optional(v.string()),
        index: v.number(),
        statusCode: v.optional(v.number()),
        error: v.optional(v.string()),
        message: v.optional(v.string()),
      }),
    ),
    [],
  ),
});

/** A query string of the parameters that are set (booleans as `true`/`false`), values encoded. */
function entityQuery(params: Record<string, string | boolean | undefined>): string {
  return Object.entries(params)
    .filter((entry): entry is [string, string | boolean] => entry[1] !== undefined)
    .map(([key, value]) => `${key}=${encodeURIComponent(String(value))}`)
    .join("&");
}

/** The `run_id` an entity call may carry: an action run's; a node run's is not one Port's entity endpoints take. */
const linkableRunId = (runId: string | undefined): string | undefined => (runId === undefined || isNodeRun(runId) ? undefined : runId);

/** The query of an entity upsert, one or many: merged into what Port has, linked to the run. */
const upsertQuery = (o: EntityWriteOptions & { runId?: string } = {}): string =>
  entityQuery({ upsert: true, merge: true, run_id: linkableRunId(o.runId), create_missing_related_entities: o.createMissingRelatedEntities });

export function createPortClient(opts: PortClientOptions): PortClient {
  const clock = opts.clock ?? Date.now;
  const sleep = opts.sleep ?? realSleep;
  const logger = opts.logger ?? silentLogger;
  const policy = opts.retry ?? retryPolicies.portCall;
  const deps = { fetch: opts.fetch, baseUrl: opts.baseUrl.replace(/\/+$/, ""), timeoutMs: opts.timeoutMs };
  const limiter = opts.limiter ?? createPortRateLimiter({ clock, sleep, logger });
  const calls = Object.fromEntries(PORT_ENDPOINTS.map((kind) => [kind, 0])) as Record<PortEndpoint, number>;
  /** `authenticate` calls under way: their caller says when Port refuses the credentials (the start's one line). */
  let checking = 0;

  const tokens = createTokenCache({
    clock,
    logger,
    ...(opts.tokenStore ? { shared: opts.tokenStore, sleep } : {}),
    fetchToken: async () => {
      const body = await request(
        "token",
        { method: "POST", path: "/v1/auth/access_token", body: { clientId: opts.clientId, clientSecret: opts.clientSecret } },
        false,
        "status", // every other call needs it
      );
      return issuedToken(body);
    },
  });

  /**
   * One call, with its retries. Every try first asks the limiter (one budget for every call of this process,
   * and through its store for every replica); `priority` lets terminal statuses go ahead when the budget is
   * short. A 429 pauses the limiter, so the next try waits there rather than in a sleep of its own.
   */
  async function request(kind: PortEndpoint, req: ExchangeRequest, auth: boolean, priority: CallPriority = "normal"): Promise<unknown> {
    let attempt = 0;
    let reauthorised = false;
    for (;;) {
      attempt++;
      const token = auth ? await tokens.get() : undefined;
      const permit = await limiter.acquire({ priority, maxWaitMs: policy.maxMs }).catch((err: unknown) => {
        if (!(err instanceof RateLimitWait)) throw err;
        throw held(new PortPausedError({ method: req.method, path: req.path, runId: req.runId, attempt, retryAfterMs: err.retryAfterMs }));
      });
      const startedMs = clock();
      calls[kind]++;
      const called = (status: number | undefined, failure: PortError | undefined) =>
        opts.onCall?.({ kind, method: req.method, path: req.path, runId: req.runId, attempt, status, durationMs: clock() - startedMs, error: failure });
      let error: PortError;
      let headers: Headers | undefined;
      try {
        const res = await exchange(deps, { ...req, token }).catch((err: unknown) => {
          permit.failed();
          throw err;
        });
        permit.answered(res.status, res.headers);
        if (res.status >= 200 && res.status < 300) {
          called(res.status, undefined);
          return res.body;
        }
        headers = res.headers;
        error = toApiError(res, req, clock(), limiter.maxPortWaitMs);
      } catch (err) {
        if (!isPortError(err)) throw err;
        error = err;
      }
      error.attempt = attempt;
      called(error instanceof PortApiError ? error.status : undefined, error);

      // A token Port no longer honours (expired early, replaced by another replica): refresh once, retry at once.
      if (token !== undefined && error instanceof PortApiError && error.status === 401 && !reauthorised) {
        reauthorised = true;
        tokens.invalidate(token);
        attempt--;
        continue;
      }
      if (!error.retriable || !canRetry(policy, attempt))
        throw fail(error, kind === "token" && checking > 0 && error instanceof PortApiError && error.isAuthProblem);
      const { delayMs, source } = retryDelay(policy, attempt, { headers, nowMs: clock(), random: opts.random, maxServerMs: limiter.maxPortWaitMs });
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
      // After a 429 the limiter holds every call, this one included, until the pause is over and a probe passed.
      if (!isRateLimited(error)) await sleep(delayMs);
    }
  }

  /** A call held back by the limiter's pause: said once by the limiter, so only at debug level here. */
  function held(error: PortPausedError): PortPausedError {
    logger.debug(PortEvents.callFailed, { runId: error.runId, method: error.method, path: error.path, retriable: true, error: error.message });
    return error;
  }

  /** Logs a call that failed for good; at debug level when `reported`: its caller says so itself. */
  function fail(error: PortError, reported = false): PortError {
    logger[reported ? "debug" : "warn"](PortEvents.callFailed, {
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
  const actionRun = (runId: string) => `/v1/actions/runs/${enc(runId)}`;
  const nodeRun = (runId: string) => `/v1/workflows/nodes/runs/${enc(runId)}`;
  const entities = (blueprint: string) => `/v1/blueprints/${enc(blueprint)}/entities`;

  async function postNodeLogs(runId: string, lines: readonly { message: string; level?: RunLogLevel }[]): Promise<void> {
    const logs = lines.map((line) => ({ level: line.level ?? "INFO", message: line.message }));
    await request("postNodeLog", { method: "POST", path: `${nodeRun(runId)}/logs`, body: { logs }, runId }, true);
  }

  return {
    calls,
    ...pollingMethods((kind, req) => request(kind, req, true)),
    ...definitionMethods((kind, req) => request(kind, req, true)),
    async patchRun(runId, patch, o) {
      if (!isNodeRun(runId)) {
        await request("patchRun", { method: "PATCH", path: actionRun(runId), body: patch, runId }, true, patch.status ? "status" : "normal");
        return;
      }
      // Summary, link and the rest were turned into log lines before this (`finalReports`); a node run holds none.
      if (patch.status === undefined) return;
      const body = { status: "COMPLETED", result: patch.status === "SUCCESS" ? "SUCCESS" : "FAILED", ...(o?.output ? { output: o.output } : {}) };
      await request("patchNodeRun", { method: "PATCH", path: nodeRun(runId), body, runId }, true, "status");
    },
    async putRunResponse(runId, response) {
      if (isNodeRun(runId)) throw new Error(`Workflow node run ${runId} has no response endpoint: its answer goes in the output of its status`);
      await request("putRunResponse", { method: "PATCH", path: `${actionRun(runId)}/response`, body: { response }, runId }, true);
    },
    async postLog(runId, log) {
      if (isNodeRun(runId)) return postNodeLogs(runId, [log]);
      const { level: _level, ...body } = log;
      await request("postLog", { method: "POST", path: `${actionRun(runId)}/logs`, body, runId }, true);
    },
    async postLogs(runId, lines) {
      if (isNodeRun(runId)) return postNodeLogs(runId, lines);
      const message = lines.map((line) => line.message).join("\n");
      await request("postLog", { method: "POST", path: `${actionRun(runId)}/logs`, body: { message }, runId }, true);
    },
    async upsertEntity(blueprint, entity, o) {
      const query = upsertQuery(o);
      await request("upsertEntity", { method: "POST", path: `${entities(blueprint)}?${query}`, body: entity, runId: o?.runId }, true);
    },
    async updateEntity(blueprint, identifier, patch, o) {
      const query = entityQuery({ run_id: linkableRunId(o?.runId), create_missing_related_entities: o?.createMissingRelatedEntities });
      await request(
        "updateEntity",
        { method: "PATCH", path: `${entities(blueprint)}/${enc(identifier)}${query ? `?${query}` : ""}`, body: patch, runId: o?.runId },
        true,
      );
    },
    async deleteEntity(blueprint, identifier, o) {
      const query = entityQuery({ run_id: linkableRunId(o?.runId), delete_dependents: o?.deleteDependents ?? false });
      await request("deleteEntity", { method: "DELETE", path: `${entities(blueprint)}/${enc(identifier)}?${query}`, runId: o?.runId }, true);
    },
    async upsertEntities(blueprint, list, o) {
      const query = upsertQuery(o);
      const body = await request(
        "upsertEntities",
        { method: "POST", path: `${entities(blueprint)}/bulk?${query}`, body: { entities: list }, runId: o?.runId, maxReplyBytes: PORT_ECHO_REPLY_MAX_BYTES },
        true,
      );
      const parsed = v.safeParse(BulkAnswerSchema, body ?? {});
      if (!parsed.success) throw new Error(`Port's answer to a bulk entity write has no readable errors list; check the base URL points at Port's API`);
      return { errors: parsed.output.errors };
    },
    async kafkaCredentials() {
      const body = await request("kafkaCredentials", { method: "GET", path: "/v1/kafka-credentials" }, true);
      const parsed = v.safeParse(KafkaCredentialsSchema, body);
      if (!parsed.success) {
        const { path, message } = firstIssue(parsed.issues);
        throw new Error(`Port's answer to GET /v1/kafka-credentials is not brokers and credentials (${path ?? "?"} ${message}); check PORT_API_URL`);
      }
      return parsed.output.credentials;
    },
    async authenticate() {
      checking++;
      try {
        await tokens.get();
      } finally {
        checking--;
      }
    },
    async getRun(runId) {
      const node = isNodeRun(runId);
      // Asked to settle a terminal status (the reporter's already-terminated check): as urgent as the status.
      const path = node ? nodeRun(runId) : actionRun(runId);
      const body = await request(node ? "getNodeRun" : "getRun", { method: "GET", path, runId, maxReplyBytes: PORT_ECHO_REPLY_MAX_BYTES }, true, "status");
      const nested = isRecord(body) ? (node ? (body.nodeRun ?? body.run) : body.run) : undefined;
      const run = isRecord(nested) ? nested : body;
      if (!isRecord(run) || typeof run.status !== "string") {
        throw new Error(`Port's answer for run ${runId} has no status; check the base URL points at Port's API`);
      }
      const terminated = node ? run.status === "COMPLETED" : terminalRunStatuses.has(run.status);
      return { ...run, id: typeof run.id === "string" ? run.id : runId, status: run.status, terminated };
    },
  };
}
