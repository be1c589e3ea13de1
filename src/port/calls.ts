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

/** A run's stored answer, as Port's run schema types `response`: a string, an array or an object. */
export const RunResponseSchema = v.union([v.string(), v.array(v.unknown()), JsonObject]);
export type RunResponse = v.InferOutput<typeof RunResponseSchema>;

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

/**
 * Port's entity identifiers: letters of any script, digits and `@_.+:\/=-`, not `.` or `..`, at most
 * 1000 characters. Checked here so a handler learns of a bad one when it calls, not from a refused report.
 */
export const ENTITY_IDENTIFIER_PATTERN = /^(?!\.{1,2}$)[\p{L}0-9@_.+:\\/=-]+$/u;
export const EntityIdentifierSchema = v.pipe(
  v.string(),
  v.nonEmpty("must not be empty"),
  v.maxLength(1000, "must be at most 1000 characters"),
  v.regex(ENTITY_IDENTIFIER_PATTERN, "must be letters, digits and @_.+:\\/=- only, and not . or .."),
);

export const BlueprintIdSchema = v.pipe(v.string(), v.nonEmpty("must not be empty"));

/** An entity as Port's create/upsert endpoints take it. */
export const EntityInputSchema = v.strictObject({
  identifier: EntityIdentifierSchema,
  title: v.optional(v.string()),
  icon: v.optional(v.string()),
  team: v.optional(v.union([v.string(), v.array(v.string())])),
  properties: v.optional(JsonObject),
  relations: v.optional(JsonObject),
});

export type EntityInput = v.InferOutput<typeof EntityInputSchema>;

/** Body of `PATCH /v1/blueprints/{bp}/entities/{id}`: the fields to change (properties and relations merge). Port allows no other key. */
export const EntityPatchSchema = v.strictObject({
  /** A new identifier for the entity. */
  identifier: v.optional(EntityIdentifierSchema),
  title: v.optional(v.nullable(v.string())),
  icon: v.optional(v.nullable(v.string())),
  team: v.optional(v.union([v.string(), v.array(v.string())])),
  properties: v.optional(JsonObject),
  relations: v.optional(JsonObject),
});

export type EntityPatch = v.InferOutput<typeof EntityPatchSchema>;

/** Port takes at most this many entities per bulk request; longer lists are split into several calls. */
export const BULK_ENTITIES_MAX = 20;

/** Options of entity writes that create or change relations: Port's `create_missing_related_entities`. */
export const EntityWriteOptionsSchema = v.strictObject({ createMissingRelatedEntities: v.optional(v.boolean()) });
export type EntityWriteOptions = v.InferOutput<typeof EntityWriteOptionsSchema>;

/** Options of an entity delete: Port's `delete_dependents` (also delete entities related to it). */
export const EntityDeleteOptionsSchema = v.strictObject({ deleteDependents: v.optional(v.boolean()) });
export type EntityDeleteOptions = v.InferOutput<typeof EntityDeleteOptionsSchema>;

/**
 * Levels of a workflow node run's log lines. Action run logs have none: Port shows their lines as they
 * are, so the level only matters for node runs (absent means INFO).
 */
export const RUN_LOG_LEVELS = ["DEBUG", "INFO", "WARN", "ERROR"] as const;
export type RunLogLevel = (typeof RUN_LOG_LEVELS)[number];

/**
 * The Port client sends a call to the endpoint of the run's kind (see `run-kinds.ts`): an action run's
 * (`/v1/actions/runs/…`) or a workflow node run's (`/v1/workflows/nodes/runs/…`).
 */
export const PortCallSchema = v.variant("kind", [
  /** A line in the run's log. Consecutive logs of one run may be sent as one call. */
  v.strictObject({ kind: v.literal("log"), message: v.string(), level: v.optional(v.picklist(RUN_LOG_LEVELS)) }),
  /**
   * The run's status (terminal when `status` is set) and, for action runs, its summary, link and labels.
   * `output`: workflow node runs only, sent with their status (Port's agent puts a synchronized webhook's
   * answer there as `{response: {status, data}}`); an action run's answer is a `response` call instead.
   */
  v.strictObject({ kind: v.literal("update"), patch: RunPatchSchema, output: v.optional(JsonObject) }),
  /**
   * `PATCH /v1/actions/runs/{runId}/response` `{response}`: the answer of a synchronized webhook, which Port
   * keeps as the run's `response` (string, array or object). Action runs only; sent before the status.
   */
  v.strictObject({ kind: v.literal("response"), response: RunResponseSchema }),
  /** `POST /v1/blueprints/{blueprint}/entities?upsert=true&merge=true&run_id={runId}`. */
  v.strictObject({ kind: v.literal("entity"), blueprint: BlueprintIdSchema, entity: EntityInputSchema, ...EntityWriteOptionsSchema.entries }),
  /** `PATCH /v1/blueprints/{blueprint}/entities/{identifier}?run_id={runId}`. */
  v.strictObject({
    kind: v.literal("entityUpdate"),
    blueprint: BlueprintIdSchema,
    identifier: EntityIdentifierSchema,
    patch: EntityPatchSchema,
    ...EntityWriteOptionsSchema.entries,
  }),
  /** `DELETE /v1/blueprints/{blueprint}/entities/{identifier}?run_id={runId}&delete_dependents=…`. */
  v.strictObject({ kind: v.literal("entityDelete"), blueprint: BlueprintIdSchema, identifier: EntityIdentifierSchema, ...EntityDeleteOptionsSchema.entries }),
  /**
   * `POST /v1/blueprints/{blueprint}/entities/bulk?upsert=true&merge=true&run_id={runId}`, at most 20
   * entities. Port may take some and refuse others (207): the refusals are recorded and logged to the run.
   */
  v.strictObject({
    kind: v.literal("entityBulk"),
    blueprint: BlueprintIdSchema,
    entities: v.pipe(
      v.array(EntityInputSchema),
      v.minLength(1, "must not be empty"),
      v.maxLength(BULK_ENTITIES_MAX, `must hold at most ${BULK_ENTITIES_MAX} entities`),
    ),
    ...EntityWriteOptionsSchema.entries,
  }),
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

const ENTITY_KINDS: ReadonlySet<PortCallKind> = new Set(["entity", "entityUpdate", "entityDelete", "entityBulk"]);

/** Calls that write entities (and link them to the run): they go ahead of a run's logs and status. */
export const isEntityCall = (call: PortCall): boolean => ENTITY_KINDS.has(call.kind);
