/**
 * Whether an action's invocation hands its run's inputs to portside as they are, so the inputs can be typed
 * and checked against the action's form. Port renders the invocation's template (a KAFKA `payload`, a WEBHOOK
 * `body`) with jq over the trigger data; a template that builds keys of its own from `.inputs.x` sends
 * whatever it computes, which the form says nothing about.
 */

/** The rule, as the generated module states it. */
export const PASSTHROUGH_RULE =
  "The inputs pass through as they are when the invocation has no template (Port's default message carries them " +
  "unchanged: `payload.properties` on Kafka, the top of a webhook's body), or when a value of its template is exactly " +
  "`{{ .inputs }}` (the `\"inputs\"` of portside's payload template, a webhook body's `{{ spreadValue() }}` key). " +
  "Any other template sends what its jq computes: such an action gets `inputs: null`, and its runs' inputs are not checked.";

const WHOLE_INPUTS = /^\{\{\s*\.inputs\s*\}\}$/;

/** The template of an invocation of a type portside receives: KAFKA's `payload`, WEBHOOK's `body`. */
export function templateOf(invocation: { type: string; payload?: unknown; body?: unknown }): unknown {
  return invocation.type === "KAFKA" ? invocation.payload : invocation.body;
}

/** Whether the template passes the inputs through (see `PASSTHROUGH_RULE`). */
export function passesInputs(template: unknown): boolean {
  if (template === undefined || template === null) return true;
  return hasWholeInputs(template);
}

function hasWholeInputs(value: unknown): boolean {
  if (typeof value === "string") return WHOLE_INPUTS.test(value);
  if (Array.isArray(value)) return value.some(hasWholeInputs);
  if (value && typeof value === "object") return Object.values(value).some(hasWholeInputs);
  return false;
}
