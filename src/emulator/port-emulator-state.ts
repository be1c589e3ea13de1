/**
 * State of the Port emulator (tests and the local demo only — this is not Port): action runs, workflow
 * node runs, logs, entities, declared blueprints, issued tokens, the rate budget, the record of every
 * call, and the faults queued by tests. Kept apart from the HTTP routes so tests can inspect and steer it
 * directly. Web standards only (runs on Bun and Deno).
 *
 * Runs exist only once declared (`declareRun`), as in Port, where a run exists before anything hears of
 * it: a report for an id Port never issued is a 404 there, and so it is here. `autoCreateRuns` brings back
 * the lenient behaviour for portside's own open mode, where a person posts messages they wrote themselves.
 */

import { PORT_ENDPOINTS, type PortEndpoint } from "../port/endpoints.ts";

/**
 * The endpoints the emulator answers, named as portside's client names its calls (src/port/endpoints.ts),
 * plus Port's endpoints portside never calls but tests do (`executeAction`: someone triggers an action).
 */
export const EMULATOR_ENDPOINTS = [...PORT_ENDPOINTS, "executeAction", "getAction"] as const;
export type EmulatorEndpoint = PortEndpoint | "executeAction" | "getAction";

/** Workflow node run ids start with this; any other id is an action run's (`r_…`, older `run_…`). */
export const NODE_RUN_PREFIX = "wfnr_";
export const isNodeRunId = (id: string): boolean => id.startsWith(NODE_RUN_PREFIX);

export type EmulatedRunStatus = "IN_PROGRESS" | "SUCCESS" | "FAILURE";

export interface RecordedCall {
  endpoint: EmulatorEndpoint | "unknown";
  method: string;
  /** Path without the query. */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body (undefined when empty). The token endpoint's secret is redacted. */
  body: unknown;
  status: number;
  runId: string | undefined;
  /** Emulator clock when the call arrived, epoch ms. */
  atMs: number;
}

export interface EmulatedLog {
  message: string;
  terminationStatus?: "SUCCESS" | "FAILURE";
  statusLabel?: string;
  atMs: number;
}

/**
 * Where a run waiting for an execution agent stands (action runs whose invocation has `agent: true`, and
 * queued node runs): claimed by whom and until when, and whether an agent acknowledged it.
 */
export interface AgentClaim {
  installationId: string | null;
  /** Hidden from other claimers until then (epoch ms); offered again after it, unless acknowledged. */
  claimedUntilMs: number | null;
  /** Acknowledged: never offered again. */
  acked: boolean;
  /** A test had it offered again although it is acknowledged, or ended (as after an agent's crash between its record and its ack). */
  offeredAgain?: boolean;
}

/** The invocation a run was created with, its body rendered (a polled run's `payload`). */
export interface RunPayload {
  type: string;
  url?: string;
  agent?: boolean;
  synchronized?: boolean;
  method?: string;
  headers?: Record<string, unknown>;
  body?: unknown;
}

export interface EmulatedRun {
  id: string;
  status: EmulatedRunStatus;
  /** Runs created by triggering a declared action (`POST /v1/actions/{id}/runs`) carry these. */
  action?: { identifier: string; title?: string; blueprint?: string };
  properties?: Record<string, unknown>;
  entity?: { identifier: string } | null;
  payload?: RunPayload;
  /** Present while (and after) the run waits for an execution agent. */
  agentClaim?: AgentClaim;
  /** A synchronized webhook's answer, as stored by `PATCH /v1/actions/runs/{id}/response` or taken from the call. */
  response?: unknown;
  /** Each time the emulator sent the run's webhook (port-emulator-webhooks.ts): the answer's status, or why none came. */
  webhookAttempts?: { atMs: number; status: number | null; error?: string }[];
  statusLabel?: string;
  link?: string | string[];
  summary?: string;
  externalRunId?: string;
  logs: EmulatedLog[];
  /** Entities written with this run's `run_id`, in order; `operation` says when it was not a create/upsert. */
  linkedEntities: { blueprint: string; identifier: string; operation?: "UPDATE" | "DELETE" }[];
  createdAtMs: number;
  updatedAtMs: number;
  endedAtMs?: number;
}

export type NodeRunLogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR";
export type NodeRunResult = "SUCCESS" | "FAILED" | "CANCELLED";

