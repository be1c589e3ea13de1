import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { Kafka, logLevel, Partitioners, type Producer } from "kafkajs";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import type { LambdaKafkaEvent, LambdaKafkaRecord } from "../../src/ingress/lambda.ts";
import { createRedisLedger } from "../../src/ledger/redis.ts";
import { runMessage } from "../support/harness.ts";
import { createTopics, getKafka } from "../support/kafka.ts";
import { readExecutions } from "../support/recording-handlers.ts";
import { getRedis } from "../support/redis.ts";

/**
 * The AWS Lambda function as it is deployed: `npm run build:lambda` bundles the handler module, Node.js
 * (not Bun) loads `dist/lambda/index.mjs` and invokes `handler` with MSK and self-managed Kafka events
 * made of records read off a real broker (their offsets, timestamps, keys and headers), on a Redis ledger,
 * reporting to the Port emulator over loopback.
 */
const repo = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "portside-lambda-"));
const org = `org_lambda_${randomBytes(3).toString("hex")}`;
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
const execLog = join(dir, "executions.log");
let brokers: string[];
let producer: Producer;
let ledgerUrl: string;

beforeAll(async () => {
  brokers = (await getKafka()).brokers;
  await createTopics(brokers, [`${org}.runs`, `${org}.change.log`], 2);
  producer = new Kafka({ brokers, clientId: "lambda-e2e", logLevel: logLevel.NOTHING }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const redis = await getRedis();
  ledgerUrl = `${redis.url}/${1 + Math.floor(Math.random() * 14)}`;
  const client = new Redis(ledgerUrl);
  await client.flushdb();
  await client.quit();
  const build = Bun.spawnSync(["bun", "connectors/aws/build.ts", "--out", join(dir, "dist")], {
    cwd: repo,
    env: { ...process.env, HANDLERS: "test/support/recording-handlers.ts" },
  });
  if (build.exitCode !== 0) throw new Error(`build:lambda failed: ${build.stderr.toString()}`);
}, 180_000);

afterAll(async () => {
  await producer?.disconnect();
  emulatorServer.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

/** Produces the values (with a key and a header each) and reads them back as Lambda hands records over. */
async function throughBroker(topic: string, values: string[]): Promise<LambdaKafkaRecord[]> {
  await producer.send({
    topic,
    acks: -1,
    messages: values.map((value, i) => ({ key: `k${i}`, value, headers: { "x-trace": `trace-${i}` } })),
  });
  const consumer = new Kafka({ brokers, clientId: "lambda-e2e-reader", logLevel: logLevel.NOTHING }).consumer({
    groupId: `${org}.reader-${randomBytes(3).toString("hex")}`,
  });
  const records: LambdaKafkaRecord[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      records.push({
        topic,
        partition,
        offset: Number(message.offset),
        timestamp: Number(message.timestamp),
        timestampType: "CREATE_TIME",
        key: message.key?.toString("base64") ?? null,
        value: message.value?.toString("base64") ?? null,
        headers: Object.entries(message.headers ?? {}).map(([name, value]) => ({ [name]: [...Buffer.from(value as Buffer)] })),
      });
    },
  });
  const deadline = Date.now() + 30_000;
  while (records.length < values.length && Date.now() < deadline) await Bun.sleep(20);
  await consumer.disconnect();
  // The topic may hold records of an earlier test: only this send's.
  const wanted = new Set(values.map((v) => Buffer.from(v).toString("base64")));
  return records.filter((r) => r.value !== null && r.value !== undefined && wanted.has(r.value));
}

function kafkaEvent(eventSource: LambdaKafkaEvent["eventSource"], records: LambdaKafkaRecord[]): LambdaKafkaEvent {
  const grouped: Record<string, LambdaKafkaRecord[]> = {};
  for (const record of records) {
    const key = `${record.topic}-${record.partition}`;
    grouped[key] = [...(grouped[key] ?? []), record];
  }
  return {
    eventSource,
    ...(eventSource === "aws:kafka" ? { eventSourceArn: "arn:aws:kafka:eu-west-1:123456789012:cluster/port/0a1b2c3d-4e5f" } : {}),
    bootstrapServers: brokers.join(","),
    records: grouped,
  };
}

type Outcome = { ok: true; result: unknown; node: string; bun: string | null } | { ok: false; error: string };

/** Invocations of one instance (one Node.js process), each with an event and the time the invocation has left. */
async function invoke(...invocations: [LambdaKafkaEvent, number][]): Promise<Outcome[]> {
  const args: string[] = [];
  invocations.forEach(([event, remainingMs], i) => {
    const file = join(dir, `event-${randomBytes(4).toString("hex")}-${i}.json`);
    writeFileSync(file, JSON.stringify(event));
    args.push(file, String(remainingMs));
  });
  const child = Bun.spawn(["node", join(repo, "test/support/lambda-invoke.mjs"), join(dir, "dist/index.mjs"), ...args], {
    env: {
      PATH: process.env.PATH ?? "",
      ORG_ID: org,
      PORT_API_URL: `http://127.0.0.1:${emulatorServer.port}`,
      PORT_CLIENT_ID: "emulator-client-id",
      PORT_CLIENT_SECRET: "emulator-client-secret",
      LEDGER: ledgerUrl,
      EXEC_LOG: execLog,
      // A report claimed by an instance that vanished goes out again this soon (the default is 2 minutes).
      REPORT_LEASE_MS: "2000",
      LOG_LEVEL: "warn",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  await child.exited;
  const outcomes = out
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Outcome);
  if (outcomes.length !== invocations.length) throw new Error(`the function did not answer every invocation:\n${out}\n${err}`);
  return outcomes;
}

const executions = () => readExecutions(existsSync(execLog) ? readFileSync(execLog, "utf8") : "");

describe("the AWS Lambda function on Node.js", () => {
  test("MSK and self-managed Kafka events off the broker: runs reach SUCCESS, a change is handled, poison is parked without failing the invocation", async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `r_lambda_ok_${i}`);
    for (const id of [...ids, "r_lambda_bad"]) emulator.state.declareRun(id);
    const runs = await throughBroker(`${org}.runs`, [
      ...ids.map((id) => JSON.stringify(runMessage(id, "deploy", { orgId: org }))),
      '{"not json": }',
      JSON.stringify({ ...runMessage("r_lambda_bad", "deploy", { orgId: org }), payload: 7 }),
    ]);
    const change = {
      action: "UPDATE",
      resourceType: "entity",
      status: "SUCCESS",
      trigger: { by: { orgId: org, userId: "u@clients" }, origin: "API", at: new Date().toISOString() },
      context: { entity: "svc-lambda", blueprint: "microservice" },
      diff: { before: { identifier: "svc-lambda" }, after: { identifier: "svc-lambda", properties: { n: 1 } } },
    };
    const changes = await throughBroker(`${org}.change.log`, [JSON.stringify(change)]);
    expect(runs).toHaveLength(10);
    expect(new Set(runs.map((r) => r.partition)).size).toBe(2);

    const [msk, selfManaged] = await invoke([kafkaEvent("aws:kafka", runs), 30_000], [kafkaEvent("SelfManagedKafka", changes), 30_000]);
    expect(msk).toMatchObject({ ok: true, result: { batchItemFailures: [] }, bun: null });
    expect(selfManaged).toMatchObject({ ok: true, result: { batchItemFailures: [] } });

    // Returned only once Port was told: every run is terminal at the emulator when the invocation answers.
    for (const id of ids) expect(emulator.state.terminalStatus(id)).toBe("SUCCESS");
    expect(emulator.state.terminalStatus("r_lambda_bad")).toBe("FAILURE");
    const { starts, changes: seen } = executions();
    for (const id of ids) expect(starts.get(id)).toBe(1);
    expect(starts.has("r_lambda_bad")).toBe(false);
    expect(seen).toEqual(["microservice/svc-lambda UPDATE"]);
    const ledger = createRedisLedger({ url: ledgerUrl });
    try {
      const parked = await ledger.listDeadLetters();
      expect(parked.map((l) => l.runId).sort()).toEqual([null, "r_lambda_bad"].sort());
      expect(parked.every((l) => l.source === `lambda/${org}.runs`)).toBe(true);
    } finally {
      await ledger.close();
    }
  }, 120_000);

  test("Port unreachable past the invocation's deadline: it throws; the retry, on a new instance, reports the runs without executing any twice", async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `r_lambda_outage_${i}`);
    for (const id of ids) emulator.state.declareRun(id);
    const records = await throughBroker(
      `${org}.runs`,
      ids.map((id) => JSON.stringify(runMessage(id, "deploy", { orgId: org }))),
    );
    const event = kafkaEvent("SelfManagedKafka", records);

    emulator.state.failNext(1_000_000, 503);
    const [first] = await invoke([event, 3_000]);
    expect(first?.ok).toBe(false);
    expect(first && !first.ok && first.error).toMatch(/not finished before the invocation's deadline .*reports to Port undelivered.*delivers the batch again/);
    // The handlers ran; Port heard nothing.
    for (const id of ids) {
      expect(executions().starts.get(id)).toBe(1);
      expect(emulator.state.terminalStatus(id)).toBeUndefined();
    }

    emulator.state.faults.length = 0;
    const [retry] = await invoke([event, 30_000]);
    expect(retry).toMatchObject({ ok: true, result: { batchItemFailures: [] } });
    for (const id of ids) {
      expect(emulator.state.terminalStatus(id)).toBe("SUCCESS");
      expect(executions().starts.get(id)).toBe(1);
    }
  }, 120_000);
});
