import * as v from "valibot";
import type { Topics } from "../config.ts";
import type { WorkKind } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import { parseRecord, type SinkRecord } from "../messages/index.ts";
import { addCounts, emptySummary } from "../pipeline/accept.ts";
import type { Retention } from "../entry/assemble.ts";
import type { Service } from "../service.ts";
import { fromBase64 } from "../shared/base64.ts";
import { within } from "../shared/time.ts";
import { firstIssue } from "../messages/issues.ts";

/**
 * The AWS Lambda way in: one invocation of a Kafka event source mapping (Amazon MSK, `aws:kafka`, or
 * self-managed Kafka such as Port's cluster, `SelfManagedKafka`) is one batch for `ingest`, and the
 * invocation returns only when the batch is done — handlers run, EventBridge published, Port told:
 *
 *   - every record is recorded by the ledger first; a record of any content is parked there (FAILURE
 *     reported when it has a run id), so a poison record never fails the invocation or blocks its partition;
 *   - the ledger unavailable, or the batch's own work and reports not finished before a deadline taken
 *     from the invocation's remaining time (Port unreachable, a slow handler): the invocation throws, and
 *     the event source delivers the batch again. With a shared ledger (Redis) the redelivered records are
 *     duplicates and what is left is finished; with the memory ledger only a warm instance remembers them.
 *     Only the batch's own records count: a handler of an earlier invocation that still runs (or hangs)
 *     on this warm instance holds up no later invocation, and the reports of every finished run go out;
 *   - once done, the ledger's retention runs when due (`Retention`, shared with the service's timer), so a
 *     warm instance forgets what is older than RETENTION_HOURS / DEAD_LETTER_RETENTION_HOURS.
 */

/** One record as Lambda hands it over: `value` and `key` base64, headers as byte arrays. */
const LambdaKafkaRecordSchema = v.object({
  topic: v.string(),
  partition: v.number(),
  offset: v.number(),
  timestamp: v.optional(v.number()),
  timestampType: v.optional(v.string()),
  key: v.optional(v.nullable(v.string())),
  /** Absent or null for a tombstone. */
  value: v.optional(v.nullable(v.string())),
  headers: v.optional(v.array(v.record(v.string(), v.array(v.number())))),
});

export const LambdaKafkaEventSchema = v.object({
  eventSource: v.picklist(["aws:kafka", "SelfManagedKafka"], 'is not a Kafka event ("aws:kafka" or "SelfManagedKafka")'),
  eventSourceArn: v.optional(v.string()),
  bootstrapServers: v.optional(v.string()),
  /** Keyed `<topic>-<partition>`. */
  records: v.record(v.string(), v.array(LambdaKafkaRecordSchema)),
});

export type LambdaKafkaEvent = v.InferOutput<typeof LambdaKafkaEventSchema>;
export type LambdaKafkaRecord = v.InferOutput<typeof LambdaKafkaRecordSchema>;

/** The part of Lambda's context object portside reads. */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
  awsRequestId?: string;
}

/** The answer for `FunctionResponseTypes: ["ReportBatchItemFailures"]`: empty, as every record was handled. */
export interface LambdaKafkaResult {
  batchItemFailures: { itemIdentifier: { partition: string; offset: number } }[];
}

/** An invocation the function cannot take (not a Kafka event, a topic it was not configured for): said, thrown. */
export class LambdaEventError extends Error {
  override name = "LambdaEventError";
}

export interface LambdaIngressDeps {
  service: Pick<Service, "ingest" | "settle">;
  topics: Topics;
  logger: Logger;
  /** The ledger's retention, run after an invocation whose batch is done (while its time lasts). */
  retention?: Pick<Retention, "purgeIfDue">;
  /** Time kept back from the invocation's remaining time to end it cleanly (default: a tenth, 0.5–10 s). */
  reserveMs?: (remainingMs: number) => number;
}

export type LambdaKafkaHandler = (event: unknown, context: LambdaContext) => Promise<LambdaKafkaResult>;

const defaultReserve = (remainingMs: number) => Math.min(10_000, Math.max(500, remainingMs / 10));

