import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { Kafka, logLevel, Partitioners, type Producer } from "kafkajs";
import { startBroker } from "../../connectors/local/broker.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import "../../src/shared/kafka.ts";
import { runMessage } from "../support/harness.ts";
import { createTopics, getKafka } from "../support/kafka.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";
import { readExecutions } from "../support/recording-handlers.ts";
import { getRedis } from "../support/redis.ts";

/**
 * No Connect cluster: portside consumes ORG_ID.runs and ORG_ID.change.log itself (KAFKA_BROKERS), as a
 * real process, from a real broker — over SASL_SSL with SCRAM-SHA-512 as on Port's cluster, and in bursts,
 * crashes, replica failovers and poison on plain listeners. Every run executes once and is reported once.
 */
const PARTITIONS = 3;
const dir = mkdtempSync(join(tmpdir(), "portside-direct-"));
const emulator = createPortEmulator({});
// These tests report some 12,000 runs in a few minutes, beyond the budget Port once published (15,000 calls
// per 5 minutes, the emulator's default), where portside would rightly slow down: a bigger budget here.
emulator.state.rateLimit = { ...emulator.state.rateLimit, limit: 1_000_000 };
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
const processes: PortsideProcess[] = [];
let brokers: string[];
let producer: Producer;

beforeAll(async () => {
  brokers = (await getKafka()).brokers;
  producer = new Kafka({ brokers, clientId: "direct-e2e", logLevel: logLevel.NOTHING }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
}, 120_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.crash()));
  await producer?.disconnect();
  emulatorServer.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh organisation (topics, group) per test, so tests never read each other's records. */
async function organisation(partitions = PARTITIONS) {
  const org = `org_direct_${randomBytes(3).toString("hex")}`;
  await createTopics(brokers, [`${org}.runs`, `${org}.change.log`], partitions);
  const execLog = join(dir, `${org}.log`);
  const env = (extra: Record<string, string> = {}) =>
    emulatorEnv(emulatorServer.port, org, `sink_${randomBytes(12).toString("hex")}`, {
      KAFKA_BROKERS: brokers.join(","),
      KAFKA_FROM_BEGINNING: "true",
      EXEC_LOG: execLog,
      ...extra,
    });
  const start = async (extra: Record<string, string> = {}) => {
    const p = await startPortside(env({ LEDGER: `sqlite:${join(dir, `${org}.sqlite`)}`, ...extra }));
    processes.push(p);
    return p;
  };
  const produceRuns = async (ids: string[], transform: (m: ReturnType<typeof runMessage>) => unknown = (m) => m) => {
    // Port has a run before it publishes its message: the emulator knows these ids.
    for (const id of ids) emulator.state.declareRun(id);
    for (let i = 0; i < ids.length; i += 500) {
      const messages = ids.slice(i, i + 500).map((id) => ({ key: id, value: JSON.stringify(transform(runMessage(id, "deploy", { orgId: org }))) }));
      await producer.send({ topic: `${org}.runs`, acks: -1, messages });
    }
  };
  const executions = () => readExecutions(existsSync(execLog) ? readFileSync(execLog, "utf8") : "");
  return { org, env, start, produceRuns, executions };
}

async function until(check: () => boolean, what: () => string, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await Bun.sleep(50);
  }
}
const unfinished = (ids: string[]) => ids.filter((id) => !emulator.state.terminalStatus(id));
const waitForTerminal = (ids: string[], timeoutMs?: number) =>
  until(
    () => unfinished(ids).length === 0,
    () => `${unfinished(ids).length} runs (e.g. ${unfinished(ids).slice(0, 3).join(", ")})`,
    timeoutMs,
  );
const terminalPatches = (id: string) =>
  emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun" && c.status < 300 && (c.body as { status?: string }).status);
/**
 * Each run: reported once; executed once, or — when a process died while it held the run — reported
 * FAILURE as interrupted, having started at most once (a kill between the claim and the handler's start
 * leaves a run that never started but cannot be told apart from one that did).
 */
