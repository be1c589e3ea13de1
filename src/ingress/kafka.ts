import type { Admin, Consumer, EachBatchPayload } from "kafkajs";
import type { KafkaSettings } from "../config.ts";
import type { WorkKind } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import { parseRecord } from "../messages/index.ts";
import type { Ingest } from "../pipeline/ingest.ts";
import type { IngressStatus, PartitionLag } from "../observe/status.ts";
import { backoffMs, type RetryPolicy, retryPolicies } from "../shared/retry.ts";
import { createKafka, type KafkaConnection, readCa } from "../shared/kafka.ts";
import { createStartPositions } from "./kafka-offsets.ts";
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
 *   - Where a partition without a committed offset starts, at every assignment: ./kafka-offsets.ts. kafkajs
 *     itself is told to start from the beginning, so an offset out of range (the topic recreated under a
 *     running consumer) is read again rather than skipped; a partition whose offsets went back says so.
 *   - Crashes, stalls and liveness: ./kafka-supervisor.ts. Ready only while consuming (an idle member is
 *     ready: it holds no partitions to serve); lag is exported only then, and only for partitions held.
 *   - A group member that gets no partitions (others hold them all) says so; it keeps serving HTTP.
 *   - `stop()` leaves the group (no session-timeout stall for the other members). A member that vanished
 *     without leaving holds its partitions until KAFKA_SESSION_TIMEOUT_MS has passed.
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

