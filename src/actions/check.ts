import * as v from "valibot";
import { formatIssues } from "../messages/issues.ts";
import type { InputsSchema } from "./spec.ts";

/**
 * A run's inputs checked against its action's definition (the generated module's schema) before the handler
 * starts: the schema's output (secret inputs wrapped so they print `[redacted]`, unknown keys dropped), or
 * why not — the field and the rule, never the value.
 */
export function checkInputs(
  schema: InputsSchema,
  inputs: Record<string, unknown>,
  action: string,
): { ok: true; inputs: Record<string, unknown> } | { ok: false; reason: string } {
  const result = v.safeParse(schema, inputs);
  if (result.success) return { ok: true, inputs: result.output };
  return {
    ok: false,
    reason: `The inputs of "${action}" do not match its definition in Port (the handler module's actions): ${formatIssues(result.issues, (path) => `inputs.${path}`)}`,
  };
}

/** Whether a value is a valibot schema (what a generated module's `inputs` holds). */
export const isSchema = (value: unknown): value is InputsSchema =>
  typeof value === "object" &&
  value !== null &&
  (value as { kind?: unknown }).kind === "schema" &&
  typeof (value as { "~run"?: unknown })["~run"] === "function";
