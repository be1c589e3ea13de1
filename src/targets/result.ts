/**
 * What a run handler returns decides the run's status, and the value is checked at run time: handlers
 * are the team's JavaScript, and a typo in a result (`{ status: "FAILED" }`, `summary: 123`) must end as a
 * FAILURE that names the field, never as a silent SUCCESS or a run that never ends.
 *
 *   nothing, or any value that is not an object (a string, a number, an array) → SUCCESS
 *   an object → the run patch's fields are checked; unknown fields are ignored
 */
import * as v from "valibot";
import { formatIssues } from "../messages/issues.ts";
import { noRedaction, type Redactor } from "../messages/redact.ts";
import { type RunPatch, RunPatchSchema } from "../port/calls.ts";
import { truncate } from "../shared/text.ts";

/** Port keeps at most this much of a summary. */
export const SUMMARY_MAX = 1000;

/** The run patch's own fields; `v.object` (not strict) drops unknown keys, which is the picking. */
const HandlerResultSchema = v.object(RunPatchSchema.entries);

export type FinalPatch = RunPatch & { status: "SUCCESS" | "FAILURE" };
export type ResultVerdict = { ok: true; patch: FinalPatch } | { ok: false; reason: string };

/** Turns whatever a handler returned into the run's final patch (its text redacted), or says which field is wrong. */
export function resultToPatch(value: unknown, action: string, redact: Redactor = noRedaction): ResultVerdict {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { ok: true, patch: { status: "SUCCESS" } };
  const checked = v.safeParse(HandlerResultSchema, value);
  if (!checked.success) return { ok: false, reason: `Handler for "${action}" returned an invalid result: ${redact.text(formatIssues(checked.issues))}` };
  const { status, summary, ...rest } = redact.value(checked.output);
  return { ok: true, patch: { ...rest, ...(summary !== undefined ? { summary: truncate(summary, SUMMARY_MAX) } : {}), status: status ?? "SUCCESS" } };
}
