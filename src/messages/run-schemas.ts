/**
 * The run message shapes that arrive on `ORG_ID.runs`, as valibot schemas (the schemas are the types).
 * See `reference/port.md` for the protocol and `connectors/port-action-payload.json` for portside's own
 * template. Loose objects throughout: unknown fields are kept for handlers, never rejected.
 */
import * as v from "valibot";
import { EntitySlotSchema, JsonObjectSchema, TriggerSchema } from "./schemas.ts";

/**
 * Run ids are what portside reports against: each must map to exactly its own Port URL. Port's ids are
 * `r_…`, `run_…` and `wfnr_…`; an id that is empty, a dot segment (`.`, `..`) or holds characters a URL
 * path would reinterpret could make a report land on another endpoint, so it is refused here.
 */
export const ADDRESSABLE_RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;
export const RunIdSchema = v.pipe(
  v.string(),
  v.check(
    (id) => ADDRESSABLE_RUN_ID.test(id),
    (issue) =>
      issue.input === ""
        ? "expected a run id, got an empty string"
        : "Port cannot address this run id: expected letters, digits, '_', '-' or '.', starting with a letter or digit, at most 200 characters",
  ),
);
/**
 * Action identifiers as Port allows them: letters, digits and `@_.:\/=-` (Port's API refuses others), and
 * short — at most `ACTION_ID_MAX` characters (Port documents no length for actions; blueprint identifiers
 * are at most 30). Handlers are looked up, logged and counted by it, so a longer one is refused, and a
 * refusal never repeats it: it says what was expected and how long the value was.
 */
export const ACTION_ID_MAX = 100;
const ACTION_ID = new RegExp(`^[A-Za-z0-9@_.:\\\\/=-]{1,${ACTION_ID_MAX}}$`);
export const isActionId = (value: unknown): value is string => typeof value === "string" && ACTION_ID.test(value);
export const ActionIdSchema = v.pipe(
  v.string(),
  v.check(
    (id: string) => isActionId(id),
    (issue) => {
      const id = issue.input as string;
      if (id === "") return "expected an action identifier, got an empty string";
      const what = id.length > ACTION_ID_MAX ? `one of ${id.length.toLocaleString("en")} characters` : "one with other characters";
      return `expected a Port action identifier (letters, digits and @_.:\\/=-, at most ${ACTION_ID_MAX} characters), got ${what}`;
    },
  ),
);

/**
 * `payload.action`: the whole action definition (older messages) or only `{invocationMethod, trigger}`.
 * `trigger` is the operation string, or — when Port embeds an Actions-v2 definition — an object carrying
 * `operation`.
 */
const PayloadActionSchema = v.looseObject({
  identifier: v.nullish(v.string()),
  blueprint: v.nullish(v.string()),
  trigger: v.nullish(v.union([v.string(), v.looseObject({ operation: v.nullish(v.string()) })])),
  invocationMethod: v.nullish(v.looseObject({ type: v.nullish(v.string()) })),
});

/** The legacy ("v1") invocation Port generates itself. `status` is always `TRIGGERED`, not a run status. */
export const LegacyRunSchema = v.looseObject({
  action: ActionIdSchema,
  resourceType: v.literal("run"),
  status: v.nullish(v.string()),
  trigger: TriggerSchema,
  context: v.looseObject({
    entity: v.nullish(v.string()),
    blueprint: v.nullish(v.string()),
    runId: RunIdSchema,
  }),
  payload: v.looseObject({
    entity: EntitySlotSchema,
    action: v.nullish(PayloadActionSchema),
    properties: v.nullish(JsonObjectSchema),
    censoredProperties: v.nullish(v.array(v.string())),
  }),
});

/** The legacy shape plus the signature Port puts inside the JSON for agent-style invocations. */
export const AgentRunSchema = v.looseObject({
  ...LegacyRunSchema.entries,
  headers: v.looseObject({
    "X-Port-Signature": v.string(),
    "X-Port-Timestamp": v.union([v.number(), v.string()]),
  }),
});

/**
 * portside's template for Actions-v2 KAFKA actions (`connectors/port-action-payload.json`). `portside: 1`
 * marks the shape and its version, so a later incompatible template can coexist with runs already queued.
 */
export const TemplateRunSchema = v.looseObject({
  portside: v.literal(1),
  runId: RunIdSchema,
  action: ActionIdSchema,
  operation: v.nullish(v.string()),
  blueprint: v.nullish(v.string()),
  entity: EntitySlotSchema,
  inputs: v.nullish(JsonObjectSchema),
  secretInputs: v.nullish(v.array(v.string())),
  trigger: TriggerSchema,
});

export type LegacyRunMessage = v.InferOutput<typeof LegacyRunSchema>;
export type AgentRunMessage = v.InferOutput<typeof AgentRunSchema>;
export type TemplateRunMessage = v.InferOutput<typeof TemplateRunSchema>;
