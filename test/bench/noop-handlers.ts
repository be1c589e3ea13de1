import { appendFileSync } from "node:fs";
import { defineHandlers } from "../../src/targets/define.ts";

/**
 * The benchmark's handler module: the action `bench` does nothing and returns nothing (→ SUCCESS, one
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

export default defineHandlers({
  runs: {
    bench: startLog
      ? (run) => {
          buffer.push(`${run.id} ${Date.now()}\n`);
        }
      : () => {},
  },
});
