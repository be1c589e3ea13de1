import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { type Broker, startBroker } from "../../connectors/local/broker.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import "../../src/shared/kafka.ts";
import { Kafka, logLevel, type Producer } from "kafkajs";
import { runMessage } from "../support/harness.ts";
import { createTopics } from "../support/kafka.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";

/**
 * The built-in consumer of a real portside process against a real broker that stops answering (its JVM
 * paused with SIGSTOP for longer than the session timeout, then resumed with SIGCONT) and after portside
 * itself was killed. These tests stop the broker, so they start one of their own (never KAFKA_BROKERS,
 * never the broker other test files share).
 */
const ADMIN = "recovery-admin-token-000000";
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
const processes: PortsideProcess[] = [];
let broker: Broker;
let producer: Producer;

beforeAll(async () => {
  broker = await startBroker();
  producer = new Kafka({ brokers: [broker.brokers], clientId: "recovery-e2e", logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
}, 120_000);

afterAll(async () => {
  if (broker) process.kill(broker.pid, "SIGCONT");
  await Promise.all(processes.map((p) => p.crash()));
  await producer?.disconnect();
  await broker?.stop();
  emulatorServer.stop(true);
});

async function organisation(extra: Record<string, string> = {}) {
  const org = `org_heal_${randomBytes(3).toString("hex")}`;
  await createTopics([broker.brokers], [`${org}.runs`, `${org}.change.log`], 2);
  const start = async () => {
    const p = await startPortside(
      emulatorEnv(emulatorServer.port, org, `sink_${randomBytes(12).toString("hex")}`, {
        KAFKA_BROKERS: broker.brokers,
        LEDGER: "memory",
        ADMIN_TOKEN: ADMIN,
        ...extra,
      }),
    );
    processes.push(p);
    return p;
  };
  const produce = async (ids: string[]) => {
    for (const id of ids) emulator.state.declareRun(id);
    await producer.send({
      topic: `${org}.runs`,
      acks: -1,
      messages: ids.map((id) => ({ key: id, value: JSON.stringify(runMessage(id, "deploy", { orgId: org })) })),
    });
  };
  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `r_${prefix}_${org}_${i}`);
  return { org, start, produce, ids };
}

async function until(check: () => boolean | Promise<boolean>, what: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await Bun.sleep(50);
  }
}
const unfinished = (ids: string[]) => ids.filter((id) => !emulator.state.terminalStatus(id));
const finished = (ids: string[], timeoutMs: number) =>
  until(
    () => unfinished(ids).length === 0,
    () => `${unfinished(ids).length} of ${ids.length} runs`,
    timeoutMs,
  );
const status = async (p: PortsideProcess, path: string) => (await fetch(`${p.url}${path}`)).status;
const lagSeries = async (p: PortsideProcess) =>
  (await (await fetch(`${p.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text())
    .split("\n")
    .filter((l) => l.startsWith("portside_kafka_consumer_lag{"));

describe("the built-in consumer when the broker or portside goes away", () => {
  test("the broker paused longer than the session timeout: not ready and no lag series while it cannot consume; a lone member resumes by itself", async () => {
    const o = await organisation({ KAFKA_SESSION_TIMEOUT_MS: "6000" });
    const p = await o.start();
    await until(
      async () => (await status(p, "/readyz")) === 200,
      () => "ready",
      30_000,
    );
    const before = o.ids("pause_before", 10);
    await o.produce(before);
    await finished(before, 30_000);
    expect((await lagSeries(p)).length).toBeGreaterThan(0);

    process.kill(broker.pid, "SIGSTOP");
    const pausedAt = Date.now();
    try {
      await until(
        async () => (await status(p, "/readyz")) === 503,
        () => "/readyz to turn 503 while the broker is paused",
        12_000,
      );
      expect(await lagSeries(p)).toEqual([]);
      expect(await status(p, "/healthz")).toBe(200);
      // Longer than the session timeout: the broker forgets the member when it wakes up.
      await Bun.sleep(Math.max(0, pausedAt + 9_000 - Date.now()));
    } finally {
      process.kill(broker.pid, "SIGCONT");
    }

    const after = o.ids("pause_after", 20);
    await o.produce(after);
    await finished(after, 45_000);
    await until(
      async () => (await status(p, "/readyz")) === 200,
      () => "ready again",
      10_000,
    );
    expect(await status(p, "/healthz")).toBe(200);
    const out = p.output.join("");
    expect(out).toContain('"event":"kafka.stalled"');
    // A heartbeat refused by the coordinator is not the ledger's failure.
    expect(out).not.toContain('"event":"kafka.paused"');
    await p.stop();
  }, 120_000);

  test("kill -9 and restart with the default session timeout: the new process consumes within about 10 s", async () => {
    const o = await organisation();
    const first = await o.start();
    await until(
      async () => (await status(first, "/readyz")) === 200,
      () => "ready",
      30_000,
    );
    const warm = o.ids("kill_warm", 10);
    await o.produce(warm);
    await finished(warm, 30_000);

    await first.crash();
    const killedAt = Date.now();
    const second = await o.start();
    const runs = o.ids("kill_after", 10);
    await o.produce(runs);
    await finished(runs, 60_000);
    const resumedMs = Date.now() - killedAt;
    console.log(`[direct-recovery] kill -9 → restart → 10 new runs finished ${resumedMs} ms after the kill`);
    expect(resumedMs).toBeLessThan(12_000);
    await second.stop();
  }, 120_000);
});
