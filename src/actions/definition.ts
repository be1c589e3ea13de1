import * as v from "valibot";
import { formatIssues } from "../messages/issues.ts";

/**
 * Port's action definitions as `GET /v1/actions?version=v2` answers them (and `GET /v1/actions/{identifier}`):
 * the parts `actions pull` reads — identifier, title, the trigger (operation, blueprint, user inputs) and how
 * runs are invoked (type and payload template). Loose: whatever else Port sends is kept, so a field Port adds
 * later does not stop a pull. Port's API reference ("Create an action/automation") and its user-input pages
 * (docs.port.io/actions-and-automations/create-self-service-experiences/setup-ui-for-action/user-inputs) are
 * the sources; its Terraform provider models the same fields.
 */

/** A value Port computes at run time: `{"jqQuery": "…"}` (enum, default, required, visible). */
export const JqQuerySchema = v.looseObject({ jqQuery: v.string() });
export const isJqQuery = (value: unknown): value is v.InferOutput<typeof JqQuerySchema> =>
  typeof value === "object" && value !== null && typeof (value as { jqQuery?: unknown }).jqQuery === "string";

/** The types a user input may have. */
export const INPUT_TYPES = ["string", "number", "boolean", "object", "array"] as const;
export type InputType = (typeof INPUT_TYPES)[number];

/** The operations of a self-service action. */
export const OPERATIONS = ["CREATE", "DAY-2", "DELETE"] as const;

const count = v.pipe(v.number(), v.integer(), v.minValue(0));

/** What an input and an array's `items` have in common. */
const inputEntries = {
  type: v.picklist(INPUT_TYPES),
  title: v.optional(v.string()),
  /** `date-time`, `url`, `email`, `entity` (with `blueprint`), `user`, `team`, `labeled-url`, …: see formats.ts. */
  format: v.optional(v.string()),
  blueprint: v.optional(v.string()),
  enum: v.optional(v.union([v.array(v.unknown()), JqQuerySchema])),
  minLength: v.optional(count),
  maxLength: v.optional(count),
  pattern: v.optional(v.string()),
  minimum: v.optional(v.number()),
  maximum: v.optional(v.number()),
  exclusiveMinimum: v.optional(v.number()),
  exclusiveMaximum: v.optional(v.number()),
};

/** An array's `items` (one level: Port's array inputs hold strings, numbers, booleans, objects or entities). */
export const InputItemsSchema = v.looseObject(inputEntries);

/** One user input (`trigger.userInputs.properties.<name>`). */
export const UserInputSchema = v.looseObject({
  ...inputEntries,
  default: v.optional(v.unknown()),
  visible: v.optional(v.union([v.boolean(), JqQuerySchema])),
  minItems: v.optional(count),
  maxItems: v.optional(count),
  uniqueItems: v.optional(v.boolean()),
  items: v.optional(InputItemsSchema),
  /** `aes256-gcm` (Port-managed, which portside decrypts), or `{algorithm: "client-side", key}` (the organisation's own RSA key). */
  encryption: v.optional(v.union([v.string(), v.looseObject({ algorithm: v.string() })])),
});
export type UserInput = v.InferOutput<typeof UserInputSchema>;
export type InputItems = v.InferOutput<typeof InputItemsSchema>;

/** The form: its inputs, which are required (a list, or a jqQuery), and how they are laid out (order, steps). */
export const UserInputsSchema = v.looseObject({
  properties: v.optional(v.record(v.string(), UserInputSchema), {}),
  required: v.optional(v.union([v.array(v.string()), JqQuerySchema]), []),
  order: v.optional(v.array(v.string())),
  steps: v.optional(v.array(v.unknown())),
});

const SelfServiceTriggerSchema = v.looseObject({
  type: v.literal("self-service"),
  operation: v.picklist(OPERATIONS),
  blueprintIdentifier: v.nullish(v.string()),
  userInputs: v.optional(UserInputsSchema, { properties: {}, required: [] }),
});

/** An automation: triggered by an event (an entity or run change, a timer), not by a person filling a form. */
const AutomationTriggerSchema = v.looseObject({
  type: v.literal("automation"),
  event: v.optional(v.looseObject({ type: v.string(), blueprintIdentifier: v.nullish(v.string()) })),
});

export const ActionTriggerSchema = v.variant("type", [SelfServiceTriggerSchema, AutomationTriggerSchema]);

/** How Port hands a run over: `KAFKA` (its `payload` template), `WEBHOOK` (its `body` template), `GITHUB`, `GITLAB`, … */
export const InvocationMethodSchema = v.looseObject({
  type: v.pipe(v.string(), v.nonEmpty()),
  payload: v.optional(v.unknown()),
  body: v.optional(v.unknown()),
});

export const ActionDefinitionSchema = v.looseObject({
  identifier: v.pipe(v.string(), v.nonEmpty()),
  title: v.optional(v.string()),
  trigger: ActionTriggerSchema,
  invocationMethod: InvocationMethodSchema,
});
export type ActionDefinition = v.InferOutput<typeof ActionDefinitionSchema>;

/** `GET /v1/actions`: `{ok, actions}`; each action is read on its own, so a refusal can name it. */
export const ActionsAnswerSchema = v.looseObject({ actions: v.array(v.unknown()) });

/**
 * Each definition read, or the first that is not one Port writes: `action "deploy": trigger.operation:
 * expected …` (the field and the rule; the action named by its identifier, else its place in the list).
 */
export function parseDefinitions(list: readonly unknown[]): { ok: true; definitions: ActionDefinition[] } | { ok: false; reason: string } {
  const definitions: ActionDefinition[] = [];
  for (const [index, item] of list.entries()) {
    const parsed = v.safeParse(ActionDefinitionSchema, item);
    if (!parsed.success) {
      const identifier = (item as { identifier?: unknown } | null)?.identifier;
      const which = typeof identifier === "string" && identifier !== "" ? `action "${identifier}"` : `action #${index + 1}`;
      return { ok: false, reason: `${which}: ${formatIssues(parsed.issues)}` };
    }
    definitions.push(parsed.output);
  }
  return { ok: true, definitions };
}
