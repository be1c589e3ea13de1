/**
 * PORT EMULATOR — a stand-in for Port's REST API for tests and the local demo. It is not Port and says so
 * on every answer (`x-port-emulator: true`) and every log line. It implements exactly the endpoints
 * portside calls, with Port's rules: tokens expire (401) and a token request while one is active gets that
 * same token back, unknown body keys are refused (422), a run Port never issued is not found (404), a run
 * is terminated once and then frozen, entities link to a run only while it is IN_PROGRESS and must fit
 * their blueprint when tests declare one (port-emulator-entities.ts), bodies over 1 MiB are refused (413),
 * every answer carries the organisation's rate budget in `x-ratelimit-*` headers and calls over it are
 * throttled or refused (port-emulator-limits.ts). Tests can queue failures, 429s, 429 windows and latency,
 * and inspect every call.
 *
 * Workflow node runs (`wfnr_…`) have routes of their own (port-emulator-workflows.ts). Runs created by
 * triggering a declared action, the organisation's settings and stored run responses are in
 * port-emulator-actions.ts, the action definitions it serves in port-emulator-definitions.ts; the execution
 * agent's claim/ack polling in port-emulator-polling.ts.
 *
 * Routes under `/emulator/` are the emulator's own, not Port's: `POST /emulator/runs` declares runs (what
 * Port does when someone triggers an action), `GET /emulator/runs` lists them with their logs and linked
 * entities. They need no token, are not recorded as calls and take no faults.
 *
 * Built on Hono and Web standards only, so it runs on Bun and Deno alike.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { registerActionRoutes } from "./port-emulator-actions.ts";
import { registerDefinitionRoutes } from "./port-emulator-definitions.ts";
import { registerEntityRoutes } from "./port-emulator-entities.ts";
import { agentFields, registerPollingRoutes } from "./port-emulator-polling.ts";
import { inspectNodeRun, registerWorkflowRoutes } from "./port-emulator-workflows.ts";
import { decideLimit, resetHeader } from "./port-emulator-limits.ts";
import { type Env, isObject, refuse } from "./port-emulator-http.ts";
import { checkLog, checkPatch } from "./port-emulator-rules.ts";
import type { EmulatedRun, EmulatorEndpoint, Fault, PortEmulatorState } from "./port-emulator-state.ts";
import { createEmulatorState } from "./port-emulator-state.ts";

export type { PortEmulatorState } from "./port-emulator-state.ts";

export interface PortEmulatorOptions {
  clientId?: string;
  clientSecret?: string;
  /** Lifetime of issued tokens (Port: 3 hours). */
  tokenLifetimeS?: number;
  /**
   * Port keeps one active token per credential pair. Its API reference says a token request while one is
   * active returns that same token (the default here); older documentation said a new token replaced the
   * old one, revoking it. `replaceTokens: true` emulates that older rule, for tests of what it would do.
   */
  replaceTokens?: boolean;
  /**
   * Creates a run the first time a call names it, instead of answering 404 (default false). Only for
   * portside's open mode, where a person posts run messages of their own that Port never issued.
   */
  autoCreateRuns?: boolean;
  /** Entity writes to a blueprint nobody declared are 404 even when none is declared (default false). */
  strictBlueprints?: boolean;
  /** Emulator time, epoch ms; inject to test expiry without waiting. */
  clock?: () => number;
  /** Used for injected latency. */
  sleep?: (ms: number) => Promise<void>;
  /** Receives one line per call, prefixed `[port-emulator]`. Silent by default. */
  log?: (line: string) => void;
}

export interface PortEmulator {
  app: Hono<Env>;
  state: PortEmulatorState;
}

const MAX_BODY_BYTES = 1024 * 1024;
const encoder = new TextEncoder();

