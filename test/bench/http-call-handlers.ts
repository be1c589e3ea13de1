import { defineHandlers } from "../../src/targets/define.ts";

/**
 * The handler module of test/bench/cpu-per-run.ts: the action `bench` makes one HTTP call (a POST to
 * BENCH_RECEIVER_URL, test/bench/receiver.ts on loopback) and succeeds. Written against the handler API that
 * dd85958 already had, so the same file runs in every revision the harness compares.
 */
const url = process.env.BENCH_RECEIVER_URL ?? "";

export default defineHandlers({
  runs: {
    bench: async (run) => {
      const res = await fetch(url, { method: "POST", body: JSON.stringify({ context: { runId: run.id } }), headers: { "content-type": "application/json" } });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`the receiver answered ${res.status}`);
    },
  },
});
