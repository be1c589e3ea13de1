import { appendFileSync } from "node:fs";
import { defineHandlers } from "../../src/targets/define.ts";
import recording from "./recording-handlers.ts";

/**
 * The recording handlers (EXEC_LOG), and `verify`: a handler with `sync: true`, for a `synchronized` action
 * Port calls by webhook. It fails when asked to (`inputs.fail`), so a test sees both answers.
 */
const log = process.env.EXEC_LOG ?? "/dev/null";

export default defineHandlers({
  ...recording,
  runs: {
    ...recording.runs,
    verify: {
      sync: true,
      handle: async (run) => {
        appendFileSync(log, `start ${run.id} ${process.pid}\n`);
        if (run.inputs.fail === true) throw new Error("the check failed");
        appendFileSync(log, `end ${run.id} ${process.pid}\n`);
        return { summary: `verified ${run.id}` };
      },
    },
  },
});
