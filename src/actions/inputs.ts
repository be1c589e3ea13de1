import * as v from "valibot";
import { Secret } from "../shared/secret.ts";
import type { InputsSchema } from "./spec.ts";

/**
 * The input kinds of Port's action definitions that valibot has no word for, as the generated module
 * (`actions pull`) writes them: `portInputs.secret(v.string())` and so on. Imported by the team's generated
 * module as `portside/actions`.
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

/** What marks a secret input's schema, so it can be told apart (`secretInputNames`). */
const SECRET_MARK = { portInput: "secret" } as const;

export const portInputs = { secret };

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
