/**
 * Change-log records (`ORG_ID.change.log`): entity, run and blueprint changes. One schema per `action`,
 * joined with `v.variant`, because what the diff must hold differs by action — `before` is null on
 * CREATE, `after` null on DELETE, and a TIMER_EXPIRED record (sent by Port itself, `trigger.by.byPort`)
 * has no diff at all.
 */
import * as v from "valibot";
import { sha256Hex } from "./digest.ts";
import { describeValue, formatIssues } from "./issues.ts";
import { isPlainObject } from "./json.ts";
import { CHANGE_RESOURCE_TYPES, JsonObjectSchema, TriggerSchema } from "./schemas.ts";
import type { Change } from "./views.ts";

const base = {
  resourceType: v.picklist(CHANGE_RESOURCE_TYPES),
  status: v.nullish(v.string()),
  trigger: TriggerSchema,
  /** `runId` is present for run changes. */
  context: v.nullish(
    v.looseObject({
      entity: v.nullish(v.string()),
      blueprint: v.nullish(v.string()),
      runId: v.nullish(v.string()),
    }),
  ),
};

export const ChangeSchema = v.variant("action", [
  v.looseObject({
    ...base,
    action: v.literal("CREATE"),
    diff: v.looseObject({ before: v.nullish(JsonObjectSchema), after: JsonObjectSchema }),
  }),
  v.looseObject({
    ...base,
    action: v.literal("UPDATE"),
    diff: v.looseObject({ before: JsonObjectSchema, after: JsonObjectSchema }),
  }),
  v.looseObject({
    ...base,
    action: v.literal("DELETE"),
    diff: v.looseObject({ before: JsonObjectSchema, after: v.nullish(JsonObjectSchema) }),
  }),
  v.looseObject({
    ...base,
    action: v.literal("TIMER_EXPIRED"),
    diff: v.nullish(v.looseObject({ before: v.nullish(JsonObjectSchema), after: v.nullish(JsonObjectSchema) })),
  }),
]);

export type ChangeMessage = v.InferOutput<typeof ChangeSchema>;

export type ParseChangeResult = { ok: true; change: Change } | { ok: false; reason: string };

/**
 * Validates one change-log record and normalises it. `text` is the record's canonical text (from
 * `splitSinkBody`); its SHA-256 is the dedupe key, since change records carry no id and redeliveries are
 * byte-identical. Never rejects.
 */
export async function parseChange(value: unknown, text: string): Promise<ParseChangeResult> {
  if (!isPlainObject(value)) {
    return { ok: false, reason: `not a change-log message: expected a JSON object, got ${describeValue(value)}` };
  }
  const result = v.safeParse(ChangeSchema, value);
  if (!result.success) return { ok: false, reason: `invalid change-log message: ${formatIssues(result.issues)}` };
  const m = result.output;
  const before = m.diff?.before ?? null;
  const after = m.diff?.after ?? null;
  const runId = m.context?.runId ?? null;
  return {
    ok: true,
    change: {
      action: m.action,
      resourceType: m.resourceType,
      blueprint: m.context?.blueprint ?? stringField(after, before, m.resourceType === "blueprint" ? "identifier" : "blueprint"),
      identifier: identifierOf(m, runId, after, before),
      runId,
      before,
      after,
      orgId: m.trigger.by.orgId,
      byPort: m.trigger.by.byPort === true,
      userId: m.trigger.by.userId ?? null,
      origin: m.trigger.origin ?? null,
      at: m.trigger.at ?? null,
      digest: sha256Hex(text),
      raw: value,
    },
  };
}

/** What the change is about: the entity, the run or the blueprint, from the context or else the diff. */
function identifierOf(m: ChangeMessage, runId: string | null, after: Record<string, unknown> | null, before: Record<string, unknown> | null): string | null {
  switch (m.resourceType) {
    case "entity":
      return m.context?.entity ?? stringField(after, before, "identifier");
    case "run":
      return runId ?? stringField(after, before, "id");
    case "blueprint":
      return stringField(after, before, "identifier") ?? m.context?.blueprint ?? null;
  }
}

function stringField(after: Record<string, unknown> | null, before: Record<string, unknown> | null, key: string): string | null {
  const value = after?.[key] ?? before?.[key];
  return typeof value === "string" ? value : null;
}