export function createLambdaIngress(deps: LambdaIngressDeps): LambdaKafkaHandler {
  const kinds = new Map<string, WorkKind>();
  if (deps.topics.runs) kinds.set(deps.topics.runs, "run");
  if (deps.topics.changes) kinds.set(deps.topics.changes, "change");
  const reserve = deps.reserveMs ?? defaultReserve;

  return async (input, context) => {
    const startedAt = Date.now();
    const remaining = context.getRemainingTimeInMillis();
    const deadlineAt = startedAt + remaining - reserve(remaining);
    const event = readEvent(input);
    const batches = byTopic(event, kinds);

    const total = emptySummary();
    const keys: string[] = [];
    for (const { topic, kind, records } of batches) {
      const summary = await within(
        deps.service.ingest(kind, records, `lambda/${topic}`),
        deadlineAt - Date.now(),
        "portside: the ledger did not record the batch before the invocation's deadline",
      );
      addCounts(total, summary);
      keys.push(...summary.keys);
    }
    const { records, accepted, duplicate, parked, ignored } = total;
    const settled = await deps.service.settle(deadlineAt, keys);
    const fields = {
      requestId: context.awsRequestId,
      eventSource: event.eventSource,
      records,
      accepted,
      duplicate,
      parked,
      ignored,
      ms: Date.now() - startedAt,
    };
    if (!settled.done) {
      deps.logger.warn("lambda.unfinished", { ...fields, left: settled.left });
      throw new Error(
        `portside: not finished before the invocation's deadline (${settled.left.unfinished} of its records unfinished, ` +
          `${settled.left.undelivered} of its runs with reports to Port undelivered, ${settled.left.running} handlers running on this instance); ` +
          "the event source delivers the batch again and what is left is finished then",
      );
    }
    deps.logger.info("lambda.invocation", fields);
    // Errors are logged by the retention itself; a purge that outlasts the invocation goes on in the next one.
    if (deps.retention) await within(deps.retention.purgeIfDue(), deadlineAt - Date.now(), "purge").catch(() => undefined);
    return { batchItemFailures: [] };
  };
}

function readEvent(input: unknown): LambdaKafkaEvent {
  const result = v.safeParse(LambdaKafkaEventSchema, input);
  if (result.success) return result.output;
  const { path: where, message } = firstIssue(result.issues);
  // Names the field, never its value.
  throw new LambdaEventError(
    `portside: this invocation is not a Kafka event from an MSK or self-managed Kafka event source (${where ?? "the event"} ${message}); point the function at a Kafka trigger`,
  );
}

/** The event's records per topic, in partition and offset order, with the kind of work each topic carries. */
function byTopic(event: LambdaKafkaEvent, kinds: Map<string, WorkKind>): { topic: string; kind: WorkKind; records: SinkRecord[] }[] {
  const found = new Map<string, LambdaKafkaRecord[]>();
  for (const records of Object.values(event.records)) {
    for (const record of records) {
      const list = found.get(record.topic) ?? [];
      list.push(record);
      found.set(record.topic, list);
    }
  }
  const batches = [];
  for (const [topic, records] of found) {
    const kind = kinds.get(topic);
    if (!kind) {
      // A deployment error, not a bad record: thrown (so nothing is lost) until the trigger or the topic settings are fixed.
      const topicOf = (wanted: WorkKind) => [...kinds].find(([, k]) => k === wanted)?.[0] ?? "off";
      throw new LambdaEventError(
        `portside: records from topic "${topic}", which is neither KAFKA_RUNS_TOPIC (${topicOf("run")}) nor KAFKA_CHANGES_TOPIC (${topicOf("change")}); ` +
          "set those to the topics this function is triggered by",
      );
    }
    records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
    batches.push({ topic, kind, records: records.map(toSinkRecord) });
  }
  return batches;
}

function toSinkRecord(record: LambdaKafkaRecord): SinkRecord {
  if (record.value === undefined || record.value === null) return parseRecord(new Uint8Array(0));
  const bytes = fromBase64(record.value);
  // Lambda always encodes values; text that is not base64 is parked as it came, never guessed at.
  return bytes ? parseRecord(bytes) : { ok: false, error: "the record's value is not base64", raw: record.value };
}