/** A workflow node run: IN_PROGRESS until a PATCH sets COMPLETED with its result, then frozen. */
export interface EmulatedNodeRun {
  id: string;
  status: "IN_PROGRESS" | "COMPLETED";
  /** The node's invocation (`type`, `url`, `method`, `agent`, `synchronized`, `body`…) when queued for an agent. */
  config?: Record<string, unknown>;
  agentClaim?: AgentClaim;
  result?: NodeRunResult;
  output?: Record<string, unknown>;
  logs: { level: NodeRunLogLevel; message: string; atMs: number }[];
  createdAtMs: number;
  updatedAtMs: number;
  endedAtMs?: number;
}

export interface StoredEntity {
  blueprint: string;
  identifier: string;
  title?: string | null;
  icon?: string | null;
  team?: string | string[];
  properties: Record<string, unknown>;
  relations: Record<string, unknown>;
}

export type PropertyType = "string" | "number" | "boolean" | "object" | "array";

/** The part of a Port blueprint the emulator checks entity writes against. */
export interface DeclaredBlueprint {
  identifier: string;
  properties?: Record<string, { type: PropertyType }>;
  relations?: Record<string, { target: string; many?: boolean }>;
}

/**
 * The organisation's rate budget: `limit` calls per `periodS`, counted in fixed windows and reported on
 * every answer in `x-ratelimit-*` headers. Over it, `whenExceeded` says what happens: `throttle` (default,
 * as Port's current documentation describes it) delays each answer by `throttleMs`; `refuse` answers 429.
 * Port's sources disagree on `x-ratelimit-reset` (epoch seconds, or seconds from now): `resetAs` picks.
 */
export interface RateBudget {
  limit: number;
  periodS: number;
  whenExceeded?: "throttle" | "refuse";
  throttleMs?: number;
  resetAs?: "epoch" | "seconds";
}

/** Port's last published figure (15,000 requests per 5 minutes, removed from its docs since); tests set their own. */
export const DEFAULT_RATE_BUDGET: RateBudget = { limit: 15_000, periodS: 300, whenExceeded: "throttle", throttleMs: 1_000, resetAs: "epoch" };

/** How long a claim lasts unless a test sets `claimLeaseMs`. */
export const DEFAULT_CLAIM_LEASE_MS = 60_000;

/** A canned answer for the next matching calls. */
export interface Fault {
  remaining: number;
  status: number;
  /** Sent as `Retry-After` (seconds) when set. */
  retryAfterS?: number;
  /** Only calls to this endpoint consume the fault; all endpoints when absent. */
  endpoint?: EmulatorEndpoint;
}

export interface PortEmulatorState {
  /**
   * What `GET /v1/kafka-credentials` answers (Port's agent asks it for the organisation's Kafka); null,
   * the default, answers 404 as for an organisation without Kafka access.
   */
  kafkaCredentials: { brokers: string[]; username: string; password: string } | null;
  readonly calls: RecordedCall[];
  /** Action runs, by id. */
  readonly runs: Map<string, EmulatedRun>;
  /** Workflow node runs (`wfnr_…`), by id. */
  readonly nodeRuns: Map<string, EmulatedNodeRun>;
  /** Keyed `blueprint/identifier`. */
  readonly entities: Map<string, StoredEntity>;
  readonly blueprints: Map<string, DeclaredBlueprint>;
  /** Issued tokens and their expiry (epoch ms). */
  readonly tokens: Map<string, number>;
  readonly faults: Fault[];
  /** Added before every answer; 0 by default. */
  latencyMs: number;
  /** Runs nobody declared are created on first use (portside's open mode only). */
  autoCreateRuns: boolean;
  /** Writes to an undeclared blueprint are 404 even before any blueprint is declared. */
  strictBlueprints: boolean;
  /** The budget reported in `x-ratelimit-*` headers and enforced as its `whenExceeded` says (assign to change it). */
  rateLimit: RateBudget;
  /** Every call until this time (epoch ms) is answered 429 (see `refuseFor`); 0 when not refusing. */
  refusingUntilMs: number;
  /** How long a claim hides a run from other claimers (Port's value is not published; default 60 s). */
  claimLeaseMs: number;
  /** Items the next run claim answers besides the runs, once (a test's stand-in for something Port sent that is no run). */
  readonly strayClaims: unknown[];
  /** Action definitions, by identifier (see port-emulator-actions.ts). */
  readonly actions: Map<string, EmulatedAction>;
  /** What `PATCH /v1/organization` set (Port's agent sets `settings.portAgentStreamerName`). */
  readonly organization: { settings: Record<string, unknown> };

