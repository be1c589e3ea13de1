import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { type Admin, Kafka, logLevel, type Producer } from "kafkajs";
import type { KafkaSettings } from "../../src/config.ts";
import { createKafkaIngress, type KafkaIngress } from "../../src/ingress/kafka.ts";
import { createLogger } from "../../src/log.ts";
import { createHarness, type Harness, ORG, runMessage } from "../support/harness.ts";
import { allowStarts, crashNextBatch, failStarts } from "../support/kafka-faults.ts";
import { createTopics, getKafka } from "../support/kafka.ts";

/**
 * The built-in consumer heals itself (in process, on the tests' broker, which these tests never stop):
 * a crash kafkajs does not restart from is followed by a new consumer, and by a failing /healthz when that
 * keeps failing; a recreated topic is read from its beginning, and says so; a member exports lag only for
 * the partitions it holds; /readyz waits for the consumer. The broker paused and portside killed are in
 * test/e2e/direct-recovery.test.ts, on a broker of its own.
 */
let brokers: string[];
let producer: Producer;
let admin: Admin;
const open: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  brokers = (await getKafka()).brokers;
  const kafka = new Kafka({ brokers, clientId: "recovery-tests", logLevel: logLevel.NOTHING });
  producer = kafka.producer();
  admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
}, 120_000);

afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.stop();
});

afterAll(async () => {
  await Promise.all([producer?.disconnect(), admin?.disconnect()]);
});

interface Member {
  ingress: KafkaIngress;
  h: Harness;
  executed: string[];
  /** The log lines of this member whose event is `event`, parsed. */
  lines(event: string): Array<Record<string, unknown>>;
}

