/**
 * Port's execution-agent polling API, as Port's agent (`port-labs/port-agent`, `app/port_client.py`) calls it:
 * claim the runs waiting for an agent, acknowledge them, and tell Port which transport the agent uses. These
 * endpoints are not in Port's public API reference; every one of them carries `x-port-reserved-usage: true`.
 *
 *   POST  /v1/actions/runs/claim-pending    {installationId, limit, invocationMethod} → {runs: [...]}
 *   PATCH /v1/actions/runs/ack              {runIds: [...]}                           → {ackedCount}
 *   POST  /v1/workflows/runs/claim-pending  {installationId, limit}                   → {nodeRuns: [...]}
 *   PATCH /v1/workflows/runs/ack            {nodeRunIdentifier}                       → {acked}
 *   PATCH /v1/organization                  {settings: {portAgentStreamerName}}
 *
 * A claimed run is hidden from other claimers until its `claimedUntil`; an acknowledged one is never offered
 * again. The schemas below are the shapes of Port's answers; unknown fields are kept.
 */
import * as v from "valibot";
import { formatIssues } from "../messages/issues.ts";
import { idIn } from "../messages/polled.ts";
import { PORT_ECHO_REPLY_MAX_BYTES } from "./http.ts";
import { NODE_RUN_PREFIX } from "./run-kinds.ts";

/** The header Port's reserved (agent-only) endpoints require, and its value. */
export const RESERVED_USAGE_HEADER = "x-port-reserved-usage";
export const RESERVED_USAGE_VALUE = "true";

/** The claiming key Port's agent sends as `installationId` (`app/core/consts.py`). */
export const AGENT_INSTALLATION_ID = "_PORT_EXEC_AGENT";

/** Port's agent claims this many runs per poll (`POLLING_RUNS_BATCH_SIZE`). */
export const DEFAULT_CLAIM_LIMIT = 100;

/**
 * The most of a claim answer read: up to `limit` runs, each as large as a run Port echoes with its inputs
 * (`PORT_ECHO_REPLY_MAX_BYTES`, as for one run read back). An answer cut short is no answer: the runs it
 * claimed would stay unacknowledged and come back, cut again, after every lease.
 */
export const claimReplyMaxBytes = (limit: number): number => limit * PORT_ECHO_REPLY_MAX_BYTES;

/** What `portAgentStreamerName` takes (Port's agent: `VALID_STREAMER_TYPES`). */
export const AGENT_STREAMERS = ["KAFKA", "POLLING"] as const;
export type AgentStreamer = (typeof AGENT_STREAMERS)[number];

const Text = v.pipe(v.string(), v.nonEmpty("must not be empty"));
const Headers = v.record(v.string(), v.unknown());

/**
 * A run's invocation as Port hands it to an agent: the action's invocation method with its body rendered
 * (`payload` of a polled run, `config` of a node run). Port's agent defaults `method` to POST, `headers` to
 * `{}` and `synchronized` to false.
 */
export const PolledInvocationSchema = v.looseObject({
  type: Text,
  url: v.optional(v.nullable(v.string())),
  agent: v.optional(v.nullable(v.boolean())),
  synchronized: v.optional(v.nullable(v.boolean())),
  method: v.optional(v.nullable(v.string())),
  headers: v.optional(v.nullable(Headers)),
  body: v.optional(v.unknown()),
});
export type PolledInvocation = v.InferOutput<typeof PolledInvocationSchema>;

/** An action run as `claim-pending` returns it (the fields of Port's run schema an agent reads). */
export const PolledRunSchema = v.looseObject({
  id: Text,
  action: v.optional(v.nullable(v.looseObject({ identifier: v.optional(v.string()) }))),
  properties: v.optional(v.nullable(v.record(v.string(), v.unknown()))),
  payload: PolledInvocationSchema,
  pendingExecution: v.optional(v.boolean()),
  claimedUntil: v.optional(v.nullable(v.string())),
  installationId: v.optional(v.nullable(v.string())),
});
export type PolledRun = v.InferOutput<typeof PolledRunSchema>;

/** A workflow node run as `workflows/runs/claim-pending` returns it: `identifier` (`wfnr_…`) and its `config`. */
export const PolledNodeRunSchema = v.looseObject({
  identifier: v.pipe(v.string(), v.startsWith(NODE_RUN_PREFIX, `must start with ${NODE_RUN_PREFIX}`)),
  config: PolledInvocationSchema,
  status: v.optional(v.string()),
  pendingExecution: v.optional(v.boolean()),
  claimedUntil: v.optional(v.nullable(v.string())),
  installationId: v.optional(v.nullable(v.string())),
});
export type PolledNodeRun = v.InferOutput<typeof PolledNodeRunSchema>;

export const ClaimRunsAnswerSchema = v.looseObject({
  runs: v.optional(v.array(v.unknown()), []),
});
export const ClaimNodeRunsAnswerSchema = v.looseObject({
  nodeRuns: v.optional(v.array(v.unknown()), []),
});
/** Port's agent reads a missing count as 0 and a missing `acked` as false. */
export const AckRunsAnswerSchema = v.looseObject({
  ackedCount: v.optional(v.number(), 0),
});
export const AckNodeRunAnswerSchema = v.looseObject({
  acked: v.optional(v.boolean(), false),
});