export function createPortEmulator(opts: PortEmulatorOptions = {}): PortEmulator {
  const clientId = opts.clientId ?? "emulator-client-id";
  const clientSecret = opts.clientSecret ?? "emulator-client-secret";
  const tokenLifetimeS = opts.tokenLifetimeS ?? 3 * 3600;
  const replaceTokens = opts.replaceTokens ?? false;
  const clock = opts.clock ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const log = opts.log ?? (() => {});
  const state = createEmulatorState(clock, { autoCreateRuns: opts.autoCreateRuns ?? false, strictBlueprints: opts.strictBlueprints ?? false });
  const app = new Hono<Env>();

  // The container's health check (the image's HEALTHCHECK asks /healthz): the emulator's own, never a Port call.
  app.get("/healthz", (c) => c.json({ ok: true, emulator: true }));

  app.use("*", async (c, next) => {
    const atMs = clock();
    const url = new URL(c.req.url);
    if (url.pathname.startsWith(EMULATOR_ROUTES)) {
      await next();
      c.res.headers.set("x-port-emulator", "true");
      return;
    }
    const { endpoint, runId } = classify(c.req.method, url.pathname, url.searchParams);
    const raw = await c.req.text();
    if (state.latencyMs > 0) await sleep(state.latencyMs);

    let body: unknown;
    let early: Response | undefined;
    if (encoder.encode(raw).byteLength > MAX_BODY_BYTES) {
      early = refuse(c, 413, "payload_too_large", "Request body is too large (limit is 1MiB)");
    } else if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        early = refuse(c, 400, "invalid_json", "The request body is not valid JSON");
      }
    }
    // Every call counts against the organisation's budget and is answered with its headers.
    const limit = decideLimit(state, atMs);
    if (!early && limit.refuseRetryAfterS !== undefined) {
      c.header("retry-after", String(limit.refuseRetryAfterS));
      early = refuse(c, 429, "rate_limit_exceeded", "Too many requests: the organisation's rate limit is exceeded (Port emulator)");
    }
    if (limit.delayMs > 0) await sleep(limit.delayMs);
    early ??= faultResponse(c, state.takeFault(endpoint));
    if (!early && endpoint !== "token" && endpoint !== "unknown") early = checkToken(c);

    c.set("body", body);
    c.set("runId", runId);
    if (early) c.res = early;
    else await next();

    c.res.headers.set("x-port-emulator", "true");
    // A queued 429 fault sets its own remaining/reset; every other answer carries the budget's.
    for (const [name, value] of Object.entries(limit.headers)) if (!c.res.headers.has(name)) c.res.headers.set(name, value);
    const recordedBody = endpoint === "token" && isObject(body) ? { ...body, clientSecret: "[redacted]" } : body;
    state.calls.push({
      endpoint,
      method: c.req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: recordedBody,
      status: c.res.status,
      runId,
      atMs,
    });
    log(`[port-emulator] ${c.req.method} ${url.pathname}${url.search} → ${c.res.status}`);
  });

  function faultResponse(c: Context<Env>, fault: Fault | undefined): Response | undefined {
    if (!fault) return undefined;
    if (fault.status === 429) {
      const retryAfterS = fault.retryAfterS ?? 1;
      c.header("retry-after", String(retryAfterS));
      c.header("x-ratelimit-remaining", "0");
      c.header("x-ratelimit-reset", resetHeader(state, clock() + retryAfterS * 1000, clock()));
      return refuse(c, 429, "rate_limit_exceeded", "Too many requests (injected by the Port emulator)");
    }
    return refuse(c, fault.status as ContentfulStatusCode, "emulated_failure", `Injected failure (${fault.status}) from the Port emulator`);
  }

  function checkToken(c: Context<Env>): Response | undefined {
    const header = c.req.header("authorization") ?? "";
    const token = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
    const expiresAtMs = state.tokens.get(token);
    if (expiresAtMs === undefined) return refuse(c, 401, "unauthorized", "Invalid or missing access token");
    if (clock() >= expiresAtMs) return refuse(c, 401, "unauthorized", "The access token has expired");
    return undefined;
  }

  app.post("/v1/auth/access_token", (c) => {
    const body = c.get("body");
    if (!isObject(body) || typeof body.clientId !== "string" || typeof body.clientSecret !== "string") {
      return refuse(c, 422, "invalid_request", "The json provided does not match the route's schema: clientId and clientSecret are required");
    }
    if (body.clientId !== clientId || body.clientSecret !== clientSecret) {
      return refuse(c, 401, "unauthorized", "Invalid clientId or clientSecret");
    }
    const nowMs = clock();
    if (!replaceTokens) {
      // Port's "active token reuse": the token still valid is answered again, with the lifetime it has left.
      const active = [...state.tokens].find(([, expiresAtMs]) => expiresAtMs > nowMs);
      if (active) return c.json({ ok: true, accessToken: active[0], expiresIn: Math.floor((active[1] - nowMs) / 1000), tokenType: "Bearer" });
    }
    state.tokens.clear();
    const accessToken = `emulator-token-${crypto.randomUUID()}`;
    state.tokens.set(accessToken, nowMs + tokenLifetimeS * 1000);
    return c.json({ ok: true, accessToken, expiresIn: tokenLifetimeS, tokenType: "Bearer" });
  });

  // Before the `/v1/actions/runs/:runId` routes: `/v1/actions/runs/ack` would match those too.
  registerPollingRoutes(app, { state, clock });
  registerActionRoutes(app, { state, clock, secret: clientSecret });
  registerDefinitionRoutes(app, { state });

  const runNotFound = (c: Context<Env>, runId: string) => refuse(c, 404, "not_found", `Action run with identifier "${runId}" was not found`);

  // The run as Port returns it, plus (an emulator addition, for inspection) its logs and linked entities.
  app.get("/v1/actions/runs/:runId", (c) => {
    const run = state.findRun(c.req.param("runId"));
    return run ? c.json({ ok: true, run: inspect(run) }) : runNotFound(c, c.req.param("runId"));
  });

  app.patch("/v1/actions/runs/:runId", (c) => {
    const run = state.findRun(c.req.param("runId"));
    if (!run) return runNotFound(c, c.req.param("runId"));
    const checked = checkPatch(c.get("body"));
    if (!checked.ok) return refuse(c, 422, "invalid_request", checked.message);
    if (run.status !== "IN_PROGRESS") return refuseEnded(c, run, "updated");
    const patch = checked.value;
    Object.assign(run, patch, { updatedAtMs: clock() });
    if (patch.status) run.endedAtMs = clock();
    return c.json({ ok: true, run: view(run) });
  });

  app.post("/v1/actions/runs/:runId/logs", (c) => {
    const run = state.findRun(c.req.param("runId"));
    if (!run) return runNotFound(c, c.req.param("runId"));
    const checked = checkLog(c.get("body"));
    if (!checked.ok) return refuse(c, 422, "invalid_request", checked.message);
    if (run.status !== "IN_PROGRESS") return refuseEnded(c, run, "given more logs");
    const { message, terminationStatus, statusLabel } = checked.value;
    const nowMs = clock();
    run.logs.push({ message, atMs: nowMs, ...(terminationStatus ? { terminationStatus } : {}), ...(statusLabel !== undefined ? { statusLabel } : {}) });
    run.updatedAtMs = nowMs;
    if (statusLabel !== undefined) run.statusLabel = statusLabel;
    if (terminationStatus) Object.assign(run, { status: terminationStatus, endedAtMs: nowMs });
    return c.json({ ok: true }, 201);
  });

  app.get("/v1/kafka-credentials", (c) => {
    const credentials = state.kafkaCredentials;
    return credentials
      ? c.json({ ok: true, credentials })
      : refuse(c, 404, "not_found", "This organisation has no Kafka credentials (set state.kafkaCredentials in the emulator)");
  });

  registerEntityRoutes(app, { state, clock });
  registerWorkflowRoutes(app, { state, clock });

  // ---- the emulator's own routes (not Port's) ----------------------------------------------------------

  /** Declares runs, as Port does when someone triggers an action: `{"id": "r_…"}` or `{"ids": ["r_…", …]}`. */
  app.post(`${EMULATOR_ROUTES}runs`, async (c) => {
    const ids = runIdsIn(await c.req.json().catch(() => undefined));
    if (!ids) return refuse(c, 422, "invalid_request", 'Send {"id": "<run id>"} or {"ids": ["<run id>", …]} (non-empty strings of at most 200 characters)');
    for (const id of ids) state.declareRun(id);
    return c.json({ ok: true, declared: ids.length }, 201);
  });

  /** Every run, newest first, with its logs and linked entities (`?limit=`, default 100); workflow node runs apart. */
  app.get(`${EMULATOR_ROUTES}runs`, (c) => {
    const limit = Math.max(1, Math.min(10_000, Number(c.req.query("limit") ?? 100) || 100));
    const newestFirst = <T extends { createdAtMs: number }>(runs: Iterable<T>) => [...runs].sort((a, b) => b.createdAtMs - a.createdAtMs).slice(0, limit);
    return c.json({
      ok: true,
      total: state.runs.size,
      runs: newestFirst(state.runs.values()).map(inspect),
      nodeRuns: newestFirst(state.nodeRuns.values()).map(inspectNodeRun),
    });
  });

  app.notFound((c) => refuse(c, 404, "not_found", `The Port emulator does not implement ${c.req.method} ${c.req.path}`));

  return { app, state };
}

