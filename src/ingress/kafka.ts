import type { Consumer, EachBatchPayload } from "kafkajs";
import type { KafkaSettings } from "../config.ts";
import type { WorkKind } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import { parseRecord } from "../messages/index.ts";
import type { PartitionLag } from "../metrics.ts";
import type { Ingest } from "../pipeline/ingest.ts";
import type { IngressStatus } from "../service.ts";
import { backoffMs, type RetryPolicy } from "../shared/retry.ts";
import { createKafka, type KafkaConnection, readCa } from "../shared/kafka.ts";
import { createSupervisor } from "./kafka-supervisor.ts";

/**
 * The built-in Kafka consumer: the second way in beside the Connect HTTP sink, for teams without a
 * Connect cluster. It reads `ORG_ID.runs` and `ORG_ID.change.log` in a consumer group and hands each
 * fetched batch to `ingest`, as the sink does with a request — nothing else of the pipeline lives here.
 *
 *   - Offsets are committed only after `ingest` resolved, i.e. after the ledger committed every record
 *     of the batch (ack means safe). A redelivery after a rebalance or a crash is deduplicated by the ledger.
 *   - The ledger unavailable: the partition is paused and read again from the same offset after a backoff;
 *     nothing is skipped. A record of any content is parked by `ingest`, so it never blocks its partition.
 *   - Crashes, stalls and liveness: ./kafka-supervisor.ts. Ready only while consuming (an idle member is
 *     ready: it holds no partitions to serve); lag is exported only then, and only for partitions held.
 *   - A group member that gets no partitions (others hold them all) says so; it keeps serving HTTP.
 *   - `stop()` leaves the group (no session-timeout stall for the other members). A member that vanished
 *     without leaving holds its partitions until KAFKA_SESSION_TIMEOUT_MS (10 s) has passed.
 */
export interface KafkaIngressDeps {
  settings: KafkaSettings;
  /** Brokers and credentials when `settings.brokers` is "port" (asked of Port's API, again for each new consumer). */
  resolveConnection?: () => Promise<{ brokers: string[]; username: string; password: string }>;
  ingest: Ingest;
  logger: Logger;
  /** Backoff while the ledger is unavailable (default 200 ms growing to 10 s). */
  retry?: RetryPolicy;
}

export type KafkaIngressStatus = "starting" | "consuming" | "idle_member" | "stalled" | "recovering" | "stopped";

export interface KafkaIngressState {
  status: KafkaIngressStatus;
  groupId: string;
  /** Partitions assigned to this member, by topic. */
  assigned: Record<string, number[]>;
  /** Messages behind the end of each partition held, as of its last fetch (`topic/partition`); empty unless consuming. */
  lag: Record<string, number>;
  /** Partitions paused because the ledger was unavailable. */
  paused: string[];
}

export interface KafkaIngress extends IngressStatus {
  start(): Promise<void>;
  stop(): Promise<void>;
  state(): KafkaIngressState;
}

const defaultRetry: RetryPolicy = { initialMs: 200, maxMs: 10_000, factor: 2, maxAttempts: Infinity };

interface Generation {
  consumer: Consumer;
}

