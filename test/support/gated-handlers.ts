import { appendFileSync, existsSync } from "node:fs";
import { defineHandlers } from "../../src/targets/define.ts";

/**
 * A handler for tests that run portside as a real process and need a run to hold its slot: `deploy` appends
 * `start <id> <attempt> <pid>` to EXEC_LOG, then waits while the file GATE_FILE exists. No change rules, so a
 * ROUTES file can send every change to EventBridge only.
 */
const log = process.env.EXEC_LOG ?? "/dev/null";
const gate = process.env.GATE_FILE ?? "";

export default defineHandlers({
  runs: {
    deploy: async (run) => {
      appendFileSync(log, `start ${run.id} ${run.attempt} ${process.pid}\n`);
      while (gate && existsSync(gate)) await new Promise((resolve) => setTimeout(resolve, 20));
      return { summary: `ok ${run.id}` };
    },
  },
});
