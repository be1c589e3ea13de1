/**
 * A stand-in for the Kafka Connect HTTP sink, a process of its own for test/bench/cpu-per-run.ts: it reads a
 * topic from the beginning (a consumer group of its own) and posts its records to portside's `/sink/runs` as
 * JSON arrays of up to 100, one request at a time per partition, committing once portside answered 200 (as
 * the connector does). `bun test/bench/kafka-forward.ts '<json: brokers, topic, url, token>'`; prints `ready`
 * once it has joined its group. Used where the revision measured has no built-in consumer (dd85958).
 */
import { Kafka, logLevel } from "kafkajs";
import "../../src/shared/kafkajs-patch.ts";

const o = JSON.parse(process.argv[2] ?? "{}") as { brokers: string[]; topic: string; url: string; token: string };
const kafka = new Kafka({ brokers: o.brokers, clientId: "portside-bench-forward", logLevel: logLevel.ERROR });
const consumer = kafka.consumer({ groupId: `bench-forward-${o.topic}`, maxWaitTimeInMs: 50 });
consumer.on(consumer.events.GROUP_JOIN, () => console.log("ready"));
await consumer.connect();
await consumer.subscribe({ topic: o.topic, fromBeginning: true });
await consumer.run({
  eachBatchAutoResolve: false,
  eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
    for (let i = 0; i < batch.messages.length; i += 100) {
      const slice = batch.messages.slice(i, i + 100);
      const body = `[${slice.map((m) => m.value?.toString() ?? "null").join(",")}]`;
      for (;;) {
        const res = await fetch(`${o.url}/sink/runs`, {
          method: "POST",
          body,
          headers: { authorization: `Bearer ${o.token}`, "content-type": "application/json" },
        });
        await res.arrayBuffer();
        if (res.ok) break;
        await Bun.sleep(100);
      }
      resolveOffset(slice[slice.length - 1]?.offset as string);
      await heartbeat();
    }
  },
});
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => void consumer.disconnect().finally(() => process.exit(0)));