/** Port answers 422 when a terminated run is touched again; the exact error code is the emulator's choice. */
function refuseEnded(c: Context<Env>, run: EmulatedRun, verb: string): Response {
  return c.json({ ok: false, error: "run_already_ended", message: `Action run ${run.id} already ended with status ${run.status} and cannot be ${verb}` }, 422);
}

/** The emulator's own routes live under this prefix, apart from Port's `/v1`. */
const EMULATOR_ROUTES = "/emulator/";

function runIdsIn(body: unknown): string[] | undefined {
  const ids = isObject(body) ? (body.ids ?? (body.id === undefined ? undefined : [body.id])) : undefined;
  if (!Array.isArray(ids) || ids.length === 0) return undefined;
  const valid = ids.every((id) => typeof id === "string" && id.length > 0 && id.length <= 200);
  return valid ? (ids as string[]) : undefined;
}

function inspect(run: EmulatedRun) {
  return {
    ...view(run),
    logs: run.logs.map(({ atMs, ...log }) => ({ ...log, createdAt: new Date(atMs).toISOString() })),
    linkedEntities: run.linkedEntities,
  };
}

function view(run: EmulatedRun) {
  const { logs: _logs, linkedEntities: _linked, createdAtMs, updatedAtMs, endedAtMs, agentClaim, ...rest } = run;
  return {
    ...rest,
    ...agentFields(agentClaim),
    createdAt: new Date(createdAtMs).toISOString(),
    updatedAt: new Date(updatedAtMs).toISOString(),
    endedAt: endedAtMs === undefined ? null : new Date(endedAtMs).toISOString(),
  };
}