/** A portside in process (memory ledger, Port emulator) with the built-in consumer on `topic`, started. */
async function member(topic: string, groupId: string, settings: Partial<KafkaSettings> = {}, env: Record<string, string> = {}): Promise<Member> {
  const executed: string[] = [];
  const h = await createHarness({ handlers: { runs: { deploy: async (run) => void executed.push(run.id) } }, env });
  const ingress = createKafkaIngress({
    settings: {
      brokers,
      groupId,
      runsTopic: topic,
      changesTopic: null,
      sasl: null,
      ssl: false,
      caFile: null,
      fromBeginning: true,
      sessionTimeoutMs: 6_000,
      recoveryTimeoutMs: 120_000,
      ...settings,
    },
    ingest: h.service.ingest,
    logger: createLogger({ level: "debug", sink: (line) => h.logs.push(line) }),
  });
  h.service.attachIngress("kafka", ingress);
  open.push({ stop: () => h.stop() }, { stop: () => ingress.stop() });
  await ingress.start();
  const lines = (event: string) => h.logs.filter((l) => l.includes(`"event":"${event}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { ingress, h, executed, lines };
}

const names = () => {
  const tag = randomBytes(4).toString("hex");
  return { topic: `${ORG}.runs.heal-${tag}`, groupId: `${ORG}.heal-${tag}`, tag };
};

async function produce(topic: string, ids: string[], emulators: Harness[], partition?: number): Promise<void> {
  for (const h of emulators) for (const id of ids) h.emulator.state.declareRun(id);
  await producer.send({
    topic,
    acks: -1,
    messages: ids.map((id) => ({ value: JSON.stringify(runMessage(id)), ...(partition === undefined ? {} : { partition }) })),
  });
}

async function until(check: () => boolean | Promise<boolean>, what: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await Bun.sleep(25);
  }
}

const missing = (m: Member, ids: string[]) => ids.filter((id) => !m.executed.includes(id));
const waitExecuted = (m: Member, ids: string[], timeoutMs?: number) =>
  until(
    () => missing(m, ids).length === 0,
    () => `${missing(m, ids).length} of ${ids.length} runs (e.g. ${missing(m, ids).slice(0, 3).join(", ")})`,
    timeoutMs,
  );
const lagSeries = async (m: Member) => (await m.h.service.metrics.scrape()).split("\n").filter((l) => l.startsWith("portside_kafka_consumer_lag{"));
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}_${i}`);

describe("the built-in consumer heals itself", () => {
  test("a crash kafkajs does not restart from: a new consumer is made (with backoff) and consumes; meanwhile it is not ready and exports no lag", async () => {
    const { topic, groupId, tag } = names();
    await createTopics(brokers, [topic], 1);
    const m = await member(topic, groupId);
    const before = ids(`r_crash_before_${tag}`, 5);
    await produce(topic, before, [m.h]);
    await waitExecuted(m, before);
    expect(await lagSeries(m)).toHaveLength(1);

    crashNextBatch(groupId);
    const after = ids(`r_crash_after_${tag}`, 20);
    await produce(topic, after, [m.h]);
    const crashes = () => m.lines("kafka.crashed").filter((l) => l.restart === false);
    await until(
      () => crashes().length > 0,
      () => "the crash",
    );
    expect(crashes()[0]).toMatchObject({ level: "error", error: { name: "KafkaJSNonRetriableError" } });
    // Not consuming: not ready, and no lag series that would stay frozen at its last value.
    expect(m.ingress.ready()).toBe(false);
    expect((await m.h.service.app.request("/readyz")).status).toBe(503);
    expect(await lagSeries(m)).toEqual([]);

    await waitExecuted(m, after);
    expect(m.ingress.ready()).toBe(true);
    expect(m.ingress.state().status).toBe("consuming");
    expect(m.lines("kafka.recovering")[0]).toMatchObject({ level: "warn", attempt: 1 });
    expect(m.lines("kafka.recovered")).toHaveLength(1);
    expect((await m.h.service.app.request("/healthz")).status).toBe(200);
  }, 60_000);

  test("while a new consumer keeps failing, /healthz answers 503 once KAFKA_RECOVERY_TIMEOUT_MS passed (so the orchestrator restarts portside), and 200 once one consumes", async () => {
    const { topic, groupId, tag } = names();
    await createTopics(brokers, [topic], 1);
    const m = await member(topic, groupId, { recoveryTimeoutMs: 2_000 });
    failStarts(groupId);
    crashNextBatch(groupId);
    const runs = ids(`r_fail_${tag}`, 5);
    await produce(topic, runs, [m.h]);
    const started = Date.now();
    await until(
      async () => (await m.h.service.app.request("/healthz")).status === 503,
      () => "/healthz to fail",
      15_000,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    const health = await (await m.h.service.app.request("/healthz")).json();
    expect(health).toMatchObject({ ok: false, reason: expect.stringContaining("kafka") });
    expect(m.lines("kafka.recovery_failed")).toHaveLength(1);
    // The attempts go on after /healthz failed: a second one is scheduled once the first consumer failed to
    // start, which on a loaded machine may come after the 2 s (the first waits up to 1 s, then connects).
    await until(
      () => m.lines("kafka.recovering").length >= 2,
      () => `a second attempt (${m.lines("kafka.recovering").length} so far)`,
      15_000,
    );
    expect(m.lines("kafka.recovery_failed")).toHaveLength(1);

    allowStarts(groupId);
    await waitExecuted(m, runs, 40_000);
    expect((await m.h.service.app.request("/healthz")).status).toBe(200);
    expect(m.ingress.ready()).toBe(true);
  }, 90_000);

  test("a topic deleted and recreated: what is produced to it before the group joins again is read from the beginning, with a warning; a new group starts at the end and says so", async () => {
    const { topic, groupId, tag } = names();
    await createTopics(brokers, [topic], 1);
    const old = ids(`r_old_${tag}`, 3);
    await produce(topic, old, []);
    const m = await member(topic, groupId, { fromBeginning: false });
    // Where "the end" is depends on when the member looked: runs are produced until one of them ran.
    const probes: string[] = [];
    await until(
      async () => {
        if (m.executed.some((id) => probes.includes(id))) return true;
        probes.push(`r_probe_${tag}_${probes.length}`);
        await produce(topic, probes.slice(-1), [m.h]);
        await Bun.sleep(200);
        return false;
      },
      () => "a run produced after the start to be consumed",
    );
    // A new group (KAFKA_FROM_BEGINNING=false) starts at the end: what was there before is not run.
    expect(m.executed.filter((id) => old.includes(id))).toEqual([]);

    await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
    await until(
      async () => !(await admin.listTopics()).includes(topic),
      () => "the topic to go",
    );
    await until(
      async () => admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }).catch(() => false),
      () => "the topic to be created again",
    );
    const again = ids(`r_again_${tag}`, 30);
    await produce(topic, again, [m.h]);
    // kafkajs retries the fetches of the missing topic with a growing backoff: the new one may wait a while.
    await waitExecuted(m, again, 60_000);

    const starts = m.lines("kafka.no_committed_offset");
    expect(starts[0]).toMatchObject({ level: "warn", topic, partitions: [0], startsAt: "end" });
    // Which line depends on the interleaving: the consumer joins again or, after its failed fetches, reads the
    // new topic from its old position (then its start is settled again before that batch is used); the
    // group's offsets of the old topic are gone (read from the beginning), or not yet (past the new topic's
    // end; or a fetch out of range that went back). Either way one warning says it is read again from 0.
    const after = [...starts.slice(1), ...m.lines("kafka.offsets_reset")];
    expect(after.length).toBeGreaterThan(0);
    for (const line of after) expect(line).toMatchObject({ level: "warn", message: expect.stringContaining("deleted and created again") });
    expect(after.some((l) => l.startsAt === "beginning" || l.to === "0")).toBe(true);
  }, 90_000);

  test("a rebalance: each member exports lag only for the partitions it holds", async () => {
    const { topic, groupId, tag } = names();
    await createTopics(brokers, [topic], 2);
    const a = await member(topic, groupId);
    await produce(topic, ids(`r_lag0_${tag}`, 2), [a.h], 0);
    await produce(topic, ids(`r_lag1_${tag}`, 2), [a.h], 1);
    await until(
      () => Object.keys(a.ingress.state().lag).length === 2,
      () => "lag of both partitions",
    );
    const b = await member(topic, groupId);
    const held = (m: Member) => (m.ingress.state().assigned[topic] ?? []).map((p) => `${topic}/${p}`);
    await until(
      () => held(a).length === 1 && held(b).length === 1,
      () => `one partition each (a: ${held(a)}, b: ${held(b)})`,
    );
    await produce(topic, ids(`r_lagb0_${tag}`, 2), [a.h, b.h], 0);
    await produce(topic, ids(`r_lagb1_${tag}`, 2), [a.h, b.h], 1);
    await until(
      () => Object.keys(b.ingress.state().lag).length === 1,
      () => "b's lag",
    );
    expect(Object.keys(a.ingress.state().lag)).toEqual(held(a));
    expect(Object.keys(b.ingress.state().lag)).toEqual(held(b));
    expect(await lagSeries(a)).toHaveLength(1);
    expect(await lagSeries(a)).toEqual([expect.stringContaining(`partition="${held(a)[0]?.split("/").at(-1)}"`)]);
  }, 60_000);
});

test("with KAFKA_BROKERS set, /readyz answers 503 until the consumer is attached and consuming", async () => {
  const h = await createHarness({ env: { KAFKA_BROKERS: "127.0.0.1:9" } });
  open.push({ stop: () => h.stop() });
  const res = await h.service.app.request("/readyz");
  expect(res.status).toBe(503);
  expect(await res.json()).toEqual({ ok: false, reason: "kafka not ready" });
  expect((await h.service.app.request("/healthz")).status).toBe(200);
});