  /** The next `count` calls (to `endpoint`, or any) answer `status` (default 503). */
  failNext(count: number, status?: number, opts?: { endpoint?: EmulatorEndpoint }): void;
  /** The next `count` calls answer 429 with `Retry-After: retryAfterS` and `x-ratelimit-remaining: 0`. */
  rateLimitNext(count: number, retryAfterS?: number, opts?: { endpoint?: EmulatorEndpoint }): void;
  /**
   * Every call for the next `ms` answers 429 — a rate-limit window — with `Retry-After: retryAfterS`, or by
   * default the seconds left in the window, and `x-ratelimit-remaining: 0`.
   */
  refuseFor(ms: number, opts?: { retryAfterS?: number }): void;
  /** The Retry-After (seconds) a call refused by `refuseFor` is told now. */
  refusalRetryAfterS(): number;
  /** Forgets every issued token, so the next API call gets a 401 (as after a token was replaced). */
  revokeTokens(): void;

  /**
   * Makes a run exist, IN_PROGRESS, as Port does when someone triggers an action or a workflow reaches a
   * node: a `wfnr_` id is a workflow node run, any other an action run. Idempotent; returns the run.
   */
  declareRun(runId: string): EmulatedRun | EmulatedNodeRun;
  /** The action run if it exists (or `autoCreateRuns` creates it); undefined means 404. */
  findRun(runId: string): EmulatedRun | undefined;
  /** The workflow node run if it exists (or `autoCreateRuns` creates it); undefined means 404. */
  findNodeRun(runId: string): EmulatedNodeRun | undefined;
  /** Declares a blueprint (replacing one of the same identifier): from then on writes to others are 404, and these are checked. */
  declareBlueprint(blueprint: DeclaredBlueprint): void;
  /**
   * Where entity writes to `identifier` stand: its declaration; `null` when unchecked (no blueprint declared,
   * not strict: the lenient default for tests that declare none); undefined when Port would answer 404.
   */
  blueprintFor(identifier: string): DeclaredBlueprint | null | undefined;

  callsFor(runId: string): RecordedCall[];
  /** SUCCESS / FAILURE once an action run terminated; undefined while in progress or unknown. */
  terminalStatus(runId: string): "SUCCESS" | "FAILURE" | undefined;
  /** Whether the run (action or node) has ended: a terminal status, or COMPLETED. */
  ended(runId: string): boolean;
  /** Log messages of an action or node run, in order. */
  logsFor(runId: string): string[];
  entity(blueprint: string, identifier: string): StoredEntity | undefined;
  /** Calls answered, per endpoint (failed and faulted ones included). */
  counts(): Record<EmulatorEndpoint | "unknown", number>;
  count(endpoint: EmulatorEndpoint): number;
  /** Takes one unit of the first fault matching `endpoint`, if any. */
  takeFault(endpoint: EmulatorEndpoint | "unknown"): Fault | undefined;
  /** Counts one call against the budget's current window; says what is left and when the window resets. */
  spendBudget(): { used: number; remaining: number; resetAtMs: number; exceeded: boolean };
}

/**
 * An action the tests or the demo declare (Port's action definition, the part the emulator uses): how its
 * runs are invoked. `invocationMethod.body`, when given, is the template rendered with the run's inputs.
 */
export interface EmulatedAction {
  identifier: string;
  title?: string;
  blueprint?: string;
  invocationMethod: RunPayload;
  /**
   * Port's definition of it, as `GET /v1/actions` serves it (its trigger, user inputs, invocation as declared);
   * absent for an action declared without a `trigger`, which is triggered like any other but not listed.
   */
  definition?: Record<string, unknown>;
}

