/**
 * The calls a run makes to Port, as data. They are written to the ledger's outbox first and delivered
 * later by the reporter, so a crash or a Port outage loses none of them and their order per run is kept.
 */

/** Body of `PATCH /v1/actions/runs/{runId}`. Port refuses any other key (422). */
export interface RunPatch {
  status?: "SUCCESS" | "FAILURE";
  statusLabel?: string;
  link?: string | string[];
  summary?: string;
  externalRunId?: string;
}

/** An entity as Port's upsert endpoint takes it. */
export interface EntityInput {
  identifier: string;
  title?: string;
  icon?: string;
  team?: string | string[];
  properties?: Record<string, unknown>;
  relations?: Record<string, unknown>;
}

export type PortCall =
  /** `POST /v1/actions/runs/{runId}/logs`. Consecutive logs of one run may be sent as one message. */
  | { kind: "log"; message: string }
  /** `PATCH /v1/actions/runs/{runId}`; terminal when `status` is set. */
  | { kind: "update"; patch: RunPatch }
  /** `POST /v1/blueprints/{blueprint}/entities?upsert=true&merge=true&run_id={runId}`. */
  | { kind: "entity"; blueprint: string; entity: EntityInput };

/** A call waiting in the outbox for one run. */
export interface ReportInput {
  runId: string;
  call: PortCall;
}

export const isTerminal = (call: PortCall): boolean => call.kind === "update" && call.patch.status !== undefined;