/** Errors of a commit or offset fetch made while the group rebalances: the next assignment settles anew. */
const REBALANCING = new Set(["REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "NOT_COORDINATOR_FOR_GROUP"]);

interface Generation {
  consumer: Consumer;
  admin: Admin;
  /** Brokers (node ids) with a fetch under way: a second start before an answer means the first one failed. */
  fetching: Set<number>;
  /** A fetch failed since the last check of where the partitions start. */
  fetchFailed: boolean;
  /** That check, under way: the partitions it moved. */
  recheck?: Promise<Set<string>>;
}

export function createKafkaIngress(deps: KafkaIngressDeps): KafkaIngress {
  const { settings, logger } = deps;
  const { groupId } = settings;
  const retry = deps.retry ?? retryPolicies.kafkaBatch;
  const topics = new Map<string, WorkKind>();
  if (settings.runsTopic) topics.set(settings.runsTopic, "run");
  if (settings.changesTopic) topics.set(settings.changesTopic, "change");
  const state: Omit<KafkaIngressState, "lag"> = { status: "starting", groupId, assigned: {}, paused: [] };
  const lag = new Map<string, PartitionLag>();
  /** The offset each partition is read from next, as this member last knew it: a batch below it means the offsets went back. */
  const expected = new Map<string, bigint>();
  /** Consecutive ledger failures per partition, for the backoff. */
  const failures = new Map<string, number>();
  const resumeTimers = new Set<ReturnType<typeof setTimeout>>();
  const positions = createStartPositions({ groupId, fromBeginning: settings.fromBeginning, logger });
  let current: Generation | undefined;
  /** Counts assignments, so a start-position check overtaken by a newer assignment leaves it alone. */
  let assignments = 0;
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
  const partitionsOf = (assigned: Record<string, number[]>) => Object.entries(assigned).map(([topic, partitions]) => ({ topic, partitions }));

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
    const mine: Generation = { consumer, admin: kafka.admin({ retry: { retries: 3 } }), fetching: new Set(), fetchFailed: false };
    current = mine;
    const isCurrent = () => current === mine;
    const progressed = () => isCurrent() && supervisor.progressed();
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => isCurrent() && assigned(mine, payload.memberAssignment));
    consumer.on(consumer.events.CRASH, ({ payload }) => isCurrent() && crashed(payload.error, payload.restart));
    consumer.on(consumer.events.FETCH_START, ({ payload }) => {
      if (mine.fetching.has(payload.nodeId)) mine.fetchFailed = true;
      mine.fetching.add(payload.nodeId);
    });
    consumer.on(consumer.events.FETCH, ({ payload }) => {
      mine.fetching.delete(payload.nodeId);
      progressed();
    });
    consumer.on(consumer.events.HEARTBEAT, progressed);
    consumer.on(consumer.events.END_BATCH_PROCESS, progressed);
    // Closed meanwhile (stopped while a new consumer was being made): it must not run on.
    const closedMeanwhile = async () => {
      if (isCurrent()) return false;
      await Promise.allSettled([consumer.disconnect(), mine.admin.disconnect()]);
      return true;
    };
    await consumer.connect();
    await mine.admin.connect();
    if (await closedMeanwhile()) return;
    try {
      await consumer.subscribe({ topics: [...topics.keys()], fromBeginning: true });
    } catch (error) {
      if ((error as { type?: string }).type === "UNKNOWN_TOPIC_OR_PARTITION") {
        throw new Error(
          `the topics ${[...topics.keys()].join(" and ")} are not on these brokers (or this user may not read them); check ORG_ID, KAFKA_RUNS_TOPIC and KAFKA_CHANGES_TOPIC`,
        );
      }
      throw error;
    }
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 8, eachBatch: (p) => onBatch(mine, p) });
    await closedMeanwhile();
  }

  async function close(): Promise<void> {
    const was = current;
    current = undefined;
    for (const timer of resumeTimers) clearTimeout(timer);
    resumeTimers.clear();
    state.paused = [];
    // Leaves the group at once, so the others take the partitions over without waiting for a session timeout.
    if (was) await Promise.allSettled([was.consumer.disconnect(), was.admin.disconnect()]);
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
    assignments += 1;
    state.assigned = {};
    down("recovering");
    supervisor.crashed(restart);
  }

  function assigned(mine: Generation, memberAssignment: Record<string, number[]>): void {
    const held = Object.fromEntries(Object.entries(memberAssignment).filter(([topic]) => topics.has(topic)));
    state.assigned = held;
    const holding = new Set(partitionsOf(held).flatMap(({ topic, partitions }) => partitions.map((p) => `${topic}/${p}`)));
    // Lag only of partitions held: one that moved to another member is that member's to export.
    for (const where of lag.keys()) if (!holding.has(where)) lag.delete(where);
    const generation = ++assignments;
    if (holding.size === 0) {
      logger.warn("kafka.no_partitions", {
        groupId,
        message: `this member of consumer group ${groupId} was assigned no partitions: other members already hold them all (more members than partitions). It stays idle until a rebalance gives it some; to consume independently, give it another KAFKA_GROUP_ID starting with the organisation id.`,
      });
      state.status = "idle_member";
      supervisor.joined();
      return;
    }
    logger.info("kafka.assigned", { groupId, partitions: held });
    // Nothing is read until it is settled where each partition starts (a synchronous pause, before kafkajs fetches).
    mine.consumer.pause(partitionsOf(held));
    void settleStarts(mine, held, generation);
  }

  async function settleStarts(mine: Generation, held: Record<string, number[]>, generation: number): Promise<void> {
    try {
      const { next } = await positions.settle(mine.consumer, mine.admin, held);
      if (generation !== assignments || current !== mine) return;
      for (const [where, offset] of next) expected.set(where, offset);
      const backingOff = new Set(state.paused);
      mine.consumer.resume(
        partitionsOf(held).map(({ topic, partitions }) => ({ topic, partitions: partitions.filter((p) => !backingOff.has(`${topic}/${p}`)) })),
      );
      state.status = "consuming";
      supervisor.joined();
    } catch (error) {
      // Overtaken by a newer assignment (or a rebalance under way, which brings one): that one settles.
      if (generation !== assignments || current !== mine || REBALANCING.has((error as { type?: string }).type ?? "")) return;
      const cause = error instanceof Error ? error : new Error(String(error));
      crashed(cause, false, "could not settle where the assigned partitions start (committed offsets, ends of the topic): a new consumer is made");
    }
  }

  /** After a failed fetch, where the partitions start is settled again before a batch is read (once for all of them). */
  function recheck(mine: Generation): Promise<Set<string>> {
    mine.fetchFailed = false;
    const check = positions.settle(mine.consumer, mine.admin, state.assigned).then(({ next, moved }) => {
      for (const where of moved) expected.set(where, next.get(where) ?? 0n);
      return moved;
    });
    mine.recheck = check;
    check
      // Not settled: the next batch asks again (this one, thrown back to kafkajs, is fetched again).
      .catch(() => {
        mine.fetchFailed = true;
      })
      .finally(() => {
        if (mine.recheck === check) mine.recheck = undefined;
      });
    return check;
  }

  async function onBatch(mine: Generation, { batch, resolveOffset, heartbeat, pause, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { consumer } = mine;
    const kind = topics.get(batch.topic);
    if (!kind || batch.isEmpty() || !isRunning() || isStale()) return;
    const where = `${batch.topic}/${batch.partition}`;
    // A batch read from a position the check moved (the topic was recreated) is not this partition's next.
    if ((mine.recheck || mine.fetchFailed) && (await (mine.recheck ?? recheck(mine))).has(where)) return;
    const first = batch.firstOffset() ?? batch.messages[0]?.offset ?? "0";
    const known = expected.get(where);
    if (known !== undefined && BigInt(first) < known) {
      logger.warn("kafka.offsets_reset", {
        groupId,
        partition: where,
        from: known.toString(),
        to: first,
        message: `the offsets of ${where} went back from ${known} to ${first}: the group's offsets were reset, or the topic was deleted and created again. Reading on from ${first}; what the ledger already has is not run again.`,
      });
    }
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
    const next = BigInt(last) + 1n;
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next.toString() }]);
    expected.set(where, next);
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
