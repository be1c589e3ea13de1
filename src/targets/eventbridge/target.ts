import * as v from "valibot";
import type { ExternalTarget } from "../define.ts";

/**
 * The EventBridge target as it appears in a handler module (`runs: { create_vm: eventBridge({…}) }`) or
 * is produced from a routes file. It is plain data: the executor hands it to the EventBridge runner,
 * which fills what it leaves out from the settings (EVENTBRIDGE_BUS, EVENTBRIDGE_SOURCE) and conventions.
 */

export const EVENTBRIDGE_KIND = "eventbridge";

/** Name or ARN, as PutEvents accepts it (the API's own pattern). */
const BUS_PATTERN = /^(arn:aws[\w-]*:events:[a-z]{2}-[a-z]+-[\w-]+:\d{12}:event-bus\/)?[.\-_A-Za-z0-9]+$/;

/** Options shared by routes files and `eventBridge()`; valibot is the single source of their type. */
export const EventBridgeOptionsSchema = v.strictObject({
  /** Event bus name or ARN (default: EVENTBRIDGE_BUS). */
  bus: v.optional(v.pipe(v.string(), v.maxLength(1600), v.regex(BUS_PATTERN, "must be an event bus name or an event-bus ARN"))),
  /** `Source` of the events (default: EVENTBRIDGE_SOURCE, `portside`). `aws.` is reserved by AWS. */
  source: v.optional(
    v.pipe(
      v.string(),
      v.minLength(1),
      v.maxLength(256),
      v.check((s) => !s.startsWith("aws."), "must not start with `aws.` (reserved by AWS)"),
    ),
  ),
  /** `DetailType` (default: `port.run.<action>` / `port.change.<resourceType>.<blueprint>.<action>`). */
  detailType: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(128))),
  /**
   * Runs only. `published` (default): the run is reported SUCCESS once EventBridge accepted the event.
   * `deferred`: the run stays IN_PROGRESS and the downstream consumer reports its status to Port.
   */
  status: v.optional(v.picklist(["published", "deferred"], 'must be "published" or "deferred"')),
  /** ARNs to put in the event's `Resources` (Port entities have no ARN, so none are added by default). */
  resources: v.optional(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(2048)))),
});

export type EventBridgeOptions = v.InferOutput<typeof EventBridgeOptionsSchema>;
export type StatusMode = NonNullable<EventBridgeOptions["status"]>;

export interface EventBridgeTarget extends ExternalTarget, EventBridgeOptions {
  kind: typeof EVENTBRIDGE_KIND;
  /** Publishing twice is harmless (consumers dedupe on `detail.idempotencyKey`), so a crash mid-publish re-runs. */
  rerunOnInterrupt: true;
}

/** Bad options given to `eventBridge()`; thrown while the handler module loads, so the start fails. */
export class EventBridgeOptionsError extends Error {
  override name = "EventBridgeOptionsError";
}

/**
 * Sends a run or change to Amazon EventBridge instead of running local code:
 *
 * ```ts
 * runs: { create_vm: eventBridge({ bus: "platform", status: "deferred" }) },
 * changes: [{ match: { blueprint: "microservice" }, to: eventBridge() }],
 * ```
 */
export function eventBridge(options: EventBridgeOptions = {}): EventBridgeTarget {
  const result = v.safeParse(EventBridgeOptionsSchema, options);
  if (!result.success) throw new EventBridgeOptionsError(`eventBridge(${JSON.stringify(options)}): ${describeIssue(result.issues[0])}`);
  return { kind: EVENTBRIDGE_KIND, rerunOnInterrupt: true, ...result.output };
}

/** Reads a target handed over by the executor (it may come from a plain-object handler module). */
export function readTarget(target: ExternalTarget): { ok: true; options: EventBridgeOptions } | { ok: false; reason: string } {
  const { kind: _kind, rerunOnInterrupt: _rerun, ...options } = target;
  const result = v.safeParse(EventBridgeOptionsSchema, options);
  return result.success ? { ok: true, options: result.output } : { ok: false, reason: `invalid EventBridge target: ${describeIssue(result.issues[0])}` };
}

/** One valibot issue as `<path> <problem>`, with unknown keys said plainly. */
export function describeIssue(issue: v.BaseIssue<unknown> | undefined, pathOf: (issue: v.BaseIssue<unknown>) => string = dotPath): string {
  if (!issue) return "is invalid";
  const at = (i: v.BaseIssue<unknown>) => (pathOf(i) ? `${pathOf(i)}: ` : "");
  if (issue.type === "strict_object" && issue.expected === "never") {
    const key = issue.path?.at(-1)?.key;
    return `${at({ ...issue, path: issue.path?.slice(0, -1) } as v.BaseIssue<unknown>)}unknown key "${String(key)}"`;
  }
  return `${at(issue)}${issue.message}`;
}

function dotPath(issue: v.BaseIssue<unknown>): string {
  return v.getDotPath(issue) ?? "";
}
