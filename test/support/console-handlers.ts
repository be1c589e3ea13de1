import { existsSync } from "node:fs";
import { defineHandlers } from "../../src/targets/define.ts";

/**
 * Handlers for the console's browser test: `deploy` succeeds, `break` fails with a reason to read, and the
 * change handler fails while the file CONSOLE_FAIL_FLAG exists (so a parked change can be replayed once
 * the "fix" is in).
 */
const flag = process.env.CONSOLE_FAIL_FLAG ?? "";

export default defineHandlers({
  runs: {
    deploy: async (run) => {
      await run.log("deploying");
      return { summary: `deployed ${run.id}` };
    },
    break: async () => {
      throw new Error("the disk is full");
    },
  },
  changes: [
    {
      handle: () => {
        if (flag && existsSync(flag)) throw new Error("the change handler is not fixed yet");
      },
    },
  ],
});
