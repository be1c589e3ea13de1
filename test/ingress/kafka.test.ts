import { randomBytes } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { createKafkaIngress } from "../../src/ingress/kafka.ts";
import { createLogger } from "../../src/log.ts";
import { ORG } from "../support/harness.ts";
import { runIdsIn } from "../support/run-ids.ts";
import { createTopics, getKafka } from "../support/kafka.ts";
import { ingressContract } from "./contract.ts";

/**
 * The built-in Kafka consumer under the ingress contract: a batch is produced to its own topic, and the
 * sender's ack is the consumer group's committed offset reaching the end of what was produced.
 */
ingressContract("Kafka consumer", async (h) => {
  const { brokers } = await getKafka();
  const topic = `${ORG}.runs.contract-${randomBytes(4).toString("hex")}`;
  const groupId = `${ORG}.contract-${randomBytes(4).toString("hex")}`;
  await createTopics(brokers, [topic], 1);
  const kafka = new Kafka({ brokers, clientId: "contract", logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
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
    },
    ingest: h.service.ingest,
    logger: createLogger({ level: "debug", sink: (line) => h.logs.push(line) }),
    retry: { initialMs: 50, maxMs: 200, factor: 2, maxAttempts: Infinity },
  });
  await ingress.start();
  let produced = 0;
  return {
    async deliver(values) {
      // Port has a run before it publishes its message: the emulator knows these ids.
      for (const id of runIdsIn(values.join("\n"))) h.emulator.state.declareRun(id);
      await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) });
      produced += values.length;
      const deadline = Date.now() + 4_000;
      while (Date.now() < deadline) {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
        if (Number(offsets?.partitions[0]?.offset ?? -1) >= produced) return { acked: true };
        await Bun.sleep(50);
      }
      return { acked: false };
    },
    async close() {
      await ingress.stop();
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    },
  };
});