const expectOnce = (ids: string[], starts: Map<string, number>) => {
  const interrupted = (id: string) =>
    emulator.state.terminalStatus(id) === "FAILURE" && (emulator.state.runs.get(id)?.summary ?? "").startsWith("portside stopped while this run was executing");
  const wrong = ids.filter((id) => (starts.get(id) ?? 0) > 1 || terminalPatches(id).length !== 1 || (starts.get(id) !== 1 && !interrupted(id)));
  expect(wrong).toEqual([]);
  return ids.filter(interrupted).length;
};

describe("the built-in Kafka consumer", () => {
  test("over SASL_SSL with SCRAM-SHA-512 and a private CA, as on Port's cluster, with credentials given or asked of Port's API; a wrong password stops the start with one line", async () => {
    const password = randomBytes(12).toString("hex");
    const secure = await startBroker({ sasl: { users: [{ name: "portside-org", password }] } });
    try {
      const saslBrokers = secure.sasl?.brokers as string;
      const caFile = secure.sasl?.caFile as string;
      const org = `org_sasl_${randomBytes(3).toString("hex")}`;
      await createTopics([secure.brokers], [`${org}.runs`, `${org}.change.log`], 1);
      const base = emulatorEnv(emulatorServer.port, org, `sink_${randomBytes(12).toString("hex")}`, {
        KAFKA_BROKERS: saslBrokers,
        KAFKA_USERNAME: "portside-org",
        KAFKA_CA_FILE: caFile,
        KAFKA_FROM_BEGINNING: "true",
        LEDGER: "memory",
      });

      // The wrong password: one line naming what to check, exit code 2, the password nowhere.
      const wrong = Bun.spawn([process.execPath, "src/entry/main.ts"], {
        cwd: new URL("../..", import.meta.url).pathname,
        env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", ...base, KAFKA_PASSWORD: "not-the-password" },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, out, err] = await Promise.all([wrong.exited, new Response(wrong.stdout).text(), new Response(wrong.stderr).text()]);
      expect(code).toBe(2);
      expect(err).toContain("KAFKA_BROKERS: the Kafka consumer could not start");
      expect(err).toContain("SASL");
      expect(`${out}${err}`).not.toContain("not-the-password");

      const portside = await startPortside({ ...base, KAFKA_PASSWORD: password });
      processes.push(portside);
      const plain = new Kafka({ brokers: [secure.brokers], logLevel: logLevel.NOTHING }).producer();
      await plain.connect();
      const ids = ["r_sasl_1", "r_sasl_2"];
      for (const id of ids) emulator.state.declareRun(id);
      await plain.send({ topic: `${org}.runs`, acks: -1, messages: ids.map((id) => ({ value: JSON.stringify(runMessage(id, "deploy", { orgId: org })) })) });
      await plain.disconnect();
      await waitForTerminal(ids, 60_000);
      for (const id of ids) expect(emulator.state.terminalStatus(id)).toBe("SUCCESS");
      expect(portside.output.join("")).not.toContain(password);
      await portside.stop();

      // KAFKA_BROKERS=port: the brokers and credentials come from Port's API (GET /v1/kafka-credentials), as
      // Port's agent gets them; only the CA of this test broker is local.
      emulator.state.kafkaCredentials = { brokers: [saslBrokers], username: "portside-org", password };
      const fromPort = await startPortside({ ...base, KAFKA_BROKERS: "port", KAFKA_USERNAME: "", KAFKA_GROUP_ID: `${org}.from-port` });
      processes.push(fromPort);
      const more = ["r_sasl_3"];
      for (const id of more) emulator.state.declareRun(id);
      const again = new Kafka({ brokers: [secure.brokers], logLevel: logLevel.NOTHING }).producer();
      await again.connect();
      await again.send({ topic: `${org}.runs`, acks: -1, messages: more.map((id) => ({ value: JSON.stringify(runMessage(id, "deploy", { orgId: org })) })) });
      await again.disconnect();
      await waitForTerminal(more, 60_000);
      expect(emulator.state.terminalStatus("r_sasl_3")).toBe("SUCCESS");
      expect(emulator.state.calls.filter((c) => c.endpoint === "kafkaCredentials")).toHaveLength(1);
      expect(fromPort.output.join("")).not.toContain(password);
      await fromPort.stop();
    } finally {
      await secure.stop();
    }
  }, 180_000);

  test("a burst of 5,000 runs and 5,000 changes: each run executed and reported once, each change handled once", async () => {
    const o = await organisation();
    const portside = await o.start({ CONCURRENCY: "64" });
    const ids = Array.from({ length: 5_000 }, (_, i) => `r_direct_${o.org}_${i}`);
    const changes = Array.from({ length: 5_000 }, (_, i) => ({
      key: `e${i % 97}`,
      value: JSON.stringify({
        action: "UPDATE",
        resourceType: "entity",
        status: "SUCCESS",
        trigger: { by: { orgId: o.org, userId: "u@clients" }, origin: "API", at: new Date().toISOString() },
        context: { entity: `svc-${i}`, blueprint: "microservice" },
        diff: { before: { identifier: `svc-${i}` }, after: { identifier: `svc-${i}`, properties: { n: i } } },
      }),
    }));
    const started = Date.now();
    await Promise.all([
      o.produceRuns(ids),
      ...Array.from({ length: 10 }, (_, i) => producer.send({ topic: `${o.org}.change.log`, acks: -1, messages: changes.slice(i * 500, (i + 1) * 500) })),
    ]);
    await waitForTerminal(ids, 120_000);
    await until(
      () => o.executions().changes.length >= 5_000,
      () => `5,000 changes (saw ${o.executions().changes.length})`,
    );
    console.log(`[direct] 5,000 runs + 5,000 changes produce → all done in ${Date.now() - started} ms`);
    const { starts, changes: seen } = o.executions();
    expectOnce(ids, starts);
    expect(seen).toHaveLength(5_000);
    expect(new Set(seen).size).toBe(5_000);
    // Lag per partition is in /admin/stats; readiness includes the consumer.
    expect((await fetch(`${portside.url}/readyz`)).status).toBe(200);
    await portside.stop();
  }, 240_000);

  test("kill -9 mid-stream and restart: nothing lost, nothing run twice beyond what interruption allows", async () => {
    const o = await organisation();
    let portside = await o.start({ HANDLER_DELAY_MS: "10" });
    const ids = Array.from({ length: 2_000 }, (_, i) => `r_dcrash_${o.org}_${i}`);
    await o.produceRuns(ids);
    await until(
      () => ids.filter((id) => emulator.state.terminalStatus(id)).length > 300,
      () => "the first runs to finish",
    );
    await portside.crash();
    portside = await o.start({ HANDLER_DELAY_MS: "10" });
    await waitForTerminal(ids, 120_000);
    const { starts, ends } = o.executions();
    // Runs that started but never ended before the kill were interrupted: reported FAILURE, never run twice.
    for (const id of ids.filter((id) => starts.has(id) && !ends.has(id))) expect(emulator.state.terminalStatus(id)).toBe("FAILURE");
    const interrupted = expectOnce(ids, starts);
    console.log(`[direct] kill -9: ${interrupted} runs reported interrupted, ${ids.length - interrupted} SUCCESS`);
    await portside.stop();
  }, 240_000);

  test("two replicas on Redis in one group, one killed mid-stream: every run once (the survivor takes over after the session timeout)", async () => {
    const redis = await getRedis();
    const db = 1 + Math.floor(Math.random() * 14);
    const client = new Redis(`${redis.url}/${db}`);
    await client.flushdb();
    await client.quit();
    const o = await organisation(4);
    // Short leases: the killed replica's running items and claimed reports are taken over by the other after
    // seconds, not after the production defaults of 60 s and 2 min.
    const extra = { LEDGER: `${redis.url}/${db}`, HANDLER_DELAY_MS: "10", LEASE_MS: "3000", REPORT_LEASE_MS: "5000" };
    const a = await o.start(extra);
    const b = await o.start(extra);
    const ids = Array.from({ length: 2_000 }, (_, i) => `r_dgroup_${o.org}_${i}`);
    await o.produceRuns(ids);
    await until(
      () => ids.filter((id) => emulator.state.terminalStatus(id)).length > 300,
      () => "the first runs to finish",
    );
    await a.crash();
    await waitForTerminal(ids, 150_000);
    const { starts } = o.executions();
    expectOnce(ids, starts);
    const pids = new Set<string>();
    for (const line of readFileSync(join(dir, `${o.org}.log`), "utf8").split("\n")) if (line.startsWith("start ")) pids.add(line.split(" ")[2] as string);
    expect(pids.size).toBe(2);
    await b.stop();
  }, 300_000);

  test("a member stopped with SIGTERM leaves the group at once: the others take its partitions within seconds", async () => {
    const o = await organisation(4);
    const first = await o.start();
    const second = await o.start();
    const warm = Array.from({ length: 100 }, (_, i) => `r_dwarm_${o.org}_${i}`);
    await o.produceRuns(warm);
    await waitForTerminal(warm, 60_000);
    const stopped = Date.now();
    expect(await first.stop()).toBe(0);
    const more = Array.from({ length: 200 }, (_, i) => `r_dleave_${o.org}_${i}`);
    await o.produceRuns(more);
    await waitForTerminal(more, 60_000);
    const tookMs = Date.now() - stopped;
    console.log(`[direct] after a member's SIGTERM, runs on all partitions finished ${tookMs} ms later`);
    // Well under the 10 s session timeout (KAFKA_SESSION_TIMEOUT_MS) a member that vanished without leaving would cost.
    expect(tookMs).toBeLessThan(6_000);
    expectOnce([...warm, ...more], o.executions().starts);
    await second.stop();
  }, 120_000);

  test("a poison record and a 50,000-deep nested record mid-partition are parked; the partition keeps flowing", async () => {
    const o = await organisation(1);
    const portside = await o.start({ ADMIN_TOKEN: "direct-admin-token-000000" });
    const before = [`r_dp_before_${o.org}`];
    const after = [`r_dp_after_${o.org}`];
    await o.produceRuns(before);
    const deep = `{"inputs":${"[".repeat(50_000)}${"]".repeat(50_000)}}`;
    await producer.send({ topic: `${o.org}.runs`, acks: -1, messages: [{ value: "{not json" }, { value: deep }, { value: null }] });
    await o.produceRuns(after);
    await waitForTerminal([...before, ...after], 60_000);
    for (const id of [...before, ...after]) expect(emulator.state.terminalStatus(id)).toBe("SUCCESS");
    const admin = { authorization: "Bearer direct-admin-token-000000" };
    const letters = (await (await fetch(`${portside.url}/admin/dead-letters`, { headers: admin })).json()) as { items: { source: string; reason: string }[] };
    expect(letters.items.map((l) => [l.source, l.reason])).toEqual([
      [`kafka/${o.org}.runs`, "the record: not valid JSON"],
      [`kafka/${o.org}.runs`, "the record: nested 50001 levels deep, more than the 128 portside reads"],
      [`kafka/${o.org}.runs`, "the record: empty (a message without a value)"],
    ]);
    const stats = (await (await fetch(`${portside.url}/admin/stats`, { headers: admin })).json()) as {
      ingresses: { kafka: { status: string; lag: Record<string, number> } };
    };
    expect(stats.ingresses.kafka.status).toBe("consuming");
    expect(stats.ingresses.kafka.lag[`${o.org}.runs/0`]).toBe(0);
    await portside.stop();
  }, 120_000);
});
