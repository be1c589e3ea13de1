/**
 * CPU cost of one PutEvents call through the AWS SDK, without the rest of portside:
 * `bun test/bench/putevents-cost.ts [calls]`. Sends 10-entry calls of ~2 KB change events (the size of
 * portside's events for a catalog change) to the benchmark's PutEvents server, 50 in flight, with the
 * client portside builds (`createEventBridgeClient`), and prints CPU (user + system) per call and per
 * entry. The server is a process of its own, so its time is not counted.
 */
import { createEventBridgeClient, sendWith } from "../../src/targets/eventbridge/publisher.ts";
import { startScript, stopAll } from "./procs.ts";

const calls = Number(process.argv[2] ?? 2_000);
const server = await startScript("eventbridge.ts", "PutEvents server");
const send = sendWith(
  createEventBridgeClient({
    region: "eu-west-1",
    endpoint: server.url,
    credentials: { accessKeyId: "AKIDBENCHMARK", secretAccessKey: "benchmark-not-a-secret" },
  }),
);
const detail = (i: number) =>
  JSON.stringify({ version: 1, kind: "change", idempotencyKey: `key-${i}`, change: { padding: "c".repeat(800) }, raw: { padding: "r".repeat(900) } });
const entries = Array.from({ length: 10 }, (_, i) => ({
  Source: "portside",
  DetailType: "port.change.entity.microservice.UPDATE",
  Detail: detail(i),
  EventBusName: "bench",
  Time: new Date(),
}));
for (let i = 0; i < 200; i++) await send(entries);
const before = process.cpuUsage();
const started = performance.now();
let sent = 0;
await Promise.all(
  Array.from({ length: 50 }, async () => {
    while (sent < calls) {
      sent++;
      await send(entries);
    }
  }),
);
const used = process.cpuUsage(before);
const us = (used.user + used.system) / calls;
console.log(
  `${us.toFixed(0)} µs of CPU per 10-entry call (${(us / 10).toFixed(0)} per entry); ${(calls / ((performance.now() - started) / 1000)).toFixed(0)} calls/s`,
);
await stopAll();
