import type { PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import type { Change, Run } from "../../messages/views.ts";
import type { EventBridgeOptions, StatusMode } from "./target.ts";

/**
 * The event portside puts on a bus. Its shape is a contract with teams' consumers, so it is versioned
 * (`detail.version`) and documented in README.md next to this file; change it only by adding fields.
 *
 *   Source      EVENTBRIDGE_SOURCE (default `portside`) or the target's `source`
 *   DetailType  `port.run.<action>` | `port.change.<resourceType>.<blueprint or _>.<action>`, or the target's
 *   Detail      { version: 1, kind, idempotencyKey, run | change (normalised, without raw), raw }
 *   Time        when Port triggered the run / made the change, when the message says
 *   Resources   the target's `resources` (ARNs) only
 */

export const DETAIL_VERSION = 1;

/** Where unset target options come from. */
export interface EventDefaults {
  bus: string;
  source: string;
}

/** One entry ready for PutEvents, with its size as EventBridge counts it. */
export interface PreparedEvent {
  entry: PutEventsRequestEntry & { EventBusName: string; Source: string; DetailType: string; Detail: string };
  /** Size by EventBridge's rule (see `entryBytes`). */
  bytes: number;
  idempotencyKey: string;
}

/** Who reports the run's final status to Port: portside once published, or the consumer. */
export type StatusReportedBy = "portside" | "consumer";

export interface RunDetail {
  version: typeof DETAIL_VERSION;
  kind: "run";
  /** The run id: the same run is published again only after a crash mid-publish; dedupe on this. */
  idempotencyKey: string;
  statusReportedBy: StatusReportedBy;
  run: Omit<Run, "raw">;
  /** The message exactly as Port sent it, every field kept. */
  raw: unknown;
}

export interface ChangeDetail {
  version: typeof DETAIL_VERSION;
  kind: "change";
  /** SHA-256 of the change record, stable across the connector's redeliveries. */
  idempotencyKey: string;
  change: Omit<Change, "raw">;
  raw: unknown;
}

export const runDetailType = (action: string): string => `port.run.${action}`;

export const changeDetailType = (change: Pick<Change, "resourceType" | "blueprint" | "action">): string =>
  `port.change.${change.resourceType}.${change.blueprint ?? "_"}.${change.action}`;

export function runEvent(run: Run, options: EventBridgeOptions, defaults: EventDefaults): PreparedEvent {
  const { raw, ...view } = run;
  const status: StatusMode = options.status ?? "published";
  const detail: RunDetail = {
    version: DETAIL_VERSION,
    kind: "run",
    idempotencyKey: run.id,
    statusReportedBy: status === "deferred" ? "consumer" : "portside",
    run: view,
    raw,
  };
  return prepare(detail, run.id, options.detailType ?? runDetailType(run.action), run.triggeredAt, options, defaults);
}

export function changeEvent(change: Change, options: EventBridgeOptions, defaults: EventDefaults): PreparedEvent {
  const { raw, ...view } = change;
  const detail: ChangeDetail = { version: DETAIL_VERSION, kind: "change", idempotencyKey: change.digest, change: view, raw };
  return prepare(detail, change.digest, options.detailType ?? changeDetailType(change), change.at, options, defaults);
}

function prepare(
  detail: RunDetail | ChangeDetail,
  idempotencyKey: string,
  detailType: string,
  at: string | null,
  options: EventBridgeOptions,
  defaults: EventDefaults,
): PreparedEvent {
  const time = at ? new Date(at) : null;
  const entry: PreparedEvent["entry"] = {
    EventBusName: options.bus ?? defaults.bus,
    Source: options.source ?? defaults.source,
    DetailType: detailType,
    Detail: JSON.stringify(detail),
    ...(time && !Number.isNaN(time.getTime()) ? { Time: time } : {}),
    ...(options.resources && options.resources.length > 0 ? { Resources: options.resources } : {}),
  };
  return { entry, bytes: entryBytes(entry), idempotencyKey };
}

const encoder = new TextEncoder();
const utf8 = (text: string | undefined) => (text ? encoder.encode(text).length : 0);

/**
 * An entry's size as EventBridge counts it against the request limit: UTF-8 bytes of Source, DetailType,
 * Detail and each Resources item, plus 14 when Time is set. The bus name does not count.
 */
export function entryBytes(entry: PutEventsRequestEntry): number {
  let bytes = utf8(entry.Source) + utf8(entry.DetailType) + utf8(entry.Detail);
  for (const resource of entry.Resources ?? []) bytes += utf8(resource);
  if (entry.Time) bytes += 14;
  return bytes;
}