export function createKafkaIngress(deps: KafkaIngressDeps): KafkaIngress {
  const { settings, logger } = deps;
  const { groupId } = settings;
  const retry = deps.retry ?? defaultRetry;
  const topics = new Map<string, WorkKind>();
  if (settings.runsTopic) topics.set(settings.runsTopic, "run");
  if (settings.changesTopic) topics.set(settings.changesTopic, "change");
  const state: Omit<KafkaIngressState, "lag"> = { status: "starting", groupId, assigned: {}, paused: [] };
  const lag = new Map<string, PartitionLag>();
  /** Consecutive ledger failures per partition, for the backoff. */
  const failures = new Map<string, number>();
  const resumeTimers = new Set<ReturnType<typeof setTimeout>>();
  let current: Generation | undefined;
  let starting = false;
  let startCrash: Error | undefined;

  const supervisor = createSupervisor({
    groupId,
    logger,
    replace: async () => {
      await close();
      await open();
    },
    stallAfterMs: settings.sessionTimeoutMs,
    giveUpAfterMs: settings.recoveryTimeoutMs,
    onStalled: () => down("stalled"),
    onResumed: () => {
      state.status = holds() > 0 ? "consuming" : "idle_member";
    },
  });

  const holds = () => Object.values(state.assigned).reduce((n, list) => n + list.length, 0);

  /** Not consuming: not ready, and no lag series that would stay frozen at their last value. */
  function down(status: "stalled" | "recovering"): void {
    state.status = status;
    lag.clear();
  }

  async function connection(): Promise<KafkaConnection> {
    const ca = readCa(settings.caFile);
    if (settings.brokers === "port") {
      if (!deps.resolveConnection) throw new Error("KAFKA_BROKERS=port needs Port credentials (PORT_CLIENT_ID, PORT_CLIENT_SECRET)");
      const found = await deps.resolveConnection();
      return { brokers: found.brokers, sasl: { username: found.username, password: found.password }, ssl: settings.ssl, ...(ca ? { ca } : {}) };
    }
    const sasl = settings.sasl ? { username: settings.sasl.username, password: settings.sasl.password.reveal() } : null;
    return { brokers: settings.brokers, sasl, ssl: settings.ssl, ...(ca ? { ca } : {}) };
  }

  /** Makes a consumer, joins the group and runs it; its events count only while it is the current one. */
  async function open(): Promise<void> {
    const kafka = createKafka(await connection(), logger);
    // maxWaitTimeInMs bounds how long a fetch waits for new records, and so how long a stop waits for the fetch.
    // Fetches of at most 1 MB (256 KB a partition): a batch is held in memory until the ledger has it.
    // Heartbeats every quarter of the session timeout (kafkajs and Kafka want under a third).
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: Math.floor(settings.sessionTimeoutMs / 4),
      maxWaitTimeInMs: 500,
      maxBytes: 1 << 20,
      maxBytesPerPartition: 256 << 10,
      retry: { retries: 10 },
    });
    const mine: Generation = { consumer };
    current = mine;
    const isCurrent = () => current === mine;
    const progressed = () => isCurrent() && supervisor.progressed();
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => isCurrent() && assigned(payload.memberAssignment));
    consumer.on(consumer.events.CRASH, ({ payload }) => isCurrent() && crashed(payload.error, payload.restart));
    consumer.on(consumer.events.FETCH, progressed);
    consumer.on(consumer.events.HEARTBEAT, progressed);
    consumer.on(consumer.events.END_BATCH_PROCESS, progressed);
    // Closed meanwhile (stopped while a new consumer was being made): it must not run on.
    const closedMeanwhile = async () => {
      if (isCurrent()) return false;
      await consumer.disconnect().catch(() => undefined);
      return true;
    };
    await consumer.connect();
    if (await closedMeanwhile()) return;
    try {
      await consumer.subscribe({ topics: [...topics.keys()], fromBeginning: settings.fromBeginning });
    } catch (error) {
      if ((error as { type?: string }).type === "UNKNOWN_TOPIC_OR_PARTITION") {
        throw new Error(
          `the topics ${[...topics.keys()].join(" and ")} are not on these brokers (or this user may not read them); check ORG_ID, KAFKA_RUNS_TOPIC and KAFKA_CHANGES_TOPIC`,
        );
      }
      throw error;
    }
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 8, eachBatch: (p) => onBatch(consumer, p) });
    await closedMeanwhile();
  }

  async function close(): Promise<void> {
    const was = current;
    current = undefined;
    for (const timer of resumeTimers) clearTimeout(timer);
    resumeTimers.clear();
    state.paused = [];
    // Leaves the group at once, so the others take the partitions over without waiting for a session timeout.
    await was?.consumer.disconnect().catch(() => undefined);
  }

  function crashed(
    error: Error,
    restart: boolean,
    message = restart ? "kafkajs restarts the consumer" : "kafkajs will not restart this consumer: a new one is made",
  ): void {
    logger.error("kafka.crashed", { groupId, restart, error, message });
    if (starting && !restart) {
      startCrash = error;
      return;
    }
    state.assigned = {};
    down("recovering");
    supervisor.crashed(restart);
  }

  function assigned(memberAssignment: Record<string, number[]>): void {
    state.assigned = Object.fromEntries(Object.entries(memberAssignment).filter(([topic]) => topics.has(topic)));
    // Lag only of partitions held: one that moved to another member is that member's to export.
    const holding = new Set(Object.entries(state.assigned).flatMap(([topic, list]) => list.map((p) => `${topic}/${p}`)));
    for (const where of lag.keys()) if (!holding.has(where)) lag.delete(where);
    state.status = holding.size === 0 ? "idle_member" : "consuming";
    if (holding.size === 0) {
      logger.warn("kafka.no_partitions", {
        groupId,
        message: `this member of consumer group ${groupId} was assigned no partitions: other members already hold them all (more members than partitions). It stays idle until a rebalance gives it some; to consume independently, give it another KAFKA_GROUP_ID starting with the organisation id.`,
      });
    } else logger.info("kafka.assigned", { groupId, partitions: state.assigned });
    supervisor.joined();
  }

  async function onBatch(consumer: Consumer, { batch, resolveOffset, heartbeat, pause, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const kind = topics.get(batch.topic);
    if (!kind || batch.isEmpty() || !isRunning() || isStale()) return;
    const where = `${batch.topic}/${batch.partition}`;
    const first = batch.firstOffset() ?? batch.messages[0]?.offset ?? "0";
    lag.set(where, { topic: batch.topic, partition: batch.partition, messages: Number(batch.offsetLag()) });
    // A record is its message's value; a tombstone (no value) is an empty record, parked as such.
    const records = batch.messages.map((message) => parseRecord(message.value ?? new Uint8Array(0)));
    // A heartbeat the coordinator refuses (a rebalance; a member it forgot) is kafkajs's to handle: it joins
    // again, and this batch, not committed, is read again.
    await heartbeat();
    try {
      await deps.ingest(kind, records, `kafka/${batch.topic}`);
    } catch (error) {
      // Not recorded: read this partition again from the same offset, after a pause.
      const attempt = (failures.get(where) ?? 0) + 1;
      failures.set(where, attempt);
      const delayMs = Math.max(100, backoffMs(retry, attempt));
      const resume = pause();
      consumer.seek({ topic: batch.topic, partition: batch.partition, offset: first });
      if (!state.paused.includes(where)) state.paused.push(where);
      logger.warn("kafka.paused", {
        partition: where,
        attempt,
        delayMs,
        error,
        note: "the ledger could not record the batch; nothing was committed, the partition is read again after the pause",
      });
      const timer = setTimeout(() => {
        resumeTimers.delete(timer);
        state.paused = state.paused.filter((p) => p !== where);
        resume();
      }, delayMs);
      resumeTimers.add(timer);
      return;
    }
    failures.delete(where);
    const last = batch.lastOffset();
    for (const message of batch.messages) resolveOffset(message.offset);
    // Committed after the ledger commit: a crash before this line means a redelivery, which dedupes.
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
    lag.set(where, { topic: batch.topic, partition: batch.partition, messages: Math.max(0, Number(batch.highWatermark) - Number(last) - 1) });
    await heartbeat();
  }

  const consuming = () => state.status === "consuming";
  return {
    async start() {
      starting = true;
      try {
        await open();
      } catch (error) {
        await close();
        throw error;
      } finally {
        starting = false;
      }
      if (startCrash) {
        const error = startCrash;
        startCrash = undefined;
        await close();
        throw sessionTimeoutRefused(error) ? new Error(`${error.message}: set KAFKA_SESSION_TIMEOUT_MS within the brokers' range`) : error;
      }
      supervisor.start();
      logger.info("kafka.started", { groupId, topics: [...topics.keys()], sessionTimeoutMs: settings.sessionTimeoutMs });
    },
    async stop() {
      await supervisor.stop();
      state.status = "stopped";
      lag.clear();
      await close();
    },
    state: () => ({
      ...structuredClone(state),
      lag: consuming() ? Object.fromEntries([...lag].map(([where, l]) => [where, l.messages])) : {},
    }),
    ready: () => state.status === "consuming" || state.status === "idle_member",
    live: () => supervisor.live(),
    lag: () => (consuming() ? [...lag.values()] : []),
  };
}

/** The brokers refused the session timeout (outside group.min/max.session.timeout.ms). */
function sessionTimeoutRefused(error: Error): boolean {
  const type = (error as { type?: string }).type ?? (error.cause as { type?: string } | undefined)?.type;
  return type === "INVALID_SESSION_TIMEOUT";
}
