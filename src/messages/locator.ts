/**
 * Runs in a team's own Actions-v2 payload template. Port documents no envelope for v2 messages, so a team
 * that does not use portside's template tells portside where its template puts each part, as dot paths
 * (`meta.run.id`, `items.0.id`). The parts are picked out and validated as one object, and refusals name
 * the configured path, so the reason points at the team's own template.
 */
import * as v from "valibot";
import { formatIssues } from "./issues.ts";
import { getAtPath } from "./json.ts";
import { ActionIdSchema, RunIdSchema } from "./run-schemas.ts";
import { EntitySlotSchema, JsonObjectSchema, PortUserSchema } from "./schemas.ts";

const DotPathSchema = v.pipe(v.string(), v.regex(/^[^.\s]+(\.[^.\s]+)*$/, "expected a dot path such as meta.run.id"));

/**
 * Where a custom template puts each part of a run. Only the run id and the action are required; the
 * others default to the names of Port's trigger data (see `LOCATOR_DEFAULTS`), which is what a template
 * written as `"trigger": "{{ .trigger }}"`, `"inputs": "{{ .inputs }}"` produces. Validate configuration
 * with this schema once at start-up.
 */
export const RunLocatorSchema = v.object({
  runIdPath: DotPathSchema,
  actionPath: DotPathSchema,
  orgIdPath: v.optional(DotPathSchema),
  operationPath: v.optional(DotPathSchema),
  blueprintPath: v.optional(DotPathSchema),
  /** The entity object, or its identifier as a string. */
  entityPath: v.optional(DotPathSchema),
  inputsPath: v.optional(DotPathSchema),
  /** A Port-style trigger object (`by.userId`, `by.user`, `origin`, `at`). */
  triggerPath: v.optional(DotPathSchema),
});

export type RunLocator = v.InferOutput<typeof RunLocatorSchema>;

/** Where the optional parts are looked for when not configured: the names of Port's trigger data. */
export const LOCATOR_DEFAULTS = {
  orgIdPath: "trigger.by.orgId",
  operationPath: "trigger.operation",
  blueprintPath: "blueprint",
  entityPath: "entity",
  inputsPath: "inputs",
  triggerPath: "trigger",
} as const satisfies Partial<RunLocator>;

/** The parts picked out of a custom message, keyed by the locator option that found them. */
const CustomPartsSchema = v.object({
  runIdPath: RunIdSchema,
  actionPath: ActionIdSchema,
  orgIdPath: v.string(),
  operationPath: v.nullish(v.string()),
  blueprintPath: v.nullish(v.string()),
  entityPath: EntitySlotSchema,
  inputsPath: v.nullish(JsonObjectSchema),
  triggerPath: v.nullish(
    v.looseObject({
      by: v.nullish(v.looseObject({ userId: v.nullish(v.string()), user: v.nullish(PortUserSchema) })),
      origin: v.nullish(v.string()),
      at: v.nullish(v.string()),
    }),
  ),
});

export type CustomRunParts = v.InferOutput<typeof CustomPartsSchema>;

type PathKey = keyof typeof CustomPartsSchema.entries;

/** The configured (or default) path of each part. */
function locatorPaths(locator: RunLocator): Record<PathKey, string> {
  const d = LOCATOR_DEFAULTS;
  return {
    runIdPath: locator.runIdPath,
    actionPath: locator.actionPath,
    orgIdPath: locator.orgIdPath ?? d.orgIdPath,
    operationPath: locator.operationPath ?? d.operationPath,
    blueprintPath: locator.blueprintPath ?? d.blueprintPath,
    entityPath: locator.entityPath ?? d.entityPath,
    inputsPath: locator.inputsPath ?? d.inputsPath,
    triggerPath: locator.triggerPath ?? d.triggerPath,
  };
}

/** Picks the parts out of `message` and validates them; the reason names the configured paths. */
export function extractCustomRun(message: Record<string, unknown>, locator: RunLocator): { ok: true; parts: CustomRunParts } | { ok: false; reason: string } {
  const paths = locatorPaths(locator);
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(paths) as PathKey[]) picked[key] = getAtPath(message, paths[key]);
  // A template may carry just the entity identifier; the view always has an object.
  if (typeof picked.entityPath === "string") picked.entityPath = { identifier: picked.entityPath };
  const result = v.safeParse(CustomPartsSchema, picked);
  if (result.success) return { ok: true, parts: result.output };
  const rename = (path: string): string => {
    const [head, ...rest] = path.split(".");
    const configured = paths[head as PathKey] ?? head;
    return [configured, ...rest].join(".");
  };
  return { ok: false, reason: `invalid run (custom locator): ${formatIssues(result.issues, rename)}` };
}
