import * as v from "valibot";
import { Secret } from "../shared/secret.ts";
import type { InputsSchema } from "./spec.ts";

/**
 * The input kinds of Port's action definitions that valibot has no word for, as the generated module
 * (`actions pull`) writes them: `portInputs.secret(v.string())`, `portInputs.entity("service")` and so on.
 * Imported by the team's generated module as `portside/actions`. Each says what Port puts in a run's inputs
 * for that kind, as far as Port's documentation tells.
 */

/**
 * An input Port encrypts (`encryption: "aes256-gcm"`): decrypted by portside just before the handler starts,
 * then held in a `Secret` — `String(x)`, `JSON.stringify` and logs show `[redacted]`; `x.reveal()` is the value.
 */
function secret<const S extends v.GenericSchema>(schema: S) {
  return v.pipe(
    schema,
    v.metadata(SECRET_MARK),
    v.transform((value: v.InferOutput<S>) => new Secret(value)),
  );
}

/**
 * An entity as a run's inputs carry it: the entity object — its `identifier` and `title`, and whatever else
 * of the entity Port includes (`properties`, `relations`, …), kept as it came.
 */
const EntityRefSchema = v.looseObject({
  identifier: v.pipe(v.string(), v.nonEmpty()),
  title: v.optional(v.nullable(v.string())),
  blueprint: v.optional(v.string()),
});
export type EntityRef = v.InferOutput<typeof EntityRefSchema>;

/**
 * An entity input (`type: "string"`, `format: "entity"`, `blueprint`). Port puts the selected entity's object
 * in the run's inputs (its docs: an entity array input "contains an array of entity objects", each with
 * `identifier` and `title`; its guides read `.inputs.<name>.identifier`), while its format table and API
 * examples give the bare identifier (`"notifications-service"`): both are taken, and the handler always sees
 * the object (`{identifier}` from a bare identifier). An object that names another blueprint is refused.
 */
function entity(blueprint: string) {
  return v.pipe(
    v.union([
      v.pipe(
        v.string(),
        v.nonEmpty(),
        v.transform((identifier): EntityRef => ({ identifier })),
      ),
      EntityRefSchema,
    ]),
    v.check((ref) => ref.blueprint === undefined || ref.blueprint === blueprint, `must be an entity of blueprint "${blueprint}"`),
  );
}

/** A user input (`format: "user"`): the user's email, as Port's examples give it (`"default": "me@example.com"`). */
function user() {
  return v.string();
}

/** A team input (`format: "team"`): the team's name, as Port's examples give it (`"default": "my-team"`). */
function team() {
  return v.string();
}

/** A labeled URL (`type: "object"`, `format: "labeled-url"`): `{url, displayText?}`; the URL may be a path inside Port. */
function labeledUrl() {
  return v.looseObject({ url: v.pipe(v.string(), v.nonEmpty()), displayText: v.nullish(v.string()) });
}

/** An array input with `uniqueItems: true`: no item twice (items compared as JSON). The array's type comes from the pipe it is in. */
function distinct<const TItems extends readonly unknown[]>() {
  return v.check<TItems, string>((items) => new Set(items.map((item) => JSON.stringify(item))).size === items.length, "must not list an item twice");
}

export const portInputs = { secret, entity, user, team, labeledUrl, distinct };

/** What marks a secret input's schema, so it can be told apart (`secretInputNames`). */
const SECRET_MARK = { portInput: "secret" } as const;

/**
 * The inputs an action's schema declares secret (`portInputs.secret`, also inside `v.optional` and the
 * like): the ones Port encrypts, which the test kit (`invoke`) encrypts as Port would.
 */
export function secretInputNames(schema: InputsSchema): string[] {
  const entries = (schema as { entries?: Record<string, unknown> }).entries;
  if (typeof entries !== "object" || entries === null) return [];
  return Object.keys(entries).filter((name) => isSecretSchema(entries[name]));
}

function isSecretSchema(schema: unknown): boolean {
  let at = schema as { wrapped?: unknown; pipe?: unknown } | undefined;
  // Optional, nullable, nullish and their non-* forms hold the schema as `wrapped`.
  while (at && typeof at === "object" && "wrapped" in at) at = at.wrapped as typeof at;
  const pipe = at?.pipe;
  return (
    Array.isArray(pipe) &&
    pipe.some((item: { type?: unknown; metadata?: { portInput?: unknown } }) => item.type === "metadata" && item.metadata?.portInput === SECRET_MARK.portInput)
  );
}
