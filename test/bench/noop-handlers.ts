import { appendFileSync } from "node:fs";
import { defineHandlers } from "../../src/targets/define.ts";

/**
 * The benchmark's handler module: the actions `bench` (runs posted to the sink) and `deploy` (runs polled
 * from Port or sent as its signed webhooks, phase 11) do nothing and return nothing (→ SUCCESS, one
 * terminal PATCH). With BENCH_START_LOG set, it also notes when each handler started (`<runId> <epoch ms>`
 * lines, buffered and appended every 50 ms) so the Kafka phase can measure produce → handler start.
 */
const startLog = process.env.BENCH_START_LOG;
let buffer: string[] = [];
if (startLog) {
  setInterval(() => {
    if (buffer.length === 0) return;
    const lines = buffer.join("");
    buffer = [];
    appendFileSync(startLog, lines);
  }, 50);
}

const noop = startLog
  ? (run: { id: string }) => {
      buffer.push(`${run.id} ${Date.now()}\n`);
    }
  : () => {};

export default defineHandlers({ runs: { bench: noop, deploy: noop } });
