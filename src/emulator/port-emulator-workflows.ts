/**
 * The emulator's workflow node run routes (tests and the local demo only — this is not Port), as Port's
 * API reference and its agent use them:
 *   PATCH /v1/workflows/nodes/runs/{id}       `{status: IN_PROGRESS | COMPLETED, result?, output?}`; once
 *                                             COMPLETED (with SUCCESS, FAILED or CANCELLED) the node run is frozen
 *   POST  /v1/workflows/nodes/runs/{id}/logs  `{logs: [{level: DEBUG | INFO | WARN | ERROR, message}]}`
 *   GET   /v1/workflows/nodes/runs/{id}       the node run (its logs included, an emulator addition)
 * Unknown keys are 422, an undeclared node run is 404. Node runs have no summary, link or label.
 */
import type { Context, Hono } from "hono";
import { type Env, refuse } from "./port-emulator-http.ts";
import { checkNodeRunLogs, checkNodeRunPatch } from "./port-emulator-rules.ts";
import { agentFields } from "./port-emulator-polling.ts";
import type { EmulatedNodeRun, PortEmulatorState } from "./port-emulator-state.ts";

export function registerWorkflowRoutes(app: Hono<Env>, { state, clock }: { state: PortEmulatorState; clock: () => number }): void {
  const notFound = (c: Context<Env>, id: string) => refuse(c, 404, "not_found", `Workflow node run with identifier "${id}" was not found`);
  const completed = (c: Context<Env>, run: EmulatedNodeRun) =>
    refuse(c, 422, "node_run_completed", `Workflow node run ${run.id} is already COMPLETED with result ${run.result} and cannot be changed`);

  app.get("/v1/workflows/nodes/runs/:id", (c) => {
    const run = state.findNodeRun(c.req.param("id"));
    return run ? c.json({ ok: true, nodeRun: inspectNodeRun(run) }) : notFound(c, c.req.param("id"));
  });

  app.patch("/v1/workflows/nodes/runs/:id", (c) => {
    const run = state.findNodeRun(c.req.param("id"));
    if (!run) return notFound(c, c.req.param("id"));
    const checked = checkNodeRunPatch(c.get("body"));
    if (!checked.ok) return refuse(c, 422, "invalid_request", checked.message);
    if (run.status === "COMPLETED") return completed(c, run);
    const nowMs = clock();
    const { status, result, output } = checked.value;
    Object.assign(run, { status, updatedAtMs: nowMs }, result ? { result, endedAtMs: nowMs } : {}, output ? { output } : {});
    return c.json({ ok: true, nodeRun: inspectNodeRun(run) });
  });

  app.post("/v1/workflows/nodes/runs/:id/logs", (c) => {
    const run = state.findNodeRun(c.req.param("id"));
    if (!run) return notFound(c, c.req.param("id"));
    const checked = checkNodeRunLogs(c.get("body"));
    if (!checked.ok) return refuse(c, 422, "invalid_request", checked.message);
    if (run.status === "COMPLETED") return completed(c, run);
    const atMs = clock();
    for (const log of checked.value.logs) run.logs.push({ ...log, atMs });
    run.updatedAtMs = atMs;
    return c.json({ ok: true }, 201);
  });
}

export function inspectNodeRun(run: EmulatedNodeRun) {
  const { logs, createdAtMs, updatedAtMs, endedAtMs, agentClaim, ...rest } = run;
  return {
    ...rest,
    ...agentFields(agentClaim),
    identifier: run.id,
    createdAt: new Date(createdAtMs).toISOString(),
    updatedAt: new Date(updatedAtMs).toISOString(),
    endedAt: endedAtMs === undefined ? null : new Date(endedAtMs).toISOString(),
    logs: logs.map(({ atMs, ...log }) => ({ ...log, createdAt: new Date(atMs).toISOString() })),
  };
}
