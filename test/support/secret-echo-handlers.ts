import { defineHandlers } from "../../src/targets/define.ts";

/**
 * A handler for tests of secret inputs: it says in the run's log how long the clear `token` input is —
 * proof that it was decrypted — without ever writing the value anywhere.
 */
export default defineHandlers({
  runs: {
    deploy: async (run) => {
      const token = run.inputs.token;
      if (typeof token === "string") await run.log(`token of ${token.length} characters`);
      return { summary: `ran with version ${String(run.inputs.version)}` };
    },
  },
});
