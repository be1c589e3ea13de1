/**
 * Entity writes against declared blueprints (tests and the local demo only — this is not Port). Port keeps a
 * schema per blueprint and refuses what does not fit: a property or relation the blueprint does not have, a
 * value of the wrong type (422), a relation to an entity that does not exist (unless the write asks Port to
 * create missing related entities). Tests that declare no blueprint keep the emulator's lenient behaviour;
 * the rest is what `declareBlueprint` turns on.
 */
import type { DeclaredBlueprint, PropertyType, StoredEntity } from "./port-emulator-state.ts";
import { isObject, type Refusal } from "./port-emulator-http.ts";

/** A related entity a write names that does not exist yet. */
export interface MissingRelated {
  blueprint: string;
  identifier: string;
}

const invalid = (message: string): Refusal => ({ status: 422, error: "invalid_request", message });

const fits: Record<PropertyType, (value: unknown) => boolean> = {
  string: (value) => typeof value === "string",
  number: (value) => typeof value === "number" && Number.isFinite(value),
  boolean: (value) => typeof value === "boolean",
  object: isObject,
  array: Array.isArray,
};

/**
 * Checks properties and relations against the blueprint. Returns the related entities that do not exist
 * (for the caller to create or refuse), or the refusal. `null` values clear a field and always fit.
 */
export function checkAgainstBlueprint(
  blueprint: DeclaredBlueprint,
  fields: { properties?: Record<string, unknown> | undefined; relations?: Record<string, unknown> | undefined },
  exists: (blueprint: string, identifier: string) => StoredEntity | undefined,
): { ok: true; missing: MissingRelated[] } | { ok: false; refusal: Refusal } {
  for (const [name, value] of Object.entries(fields.properties ?? {})) {
    const declared = blueprint.properties?.[name];
    if (!declared) return { ok: false, refusal: invalid(`The property "${name}" does not exist in blueprint "${blueprint.identifier}"`) };
    if (value !== null && !fits[declared.type](value)) {
      return { ok: false, refusal: invalid(`The property "${name}" of blueprint "${blueprint.identifier}" must be of type ${declared.type}`) };
    }
  }
  const missing: MissingRelated[] = [];
  for (const [name, value] of Object.entries(fields.relations ?? {})) {
    const declared = blueprint.relations?.[name];
    if (!declared) return { ok: false, refusal: invalid(`The relation "${name}" does not exist in blueprint "${blueprint.identifier}"`) };
    if (value === null) continue;
    const targets = declared.many ? value : [value];
    if (!Array.isArray(targets) || !targets.every((t) => typeof t === "string")) {
      const expected = declared.many ? "an array of entity identifiers" : "an entity identifier";
      return { ok: false, refusal: invalid(`The relation "${name}" of blueprint "${blueprint.identifier}" must be ${expected}`) };
    }
    for (const identifier of targets as string[]) if (!exists(declared.target, identifier)) missing.push({ blueprint: declared.target, identifier });
  }
  return { ok: true, missing };
}

/** Port's answer when a related entity is missing and the write did not ask to create it (the code is the emulator's choice). */
export function missingRelatedRefusal(missing: MissingRelated): Refusal {
  return {
    status: 404,
    error: "not_found",
    message: `Related entity "${missing.identifier}" of blueprint "${missing.blueprint}" was not found (create_missing_related_entities=true creates it)`,
  };
}