/** An item of a claim answer that is not a run portside can address; kept whole so it can be parked and shown. */
export interface UnreadableClaim {
  raw: unknown;
  /** Which field is wrong (never the value). */
  reason: string;
  /** The id it names, when it names one: parked under it, and acknowledged like a run. */
  id: string | null;
}

export interface Claimed<T> {
  runs: T[];
  unreadable: UnreadableClaim[];
}

/**
 * Splits a claim answer's items into runs and the ones that are not (Port's agent skips a run without its
 * id). `idKey` is the field an item is acknowledged by (`id`, a node run's `identifier`).
 */
export function readClaimed<T>(items: unknown[], schema: v.GenericSchema<unknown, T>, idKey: "id" | "identifier"): Claimed<T> {
  const out: Claimed<T> = { runs: [], unreadable: [] };
  for (const raw of items) {
    const parsed = v.safeParse(schema, raw);
    if (parsed.success) out.runs.push(parsed.output);
    else
      out.unreadable.push({
        raw,
        reason: formatIssues(parsed.issues),
        id: idIn(raw, idKey),
      });
  }
  return out;
}

export interface ClaimOptions {
  /** Default `DEFAULT_CLAIM_LIMIT`. */
  limit?: number;
  /** Default `AGENT_INSTALLATION_ID`, as Port's agent claims. */
  installationId?: string;
}

/** The polling methods of the Port client (see `client.ts`). */
export interface PollingClient {
  /** Claims the WEBHOOK agent runs waiting (`invocationMethod` default WEBHOOK, the only kind Port's agent polls). */
  claimRuns(opts?: ClaimOptions & { invocationMethod?: string }): Promise<Claimed<PolledRun>>;
  /** Acknowledges claimed runs; resolves with how many Port acknowledged. */
  ackRuns(runIds: readonly string[]): Promise<number>;
  claimNodeRuns(opts?: ClaimOptions): Promise<Claimed<PolledNodeRun>>;
  /** Acknowledges one claimed node run; resolves with Port's `acked`. */
  ackNodeRun(nodeRunId: string): Promise<boolean>;
  /** Tells Port which transport the organisation's agent uses (`PATCH /v1/organization`), as Port's agent does at start. */
  setAgentStreamer(name: AgentStreamer): Promise<void>;
}

/** The one request function of the client, as the polling methods use it. */
export type PollingRequest = (
  kind: "claimRuns" | "ackRuns" | "claimNodeRuns" | "ackNodeRun" | "patchOrganization",
  req: {
    method: "POST" | "PATCH";
    path: string;
    body: unknown;
    headers?: Record<string, string>;
    runId?: string;
    maxReplyBytes?: number;
  },
) => Promise<unknown>;

/** Builds the polling methods over the client's request function (its token, limiter and retries). */
export function pollingMethods(request: PollingRequest): PollingClient {
  const reserved = { [RESERVED_USAGE_HEADER]: RESERVED_USAGE_VALUE };
  const answer = <S extends v.GenericSchema>(what: string, schema: S, body: unknown): v.InferOutput<S> => {
    const parsed = v.safeParse(schema, body ?? {});
    if (!parsed.success) throw new Error(`Port's answer to ${what} is not what Port's agent reads (${formatIssues(parsed.issues)}); check PORT_API_URL`);
    return parsed.output;
  };
  return {
    async claimRuns(opts) {
      const body = {
        installationId: opts?.installationId ?? AGENT_INSTALLATION_ID,
        limit: opts?.limit ?? DEFAULT_CLAIM_LIMIT,
        invocationMethod: opts?.invocationMethod ?? "WEBHOOK",
      };
      const res = await request("claimRuns", {
        method: "POST",
        path: "/v1/actions/runs/claim-pending",
        body,
        headers: reserved,
        maxReplyBytes: claimReplyMaxBytes(body.limit),
      });
      return readClaimed(answer("claim-pending", ClaimRunsAnswerSchema, res).runs, PolledRunSchema, "id");
    },
    async ackRuns(runIds) {
      const res = await request("ackRuns", {
        method: "PATCH",
        path: "/v1/actions/runs/ack",
        body: { runIds: [...runIds] },
        headers: reserved,
      });
      return answer("ack", AckRunsAnswerSchema, res).ackedCount;
    },
    async claimNodeRuns(opts) {
      const body = {
        installationId: opts?.installationId ?? AGENT_INSTALLATION_ID,
        limit: opts?.limit ?? DEFAULT_CLAIM_LIMIT,
      };
      const res = await request("claimNodeRuns", {
        method: "POST",
        path: "/v1/workflows/runs/claim-pending",
        body,
        headers: reserved,
        maxReplyBytes: claimReplyMaxBytes(body.limit),
      });
      return readClaimed(answer("workflow claim-pending", ClaimNodeRunsAnswerSchema, res).nodeRuns, PolledNodeRunSchema, "identifier");
    },
    async ackNodeRun(nodeRunId) {
      const res = await request("ackNodeRun", {
        method: "PATCH",
        path: "/v1/workflows/runs/ack",
        body: { nodeRunIdentifier: nodeRunId },
        headers: reserved,
        runId: nodeRunId,
      });
      return answer("workflow ack", AckNodeRunAnswerSchema, res).acked;
    },
    async setAgentStreamer(name) {
      await request("patchOrganization", {
        method: "PATCH",
        path: "/v1/organization",
        body: { settings: { portAgentStreamerName: name } },
      });
    },
  };
}
