/**
 * The two kinds of run Port publishes on ORG_ID.runs and how each is reported. Action runs (`r_…`, older
 * `run_…`) take logs, a status and a summary, link, label and external id at `/v1/actions/runs/{id}`.
 * Workflow node runs (`wfnr_…`, beta) take only a status and result at `PATCH /v1/workflows/nodes/runs/{id}`
 * (`COMPLETED` with `SUCCESS` / `FAILED`) and leveled log lines at `POST …/logs`.
 *
 * Handlers see the same `run` either way; what a node run cannot hold is turned into what it can: the final
 * patch's summary, link and external id become log lines ahead of the status (the summary at ERROR level
 * on FAILURE), so nothing the handler said is dropped. The status label is a transient badge for an
 * action run's page and has no counterpart, so it is left out.
 */
import type { ReportInput, RunPatch } from "./calls.ts";

export const NODE_RUN_PREFIX = "wfnr_";

export type RunKind = "action" | "workflowNode";

export const runKind = (runId: string): RunKind => (runId.startsWith(NODE_RUN_PREFIX) ? "workflowNode" : "action");

export const isNodeRun = (runId: string): boolean => runKind(runId) === "workflowNode";

/** The reports that give a run its final patch, in the order Port must get them. */
export function finalReports(runId: string, patch: RunPatch): ReportInput[] {
  if (!isNodeRun(runId)) return [{ runId, call: { kind: "update", patch } }];
  const failed = patch.status === "FAILURE";
  const lines: ReportInput[] = [];
  if (patch.summary !== undefined) lines.push({ runId, call: { kind: "log", message: patch.summary, level: failed ? "ERROR" : "INFO" } });
  for (const link of patch.link === undefined ? [] : [patch.link].flat()) lines.push({ runId, call: { kind: "log", message: `Link: ${link}`, level: "INFO" } });
  if (patch.externalRunId !== undefined) lines.push({ runId, call: { kind: "log", message: `External run id: ${patch.externalRunId}`, level: "INFO" } });
  const status = patch.status === undefined ? [] : [{ runId, call: { kind: "update" as const, patch: { status: patch.status } } }];
  return [...lines, ...status];
}
