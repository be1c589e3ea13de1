import { type ContentWithResolver, describeRoute, type DescribeRouteOptions, resolver } from "hono-openapi";
import * as v from "valibot";
import { PortAuthStateSchema } from "../port/auth-check.ts";
import { LEFT_ALONE_REASONS, type LeftAloneReason, PARK_CLASSES, type ParkClass } from "../pipeline/accept.ts";
import { RECORD_OUTCOMES } from "../pipeline/accept.ts";
import { LedgerCountsSchema } from "../ledger/ledger.ts";
import { RunPatchSchema } from "../port/calls.ts";

/**
 * What portside's HTTP endpoints answer, as valibot schemas: the OpenAPI document (`GET /openapi.json`) is
 * generated from them (hono-openapi with @valibot/to-json-schema), and the tests hold the answers to them.
 */

/** Every refusal: a stable code and a sentence saying what to do; never a value from the request. */
export const ErrorSchema = v.object({ error: v.string(), message: v.string() });

export const SinkReplySchema = v.object({
  records: v.pipe(v.number(), v.integer(), v.minValue(0)),
  accepted: v.pipe(v.number(), v.integer(), v.minValue(0)),
  duplicate: v.pipe(v.number(), v.integer(), v.minValue(0)),
  parked: v.pipe(v.number(), v.integer(), v.minValue(0)),
  ignored: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** Why the first parked records were parked (20 at most); absent when none was. */
  parkedReasons: v.optional(v.array(v.string())),
});

/** A webhook recorded (or already recorded, or parked with its run id): Port may let it go. */
export const WebhookAnswerSchema = v.object({ status: v.picklist(["accepted", "duplicate", "parked"]), runId: v.string() });

/** A synchronous handler's result as the answer Port takes the run's status from (200 SUCCESS, 500 FAILURE). */
export const WebhookResultSchema = v.object({
  ...RunPatchSchema.entries,
  status: v.picklist(["SUCCESS", "FAILURE"]),
  runId: v.string(),
});

export const ReadinessSchema = v.union([v.object({ ok: v.literal(true) }), v.object({ ok: v.literal(false), reason: v.string() })]);
export const HealthSchema = ReadinessSchema;

/** A dead letter in a list: never the record's bytes (a page costs the same whatever was parked), only their size. */
export const DeadLetterSummarySchema = v.strictObject({
  id: v.string(),
  key: v.string(),
  kind: v.picklist(["run", "change"]),
  reason: v.string(),
  source: v.string(),
  rawEncoding: v.picklist(["utf8", "base64"]),
  /** Bytes of the record as it arrived. */
  size: v.pipe(v.number(), v.integer(), v.minValue(0)),
  runId: v.nullable(v.string()),
  parkedAt: v.number(),
});

/** One dead letter with its bytes: `raw` is the record's text, or base64 of its bytes when they are not UTF-8. */
export const DeadLetterSchema = v.object({ ...DeadLetterSummarySchema.entries, raw: v.string() });

export const DeadLetterPageSchema = v.object({ items: v.array(DeadLetterSummarySchema), next: v.nullable(v.string()) });

export const ReplayReplySchema = v.object({
  type: v.literal("replayed"),
  outcome: v.picklist(RECORD_OUTCOMES),
  removed: v.boolean(),
  ...SinkReplySchema.entries,
  key: v.optional(v.string()),
});

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const IngestCountsSchema = v.object({
  requests: Count,
  records: Count,
  accepted: Count,
  duplicate: Count,
  parked: Count,
  parkedBy: v.object(Object.fromEntries(PARK_CLASSES.map((why) => [why, v.optional(Count)])) as Record<ParkClass, v.OptionalSchema<typeof Count, undefined>>),
  ignored: Count,
  ignoredBy: v.object(
    Object.fromEntries(LEFT_ALONE_REASONS.map((reason) => [reason, v.optional(Count)])) as Record<LeftAloneReason, v.OptionalSchema<typeof Count, undefined>>,
  ),
});

export const StatsSchema = v.object({
  ledger: LedgerCountsSchema,
  sinceStart: v.object({ ...IngestCountsSchema.entries, bySource: v.record(v.string(), IngestCountsSchema) }),
  /** State of ingresses that run on their own (the Kafka consumer), by name. */
  ingresses: v.record(v.string(), v.unknown()),
  /** Whether Port has issued portside a token (checked at start; `waiting` and `refused` keep /readyz at 503). */
  portAuth: PortAuthStateSchema,
});

/** One JSON answer's OpenAPI entry (its type named, so that the declarations `npm pack` writes need no package portside does not depend on). */
const json = (schema: v.GenericSchema, description: string): { description: string; content: ContentWithResolver } => ({
  description,
  content: { "application/json": { schema: resolver(schema) } },
});
export const reply = json;
/** A refusal's OpenAPI entry (routes take theirs from refusals.ts's table). */
export const refusalDoc = (description: string) => json(ErrorSchema, description);

/** A route's OpenAPI description; `bearer` names the security scheme when the route asks for a token. */
export function documented(options: Omit<DescribeRouteOptions, "security"> & { bearer?: "sinkToken" | "adminToken" | null }) {
  const { bearer, ...rest } = options;
  return describeRoute({ ...rest, ...(bearer ? { security: [{ [bearer]: [] }] } : {}) });
}
