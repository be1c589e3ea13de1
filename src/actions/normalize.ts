import * as v from "valibot";
import { type ActionDefinition, INPUT_TYPES, type InputItems, isJqQuery, OPERATIONS, type UserInput } from "./definition.ts";
import { passesInputs, templateOf } from "./passthrough.ts";

/**
 * What of an action's definition the generated module is made of, and nothing else: the generator writes
 * the module from it, the module carries it (so `actions check` compares like with like), and a change in
 * Port that leaves it as it was (an icon, a description, a jq query's text) leaves the module up to date.
 * A value Port computes at run time is the marker `"jqQuery"`; input names are sorted.
 */

/** Marks a value Port computes at run time (a `{jqQuery}` in the definition). */
export const JQ = "jqQuery" as const;

/** The invocation types portside receives runs of; an action of another type is listed, not typed. */
export const RECEIVED_INVOCATIONS = ["KAFKA", "WEBHOOK"] as const;

const count = v.pipe(v.number(), v.integer(), v.minValue(0));
const orJq = <S extends v.GenericSchema>(schema: S) => v.union([schema, v.literal(JQ)]);

const itemEntries = {
  type: v.picklist(INPUT_TYPES),
  format: v.optional(v.string()),
  blueprint: v.optional(v.string()),
  enum: v.optional(orJq(v.array(v.unknown()))),
  minLength: v.optional(count),
  maxLength: v.optional(count),
  pattern: v.optional(v.string()),
  minimum: v.optional(v.number()),
  maximum: v.optional(v.number()),
  exclusiveMinimum: v.optional(v.number()),
  exclusiveMaximum: v.optional(v.number()),
};
const NormalizedItemsSchema = v.strictObject(itemEntries);

export const NormalizedInputSchema = v.strictObject({
  ...itemEntries,
  title: v.optional(v.string()),
  required: orJq(v.boolean()),
  /** `false`, or computed: either way the input may be left out. */
  visible: v.optional(orJq(v.literal(false))),
  /** Only a computed default matters to the module (a fixed one changes nothing of its type). */
  default: v.optional(v.literal(JQ)),
  minItems: v.optional(count),
  maxItems: v.optional(count),
  uniqueItems: v.optional(v.literal(true)),
  items: v.optional(NormalizedItemsSchema),
  /** `aes256-gcm`, or the algorithm of another encryption (`client-side`). */
  encryption: v.optional(v.string()),
});
export type NormalizedInput = v.InferOutput<typeof NormalizedInputSchema>;
export type NormalizedItems = v.InferOutput<typeof NormalizedItemsSchema>;

/** Why an action's runs are not typed: its template rebuilds the inputs, or it is an automation (no form). */
export const UNTYPED = ["not-passed-through", "automation"] as const;

/** An action portside receives runs of (KAFKA or WEBHOOK). */
const ReceivedActionSchema = v.strictObject({
  identifier: v.string(),
  title: v.nullable(v.string()),
  operation: v.nullable(v.picklist(OPERATIONS)),
  blueprint: v.nullable(v.string()),
  invocation: v.picklist(RECEIVED_INVOCATIONS),
  inputs: v.union([v.record(v.string(), NormalizedInputSchema), v.picklist(UNTYPED)]),
});

/** An action of another invocation type (GITHUB, GITLAB, UPSERT_ENTITY, …): named in a comment only. */
const OtherActionSchema = v.strictObject({ identifier: v.string(), invocation: v.string() });

export const NormalizedActionSchema = v.union([ReceivedActionSchema, OtherActionSchema]);
export type NormalizedAction = v.InferOutput<typeof NormalizedActionSchema>;
export type ReceivedAction = v.InferOutput<typeof ReceivedActionSchema>;

/** What a generated module carries (its last line): the actions, and the `--actions` it was pulled with. */
export const NormalizedDocumentSchema = v.strictObject({
  portside: v.literal(1),
  selected: v.nullable(v.array(v.string())),
  actions: v.array(NormalizedActionSchema),
});
export type NormalizedDocument = v.InferOutput<typeof NormalizedDocumentSchema>;

export const isReceived = (action: NormalizedAction): action is ReceivedAction => "inputs" in action;

/** The document of some definitions, sorted by identifier. */
export function normalizeDefinitions(definitions: readonly ActionDefinition[], selected: readonly string[] | null): NormalizedDocument {
  const actions = definitions.map(normalizeAction).sort((a, b) => compare(a.identifier, b.identifier));
  return { portside: 1, selected: selected ? [...selected].sort(compare) : null, actions };
}

export function normalizeAction(definition: ActionDefinition): NormalizedAction {
  const invocation = definition.invocationMethod.type;
  return invocation === "KAFKA" || invocation === "WEBHOOK" ? normalizeReceived(definition, invocation) : { identifier: definition.identifier, invocation };
}

function normalizeReceived(definition: ActionDefinition, invocation: ReceivedAction["invocation"]): ReceivedAction {
  const { identifier, trigger, invocationMethod } = definition;
  const common = { identifier, title: definition.title ?? null, invocation };
  if (trigger.type === "automation") {
    return { ...common, operation: null, blueprint: trigger.event?.blueprintIdentifier ?? null, inputs: "automation" };
  }
  const form = trigger.userInputs;
  const inputs = passesInputs(templateOf(invocationMethod))
    ? Object.fromEntries(
        Object.keys(form.properties)
          .sort(compare)
          .map((name) => [name, normalizeInput(form.properties[name] as UserInput, isJqQuery(form.required) ? JQ : form.required.includes(name))]),
      )
    : ("not-passed-through" as const);
  return { ...common, operation: trigger.operation, blueprint: trigger.blueprintIdentifier ?? null, inputs };
}

function normalizeInput(input: UserInput, required: boolean | typeof JQ): NormalizedInput {
  const visible = input.visible === false ? false : isJqQuery(input.visible) ? JQ : undefined;
  const encryption = typeof input.encryption === "string" ? input.encryption : input.encryption?.algorithm;
  return defined({
    ...normalizeItems(input),
    title: input.title,
    required,
    visible,
    default: isJqQuery(input.default) ? JQ : undefined,
    minItems: input.minItems,
    maxItems: input.maxItems,
    uniqueItems: input.uniqueItems === true ? true : undefined,
    items: input.items ? normalizeItems(input.items) : undefined,
    encryption,
  });
}

function normalizeItems(input: InputItems): NormalizedItems {
  return defined({
    type: input.type,
    format: input.format,
    blueprint: input.blueprint,
    enum: isJqQuery(input.enum) ? JQ : input.enum,
    minLength: input.minLength,
    maxLength: input.maxLength,
    pattern: input.pattern,
    minimum: input.minimum,
    maximum: input.maximum,
    exclusiveMinimum: input.exclusiveMinimum,
    exclusiveMaximum: input.exclusiveMaximum,
  });
}

/** The object without its undefined keys (they would otherwise differ from a document read back from JSON). */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, inner]) => inner !== undefined)) as T;
}

/** Code-point order, the same everywhere (localeCompare is not). */
export const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
