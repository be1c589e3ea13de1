/**
 * The calls a run makes to Port, as data. They are written to the ledger's outbox first and delivered
 * later by the reporter, so a crash or a Port outage loses none of them and their order per run is kept.
 *
 * The schemas here are the one definition of what a call holds: the ledger checks queued calls against
 * `PortCallSchema`, the reporter has one delivery per `kind` (a mapped type makes a missing one a type
 * error), and the executor derives a run's final patch from `RunPatchSchema`. A new kind of call is one
 * more variant here, one method on the client, and one entry in the reporter's table.
 */
import * as v from "valibot";

const JsonObject = v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x), "must be an object");

export const RUN_STATUSES = ["SUCCESS", "FAILURE"] as const;

/** Body of `PATCH /v1/actions/runs/{runId}`. Port refuses any other key (422), so the schema is strict. */
export const RunPatchSchema = v.strictObject({
  /** Terminal: once set, Port freezes the run. */
  status: v.optional(v.picklist(RUN_STATUSES)),
  statusLabel: v.optional(v.string()),
  link: v.optional(v.union([v.string(), v.array(v.string())])),
  summary: v.optional(v.string()),
  externalRunId: v.optional(v.string()),
});

export type RunPatch = v.InferOutput<typeof RunPatchSchema>;

/** An entity as Port's upsert endpoint takes it. */
export const EntityInputSchema = v.strictObject({
  identifier: v.pipe(v.string(), v.nonEmpty("must not be empty")),
  title: v.optional(v.string()),
  icon: v.optional(v.string()),
  team: v.optional(v.union([v.string(), v.array(v.string())])),
  properties: v.optional(JsonObject),
  relations: v.optional(JsonObject),
});

export type EntityInput = v.InferOutput<typeof EntityInputSchema>;

/**
 * Levels of a workflow node run's log lines. Action run logs have none: Port shows their lines as they
 * are, so the level only matters for node runs (absent means INFO).
 */
export const LOG_LEVELS = ["DEBUG", "INFO", "WARN", "ERROR"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The Port client sends a call to the endpoint of the run's kind (see `run-kinds.ts`): an action run's
 * (`/v1/actions/runs/…`) or a workflow node run's (`/v1/workflows/nodes/runs/…`).
 */
export const PortCallSchema = v.variant("kind", [
  /** A line in the run's log. Consecutive logs of one run may be sent as one call. */
  v.strictObject({ kind: v.literal("log"), message: v.string(), level: v.optional(v.picklist(LOG_LEVELS)) }),
  /** The run's status (terminal when `status` is set) and, for action runs, its summary, link and labels. */
  v.strictObject({ kind: v.literal("update"), patch: RunPatchSchema }),
  /** `POST /v1/blueprints/{blueprint}/entities?upsert=true&merge=true&run_id={runId}`. */
  v.strictObject({ kind: v.literal("entity"), blueprint: v.pipe(v.string(), v.nonEmpty("must not be empty")), entity: EntityInputSchema }),
]);

export type PortCall = v.InferOutput<typeof PortCallSchema>;
export type PortCallKind = PortCall["kind"];

/** Every kind of call, derived from the schema (for messages that list them). */
export const PORT_CALL_KINDS: readonly PortCallKind[] = PortCallSchema.options.map((option) => option.entries.kind.literal);

/** A call waiting in the outbox for one run. */
export interface ReportInput {
  runId: string;
  call: PortCall;
}

export const isTerminal = (call: PortCall): boolean => call.kind === "update" && call.patch.status !== undefined;