export function createEmulatorState(clock: () => number, opts: { autoCreateRuns?: boolean; strictBlueprints?: boolean } = {}): PortEmulatorState {
  const calls: RecordedCall[] = [];
  const runs = new Map<string, EmulatedRun>();
  const nodeRuns = new Map<string, EmulatedNodeRun>();
  const entities = new Map<string, StoredEntity>();
  const blueprints = new Map<string, DeclaredBlueprint>();
  const tokens = new Map<string, number>();
  const faults: Fault[] = [];
  let budgetWindow = { startMs: -1, used: 0 };
  let refusalRetryAfter: number | undefined;

  const newRun = (id: string): EmulatedRun => {
    const nowMs = clock();
    const run: EmulatedRun = { id, status: "IN_PROGRESS", logs: [], linkedEntities: [], createdAtMs: nowMs, updatedAtMs: nowMs };
    runs.set(id, run);
    return run;
  };
  const newNodeRun = (id: string): EmulatedNodeRun => {
    const nowMs = clock();
    const run: EmulatedNodeRun = { id, status: "IN_PROGRESS", logs: [], createdAtMs: nowMs, updatedAtMs: nowMs };
    nodeRuns.set(id, run);
    return run;
  };

  const state: PortEmulatorState = {
    calls,
    runs,
    nodeRuns,
    entities,
    blueprints,
    tokens,
    faults,
    latencyMs: 0,
    autoCreateRuns: opts.autoCreateRuns ?? false,
    strictBlueprints: opts.strictBlueprints ?? false,
    kafkaCredentials: null,
    rateLimit: { ...DEFAULT_RATE_BUDGET },
    refusingUntilMs: 0,
    claimLeaseMs: DEFAULT_CLAIM_LEASE_MS,
    strayClaims: [],
    actions: new Map(),
    organization: { settings: {} },
    failNext(count, status = 503, opts) {
      faults.push({ remaining: count, status, ...(opts?.endpoint ? { endpoint: opts.endpoint } : {}) });
    },
    rateLimitNext(count, retryAfterS = 1, opts) {
      faults.push({ remaining: count, status: 429, retryAfterS, ...(opts?.endpoint ? { endpoint: opts.endpoint } : {}) });
    },
    refuseFor(ms, refuseOpts) {
      state.refusingUntilMs = clock() + ms;
      refusalRetryAfter = refuseOpts?.retryAfterS;
    },
    refusalRetryAfterS: () => refusalRetryAfter ?? Math.max(1, Math.ceil((state.refusingUntilMs - clock()) / 1000)),
    revokeTokens() {
      tokens.clear();
    },
    declareRun: (runId) => (isNodeRunId(runId) ? (nodeRuns.get(runId) ?? newNodeRun(runId)) : (runs.get(runId) ?? newRun(runId))),
    findRun(runId) {
      if (isNodeRunId(runId)) return undefined;
      return runs.get(runId) ?? (state.autoCreateRuns ? newRun(runId) : undefined);
    },
    findNodeRun(runId) {
      if (!isNodeRunId(runId)) return undefined;
      return nodeRuns.get(runId) ?? (state.autoCreateRuns ? newNodeRun(runId) : undefined);
    },
    declareBlueprint(blueprint) {
      blueprints.set(blueprint.identifier, structuredClone(blueprint));
    },
    blueprintFor(identifier) {
      const declared = blueprints.get(identifier);
      if (declared) return declared;
      return blueprints.size === 0 && !state.strictBlueprints ? null : undefined;
    },
    callsFor: (runId) => calls.filter((call) => call.runId === runId),
    terminalStatus(runId) {
      const status = runs.get(runId)?.status;
      return status === "SUCCESS" || status === "FAILURE" ? status : undefined;
    },
    ended: (runId) => state.terminalStatus(runId) !== undefined || nodeRuns.get(runId)?.status === "COMPLETED",
    logsFor: (runId) => (runs.get(runId) ?? nodeRuns.get(runId))?.logs.map((log) => log.message) ?? [],
    entity: (blueprint, identifier) => entities.get(`${blueprint}/${identifier}`),
    counts() {
      const result = Object.fromEntries([...EMULATOR_ENDPOINTS, "unknown"].map((endpoint) => [endpoint, 0])) as Record<EmulatorEndpoint | "unknown", number>;
      for (const call of calls) result[call.endpoint]++;
      return result;
    },
    count: (endpoint) => calls.filter((call) => call.endpoint === endpoint).length,
    takeFault(endpoint) {
      const index = faults.findIndex((fault) => fault.remaining > 0 && (fault.endpoint === undefined || fault.endpoint === endpoint));
      const fault = faults[index];
      if (!fault) return undefined;
      fault.remaining--;
      if (fault.remaining === 0) faults.splice(index, 1);
      return fault;
    },
    spendBudget() {
      const periodMs = Math.max(1, state.rateLimit.periodS * 1000);
      const startMs = Math.floor(clock() / periodMs) * periodMs;
      if (budgetWindow.startMs !== startMs) budgetWindow = { startMs, used: 0 };
      budgetWindow.used++;
      const remaining = Math.max(0, state.rateLimit.limit - budgetWindow.used);
      return { used: budgetWindow.used, remaining, resetAtMs: startMs + periodMs, exceeded: budgetWindow.used > state.rateLimit.limit };
    },
  };
  return state;
}
