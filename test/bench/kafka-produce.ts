/**
 * The Kafka phase's load generator (a process of its own): produces runs to ORG_ID.runs the way Port
 * does (keyed by run id, acks=all) and prints one line of JSON. `bun test/bench/kafka-produce.ts '<json>'`
 *   burst  `count` runs as fast as the producer goes, 500 per request
 *   paced  `perSec` runs a second for `durationMs`, one record per request; each run id ends in
 *          `_<epoch ms>` of its produce call, so the handler's start can be compared with it
 */
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { recordFactory } from "./messages.ts";

interface Options {
  mode: "burst" | "paced";
  brokers: string[];
  topic: string;
  orgId: string;
  idPrefix: string;
  count?: number;
  perSec?: number;
  durationMs?: number;
}

const o = JSON.parse(process.argv[2] ?? "{}") as Options;
const record = recordFactory(o.orgId);
const producer = new Kafka({ brokers: o.brokers, clientId: "portside-bench", logLevel: logLevel.ERROR }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
const started = Date.now();
let produced = 0;
if (o.mode === "burst") {
  const count = o.count ?? 10_000;
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += 500) {
    const messages = [];
    for (let j = i; j < Math.min(count, i + 500); j++) {
      const id = `${o.idPrefix}${j.toString(36)}`;
      messages.push({ key: id, value: record(id) });
    }
    inFlight.push(producer.send({ topic: o.topic, acks: -1, messages }));
    produced += messages.length;
    if (inFlight.length >= 8) await inFlight.shift();
  }
  await Promise.all(inFlight);
} else {
  const perSec = o.perSec ?? 200;
  const end = started + (o.durationMs ?? 10_000);
  const interval = 1000 / perSec;
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; ; i++) {
    const intended = started + i * interval;
    if (intended >= end) break;
    const wait = intended - Date.now();
    if (wait > 0) await Bun.sleep(wait);
    const id = `${o.idPrefix}${i.toString(36)}_${Date.now()}`;
    const p = producer.send({ topic: o.topic, acks: -1, messages: [{ key: id, value: record(id) }] }).then(() => void inFlight.delete(p));
    inFlight.add(p);
    produced++;
  }
  await Promise.all(inFlight);
}
const seconds = (Date.now() - started) / 1000;
await producer.disconnect();
console.log(JSON.stringify({ mode: o.mode, produced, startedAt: started, seconds }));
