/**
 * The execution-agent polling endpoints in the Port EMULATOR (tests and the local demo only — this is not
 * Port), with the shapes Port's agent sends and reads (`port-labs/port-agent` `app/port_client.py`):
 *
 *   POST  /v1/actions/runs/claim-pending    {installationId, limit, invocationMethod} → {ok, runs}
 *   PATCH /v1/actions/runs/ack              {runIds}                                  → {ok, ackedCount}
 *   POST  /v1/workflows/runs/claim-pending  {installationId, limit}                   → {ok, nodeRuns}
 *   PATCH /v1/workflows/runs/ack            {nodeRunIdentifier}                       → {ok, acked}
 *   POST  /emulator/node-runs               the emulator's own: queues a node run `{config, identifier?}` for an agent
 *
 * Rules: only runs waiting for an agent are offered (action runs whose invocation has `agent: true` and the
 * requested type; node runs queued with a config), oldest first, at most `limit`. A claim hides a run from
 * every claimer until `claimedUntil` (`state.claimLeaseMs` later); an unacknowledged run is offered again
 * once its claim lapsed; an acknowledged one never again. An ack counts the runs it acknowledged now:
 * claimed before, not acknowledged yet.
 *
 * Every one of these requires `x-port-reserved-usage: true`. What Port answers without it is not known
 * (Port's agent always sends it, and the endpoints are not in Port's public reference), so the emulator's
 * choice is a 403 that names the header.
 */
import type { Context, Hono } from "hono";
import * as v from "valibot";
import { formatIssues } from "../messages/issues.ts";
import { RESERVED_USAGE_HEADER, RESERVED_USAGE_VALUE } from "../port/polling.ts";
import { type Env, refuse } from "./port-emulator-http.ts";
import { type AgentClaim, type EmulatedNodeRun, type EmulatedRun, NODE_RUN_PREFIX, type PortEmulatorState } from "./port-emulator-state.ts";

/** The most runs one claim may ask for in the emulator (Port's own bound is not published). */
export const EMULATOR_CLAIM_LIMIT_MAX = 1000;

const Limit = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(EMULATOR_CLAIM_LIMIT_MAX));
const ClaimRunsSchema = v.strictObject({ installationId: v.pipe(v.string(), v.nonEmpty()), limit: Limit, invocationMethod: v.pipe(v.string(), v.nonEmpty()) });
const ClaimNodeRunsSchema = v.strictObject({ installationId: v.pipe(v.string(), v.nonEmpty()), limit: Limit });
const AckRunsSchema = v.strictObject({ runIds: v.array(v.string()) });
const AckNodeRunSchema = v.strictObject({ nodeRunIdentifier: v.string() });
const QueueNodeRunSchema = v.strictObject({
  identifier: v.optional(v.pipe(v.string(), v.startsWith(NODE_RUN_PREFIX), v.maxLength(200))),
  config: v.looseObject({ type: v.string() }),
});

/** The polled fields of a run waiting for (or taken by) an agent, as Port's run schema has them. */
export function agentFields(claim: AgentClaim | undefined): Record<string, unknown> {
  if (!claim) return {};
  return {
    pendingExecution: !claim.acked,
    claimedUntil: claim.claimedUntilMs === null ? null : new Date(claim.claimedUntilMs).toISOString(),
    installationId: claim.installationId,
  };
}

