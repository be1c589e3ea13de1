/**
 * valibot schemas for the pieces Port's run and change-log messages share. Every object schema is loose:
 * Port adds fields over time and handlers may want them, so unknown keys are kept, never rejected. Optional
 * parts are `nullish` because Port sends both `null` and nothing for them depending on the message's age.
 */
import * as v from "valibot";
import { describeValue } from "./issues.ts";
import { isPlainObject } from "./json.ts";

/** The operations of an action (`trigger.operation`, legacy `payload.action.trigger`). */
export const RUN_OPERATIONS = ["CREATE", "DAY-2", "DELETE"] as const;
/** What a change-log record says happened (`action`). */
export const CHANGE_ACTIONS = ["CREATE", "UPDATE", "DELETE", "TIMER_EXPIRED"] as const;
/** What a change-log record is about (`resourceType`). */
export const CHANGE_RESOURCE_TYPES = ["entity", "run", "blueprint"] as const;

/**
 * A JSON object of arbitrary values (inputs, properties, relations). A type guard rather than
 * `v.record(v.string(), v.unknown())`: that accepts arrays and copies every object it checks, and these
 * objects are the bulk of a message on the hot path. The object is passed through as it arrived.
 */
export const JsonObjectSchema = v.custom<Record<string, unknown>>(isPlainObject, (issue) => `expected an object, got ${describeValue(issue.input)}`);

/** `trigger.by.user`: present for people, absent for API clients (`<clientId>@clients`). */
export const PortUserSchema = v.looseObject({
  id: v.nullish(v.string()),
  email: v.nullish(v.string()),
  firstName: v.nullish(v.string()),
  lastName: v.nullish(v.string()),
});

/**
 * Who triggered it, from where, when. `orgId` is required: a record that does not say which organisation
 * it belongs to cannot be checked against this deployment's, so it is never executed.
 */
export const TriggerSchema = v.looseObject({
  by: v.looseObject({
    orgId: v.string(),
    userId: v.nullish(v.string()),
    user: v.nullish(PortUserSchema),
    byPort: v.nullish(v.boolean()),
  }),
  origin: v.nullish(v.string()),
  at: v.nullish(v.string()),
  /** Present in Actions-v2 trigger data (`CREATE` | `DAY-2` | `DELETE`). */
  operation: v.nullish(v.string()),
});

/** An entity as Port puts it in messages (`identifier, title, blueprint, team, properties, relations, …`). */
export const EntitySchema = v.looseObject({
  identifier: v.string(),
  title: v.nullish(v.string()),
  blueprint: v.optional(v.string()),
  team: v.nullish(v.union([v.array(v.string()), v.string()])),
  properties: v.optional(JsonObjectSchema),
  relations: v.optional(JsonObjectSchema),
});

/**
 * The entity slot of a run: an entity, or nothing. Port renders `{{ .entity }}` as `{}` for CREATE
 * actions, so an empty object counts as nothing rather than as an entity without an identifier.
 */
export const EntitySlotSchema = v.pipe(
  v.unknown(),
  v.transform((value) => (isEmptyObject(value) ? null : value)),
  v.nullish(EntitySchema),
);

function isEmptyObject(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  for (const _ in value) return false;
  return true;
}

export type PortTrigger = v.InferOutput<typeof TriggerSchema>;
export type PortUserMessage = v.InferOutput<typeof PortUserSchema>;
