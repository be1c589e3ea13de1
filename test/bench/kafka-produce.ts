/**
 * The Kafka phase's load generator (a process of its own): produces runs to ORG_ID.runs the way Port
 * does (keyed by run id, acks=all) and prints one line of JSON. `bun test/bench/kafka-produce.ts '<json>'`
 *   burst  `count` runs as fast as the producer goes, 500 per request
 *   paced  `perSec` runs a second for `durationMs`; each run id ends in `_<epoch ms>` of the moment it
 *          came due (was handed to the producer), so the handler's start can be compared with it
 * Runs are first declared at the Port emulator (`declareUrl`), as Port knows its runs before it publishes
 * them: all of them before the first is produced, so declaring is never timed.
 */
import { Kafka, logLevel, Partitioners } from "kafkajs";
import "../../src/shared/kafkajs-patch.ts";
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
  declareUrl: string;
}

const o = JSON.parse(process.argv[2] ?? "{}") as Options;
const record = recordFactory(o.orgId);
const producer = new Kafka({ brokers: o.brokers, clientId: "portside-bench", logLevel: logLevel.ERROR }).producer({
  createPartitioner: Partitioners.DefaultPartitioner,
});
await producer.connect();
async function declare(ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 1_000) {
    const res = await fetch(`${o.declareUrl}/emulator/runs`, { method: "POST", body: JSON.stringify({ ids: ids.slice(i, i + 1_000) }) });
    if (!res.ok) throw new Error(`the emulator refused to declare runs: ${res.status} ${await res.text()}`);
  }
}
let started = Date.now();
let produced = 0;
/** Produce → broker acknowledgement (acks=all), paced mode. */
let ackMs: { p50: number; p99: number } | undefined;
if (o.mode === "burst") {
  const count = o.count ?? 10_000;
  await declare(Array.from({ length: count }, (_, j) => `${o.idPrefix}${j.toString(36)}`));
  started = Date.now();
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
  // Like Kafka's Java producer (and so Port's publisher): one request in flight, and what comes due
  // meanwhile goes out together in the next one. kafkajs sends one request per send() call, and a few
  // hundred of them outstanding at once queue up in the client; this keeps the client's own queueing
  // out of the figure. Each run id carries the time the run came due, so that queueing still counts.
  const perSec = o.perSec ?? 200;
  const interval = 1000 / perSec;
  const count = Math.ceil(((o.durationMs ?? 10_000) * perSec) / 1000);
  // Ids carry the time they come due, so the schedule is fixed first, then declared, then started.
  started = Date.now() + 2_000 + count / 10;
  const end = started + (o.durationMs ?? 10_000);
  const idAt = (i: number) => `${o.idPrefix}${i.toString(36)}_${Math.round(started + i * interval)}`;
  await declare(Array.from({ length: count }, (_, i) => idAt(i)).filter((_, i) => started + i * interval < end));
  if (Date.now() < started) await Bun.sleep(started - Date.now());
  const acks: number[] = [];
  let due: Array<{ key: string; value: string }> = [];
  let sending: Promise<void> | undefined;
  const flush = () => {
    if (sending || due.length === 0) return;
    const messages = due;
    due = [];
    const sentAt = Date.now();
    sending = producer.send({ topic: o.topic, acks: -1, messages }).then(() => {
      acks.push(Date.now() - sentAt);
      sending = undefined;
      flush();
    });
  };
  for (let i = 0; ; i++) {
    const intended = started + i * interval;
    if (intended >= end) break;
    const wait = intended - Date.now();
    if (wait > 0) await Bun.sleep(wait);
    const id = idAt(i);
    due.push({ key: id, value: record(id) });
    produced++;
    flush();
  }
  while (sending || due.length > 0) {
    flush();
    await sending;
  }
  acks.sort((a, b) => a - b);
  ackMs = { p50: acks[Math.floor(acks.length / 2)] ?? NaN, p99: acks[Math.ceil(acks.length * 0.99) - 1] ?? NaN };
}
const seconds = (Date.now() - started) / 1000;
await producer.disconnect();
console.log(JSON.stringify({ mode: o.mode, produced, startedAt: started, seconds, ackMs }));