/** Queues a workflow node run for an agent, as a workflow reaching a webhook node with `agent: true` does. */
export function queueNodeRun(state: PortEmulatorState, config: Record<string, unknown>, identifier?: string): EmulatedNodeRun {
  const id = identifier ?? `${NODE_RUN_PREFIX}${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const run = state.declareRun(id) as EmulatedNodeRun;
  run.config = structuredClone(config);
  run.agentClaim = { installationId: null, claimedUntilMs: null, acked: false };
  return run;
}

export function registerPollingRoutes(app: Hono<Env>, { state, clock }: { state: PortEmulatorState; clock: () => number }): void {
  /** Checks the reserved-usage header and the body; the parsed body, or the refusal to answer. */
  function read<S extends v.GenericSchema>(c: Context<Env>, schema: S): { body: v.InferOutput<S> } | { refusal: Response } {
    if (c.req.header(RESERVED_USAGE_HEADER) !== RESERVED_USAGE_VALUE) {
      return {
        refusal: refuse(
          c,
          403,
          "forbidden",
          `This endpoint is reserved for Port's execution agent: send the header "${RESERVED_USAGE_HEADER}: ${RESERVED_USAGE_VALUE}" (Port emulator)`,
        ),
      };
    }
    const parsed = v.safeParse(schema, c.get("body"));
    if (!parsed.success)
      return { refusal: refuse(c, 422, "invalid_request", `The json provided does not match the route's schema: ${formatIssues(parsed.issues)}`) };
    return { body: parsed.output };
  }

  const claimable = (claim: AgentClaim | undefined, nowMs: number): claim is AgentClaim =>
    claim !== undefined && !claim.acked && (claim.claimedUntilMs === null || claim.claimedUntilMs <= nowMs);

  function take<T extends { agentClaim?: AgentClaim; createdAtMs: number }>(
    runs: Iterable<T>,
    limit: number,
    installationId: string,
    fits: (run: T) => boolean,
  ): T[] {
    const nowMs = clock();
    const taken = [...runs]
      .filter((run) => claimable(run.agentClaim, nowMs) && fits(run))
      .sort((a, b) => a.createdAtMs - b.createdAtMs)
      .slice(0, limit);
    for (const run of taken) Object.assign(run.agentClaim as AgentClaim, { installationId, claimedUntilMs: nowMs + state.claimLeaseMs });
    return taken;
  }

  app.post("/v1/actions/runs/claim-pending", (c) => {
    const got = read(c, ClaimRunsSchema);
    if ("refusal" in got) return got.refusal;
    const { installationId, limit, invocationMethod } = got.body;
    const runs = take(
      state.runs.values(),
      limit,
      installationId,
      (run) => (run.status === "IN_PROGRESS" || run.agentClaim?.offeredAgain === true) && run.payload?.type === invocationMethod,
    );
    return c.json({ ok: true, runs: [...state.strayClaims.splice(0), ...runs.map(polledRun)] });
  });

  app.patch("/v1/actions/runs/ack", (c) => {
    const got = read(c, AckRunsSchema);
    if ("refusal" in got) return got.refusal;
    let ackedCount = 0;
    for (const id of new Set(got.body.runIds)) if (acknowledge(state.runs.get(id)?.agentClaim)) ackedCount++;
    return c.json({ ok: true, ackedCount });
  });

  app.post("/v1/workflows/runs/claim-pending", (c) => {
    const got = read(c, ClaimNodeRunsSchema);
    if ("refusal" in got) return got.refusal;
    const nodeRuns = take(state.nodeRuns.values(), got.body.limit, got.body.installationId, (run) => run.status === "IN_PROGRESS");
    return c.json({ ok: true, nodeRuns: nodeRuns.map(polledNodeRun) });
  });

  app.patch("/v1/workflows/runs/ack", (c) => {
    const got = read(c, AckNodeRunSchema);
    if ("refusal" in got) return got.refusal;
    return c.json({ ok: true, acked: acknowledge(state.nodeRuns.get(got.body.nodeRunIdentifier)?.agentClaim) });
  });

  app.post("/emulator/node-runs", async (c) => {
    const parsed = v.safeParse(QueueNodeRunSchema, await c.req.json().catch(() => undefined));
    if (!parsed.success) return refuse(c, 422, "invalid_request", `Send {"config": {"type": …}, "identifier"?: "wfnr_…"}: ${formatIssues(parsed.issues)}`);
    const run = queueNodeRun(state, parsed.output.config, parsed.output.identifier);
    return c.json({ ok: true, nodeRun: polledNodeRun(run) }, 201);
  });
}

/** Acknowledges a claimed run; false when it was never claimed or is acknowledged already. */
function acknowledge(claim: AgentClaim | undefined): boolean {
  if (!claim || claim.acked || claim.claimedUntilMs === null) return false;
  claim.acked = true;
  return true;
}

function polledRun(run: EmulatedRun) {
  return {
    id: run.id,
    status: run.status,
    action: run.action,
    properties: run.properties ?? {},
    entity: run.entity ?? null,
    payload: run.payload,
    ...agentFields(run.agentClaim),
    createdAt: new Date(run.createdAtMs).toISOString(),
  };
}

function polledNodeRun(run: EmulatedNodeRun) {
  return {
    identifier: run.id,
    status: run.status,
    config: run.config ?? {},
    ...agentFields(run.agentClaim),
    createdAt: new Date(run.createdAtMs).toISOString(),
  };
}
