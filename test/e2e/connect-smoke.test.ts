import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { deleteConnector, readConnectorFile, registerConnector, substituteEnv } from "../../connectors/register.ts";
import { getConnect, type ConnectForTests } from "../support/connect.ts";
import { createTopics, getKafka } from "../support/kafka.ts";

// Real broker + real Connect worker + the stand-in HTTP sink, delivering to a receiver that only
// records what arrives. Proves the plumbing portside sits behind, not portside itself.

interface Delivery {
  path: string;
  status: number;
  authorization: string | null;
  body: Buffer;
}

const deliveries: Delivery[] = [];
/** path → how many more requests to answer 503 before answering 200. */
const failFirst = new Map<string, number>();

let receiver: ReturnType<typeof Bun.serve>;
let connect: ConnectForTests;
const registered: string[] = [];
const runsConnector = readConnectorFile(fileURLToPath(new URL("../../connectors/standin/runs.local.json", import.meta.url)));

beforeAll(async () => {
  receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      const left = failFirst.get(path) ?? 0;
      if (left > 0) failFirst.set(path, left - 1);
      const status = left > 0 ? 503 : 200;
      deliveries.push({ path, status, authorization: request.headers.get("authorization"), body: Buffer.from(await request.arrayBuffer()) });
      return new Response(null, { status });
    },
  });
  let started = Date.now();
  const kafka = await getKafka();
  console.log(`[connect-smoke] Kafka via ${kafka.via} (${kafka.brokers.join(",")}) ready in ${Date.now() - started} ms`);
  started = Date.now();
  connect = await getConnect();
  console.log(`[connect-smoke] Connect via ${connect.via} (${connect.url}) ready in ${Date.now() - started} ms`);
}, 180_000);

afterAll(async () => {
  for (const name of registered) await deleteConnector(connect.url, name).catch(() => undefined);
  receiver?.stop(true);
});

/** Registers the committed runs connector for a fresh org whose deliveries land under /<org>/. */
async function startRunsSink(org: string, token: string): Promise<void> {
  await createTopics(connect.brokers, [`${org}.runs`]);
  const env = { ORG_ID: org, PORTSIDE_URL: `http://127.0.0.1:${receiver.port}/${org}`, SINK_TOKEN: token };
  const status = await registerConnector(connect.url, runsConnector, { env, timeoutMs: 60_000 });
  registered.push(status.name);
}

async function produce(topic: string, values: string[]): Promise<void> {
  const kafka = new Kafka({ brokers: connect.brokers, clientId: "connect-smoke", logLevel: logLevel.ERROR });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) });
  } finally {
    await producer.disconnect();
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

const to = (org: string) => deliveries.filter((d) => d.path === `/${org}/sink/runs`);
const newOrg = (label: string) => `org_${label}_${randomBytes(4).toString("hex")}`;
const newToken = () => `tok_${randomBytes(16).toString("hex")}`;

describe("Kafka Connect HTTP sink → receiver", () => {
  test("delivers each record's bytes verbatim, in order, with the bearer token", async () => {
    const org = newOrg("smoke");
    const token = newToken();
    await startRunsSink(org, token);
    const values = [
      JSON.stringify({ action: "create_vm", context: { runId: "r_1" } }),
      JSON.stringify({ action: "create_vm", context: { runId: "r_2" }, payload: { properties: { note: "Grüße, 東京 🚀 — ½" } } }),
      JSON.stringify({ action: "delete_vm", context: { runId: "r_3" } }),
    ];
    const producedAt = Date.now();
    await produce(`${org}.runs`, values);

    await until(() => to(org).length >= values.length, "3 deliveries");
    console.log(`[connect-smoke] produce → 3 deliveries: ${Date.now() - producedAt} ms`);
    await Bun.sleep(1_000); // room for a duplicate to show up, if the sink were to send one
    const received = to(org);
    expect(received.map((d) => d.body)).toEqual(values.map((v) => Buffer.from(v, "utf8")));
    expect(received.map((d) => d.authorization)).toEqual(values.map(() => `Bearer ${token}`));
  }, 120_000);

  test("a 503 is retried with the identical body until the receiver accepts it", async () => {
    const org = newOrg("retry");
    const token = newToken();
    failFirst.set(`/${org}/sink/runs`, 2);
    await startRunsSink(org, token);
    const value = JSON.stringify({ action: "create_vm", context: { runId: "r_retry" }, payload: { properties: { city: "Zürich" } } });
    await produce(`${org}.runs`, [value]);

    await until(() => to(org).some((d) => d.status === 200), "an accepted delivery");
    await Bun.sleep(1_000);
    const received = to(org);
    expect(received.map((d) => d.status)).toEqual([503, 503, 200]);
    for (const delivery of received) {
      expect(delivery.body).toEqual(Buffer.from(value, "utf8"));
      expect(delivery.authorization).toBe(`Bearer ${token}`);
    }
  }, 120_000);

  test("every committed connector file parses and fills from the documented variables", () => {
    const root = fileURLToPath(new URL("../../connectors/", import.meta.url));
    const env = {
      ORG_ID: "org_x",
      PORTSIDE_URL: "http://127.0.0.1:1",
      SINK_TOKEN: "t",
      KAFKA_BROKERS: "127.0.0.1:2",
      KAFKA_USERNAME: "u",
      KAFKA_PASSWORD: "p",
      WORKER_KAFKA_BROKERS: "127.0.0.1:3",
    };
    const files = ["standin", "camel", "aiven", "confluent"].flatMap((dir) =>
      readdirSync(join(root, dir))
        .filter((f) => f.endsWith(".json"))
        .map((f) => join(root, dir, f)),
    );
    expect(files.length).toBe(14);
    for (const path of files) {
      const filled = substituteEnv(readConnectorFile(path), env);
      expect(JSON.stringify(filled)).not.toContain(`\${ORG_ID}`);
      expect(filled.name).toMatch(/^portside-org_x-(runs|changes)$/);
      expect(filled.config.topics).toBe(filled.name.endsWith("runs") ? "org_x.runs" : "org_x.change.log");
      if (path.includes("port-cloud")) expect(filled.config["consumer.override.group.id"]).toStartWith("org_x.");
    }
  });
});