const RUN_PATH = /^\/v1\/actions\/runs\/([^/]+)$/;
const RESPONSE_PATH = /^\/v1\/actions\/runs\/([^/]+)\/response$/;
const EXECUTE_PATH = /^\/v1\/actions\/[^/]+\/runs$/;
const ACTION_PATH = /^\/v1\/actions\/[^/]+$/;
/** Port's fixed paths, by method and path. */
const FIXED: Record<string, EmulatorEndpoint> = {
  "POST /v1/auth/access_token": "token",
  "GET /v1/kafka-credentials": "kafkaCredentials",
  "POST /v1/actions/runs/claim-pending": "claimRuns",
  "PATCH /v1/actions/runs/ack": "ackRuns",
  "POST /v1/workflows/runs/claim-pending": "claimNodeRuns",
  "PATCH /v1/workflows/runs/ack": "ackNodeRun",
  "PATCH /v1/organization": "patchOrganization",
  "GET /v1/actions": "listActions",
};
const LOGS_PATH = /^\/v1\/actions\/runs\/([^/]+)\/logs$/;
const NODE_RUN_PATH = /^\/v1\/workflows\/nodes\/runs\/([^/]+)$/;
const NODE_LOGS_PATH = /^\/v1\/workflows\/nodes\/runs\/([^/]+)\/logs$/;
const ENTITIES_PATH = /^\/v1\/blueprints\/[^/]+\/entities$/;
const BULK_PATH = /^\/v1\/blueprints\/[^/]+\/entities\/bulk$/;
const ENTITY_PATH = /^\/v1\/blueprints\/[^/]+\/entities\/[^/]+$/;

function classify(method: string, path: string, query: URLSearchParams): { endpoint: EmulatorEndpoint | "unknown"; runId: string | undefined } {
  const decode = (segment: string | undefined) => (segment === undefined ? undefined : safeDecode(segment));
  const fixed = FIXED[`${method} ${path}`];
  if (fixed) return { endpoint: fixed, runId: undefined };
  const response = RESPONSE_PATH.exec(path);
  if (response && method === "PATCH") return { endpoint: "putRunResponse", runId: decode(response[1]) };
  if (EXECUTE_PATH.test(path) && method === "POST") return { endpoint: "executeAction", runId: undefined };
  if (ACTION_PATH.test(path) && method === "GET") return { endpoint: "getAction", runId: undefined };
  const run = RUN_PATH.exec(path);
  if (run && method === "PATCH") return { endpoint: "patchRun", runId: decode(run[1]) };
  if (run && method === "GET") return { endpoint: "getRun", runId: decode(run[1]) };
  const logs = LOGS_PATH.exec(path);
  if (logs && method === "POST") return { endpoint: "postLog", runId: decode(logs[1]) };
  const linked = query.get("run_id") ?? undefined;
  if (ENTITIES_PATH.test(path) && method === "POST") return { endpoint: "upsertEntity", runId: linked };
  if (BULK_PATH.test(path) && method === "POST") return { endpoint: "upsertEntities", runId: linked };
  if (ENTITY_PATH.test(path) && method === "PATCH") return { endpoint: "updateEntity", runId: linked };
  if (ENTITY_PATH.test(path) && method === "DELETE") return { endpoint: "deleteEntity", runId: linked };
  const nodeRun = NODE_RUN_PATH.exec(path);
  if (nodeRun && method === "PATCH") return { endpoint: "patchNodeRun", runId: decode(nodeRun[1]) };
  if (nodeRun && method === "GET") return { endpoint: "getNodeRun", runId: decode(nodeRun[1]) };
  const nodeLogs = NODE_LOGS_PATH.exec(path);
  if (nodeLogs && method === "POST") return { endpoint: "postNodeLog", runId: decode(nodeLogs[1]) };
  return { endpoint: "unknown", runId: undefined };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
