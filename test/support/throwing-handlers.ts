import { defineHandlers } from "../../src/targets/define.ts";

/** A handler whose error comes from a helper it calls: its stack names this file and the lines below. */
async function callClusterApi(cluster: string): Promise<never> {
  await Promise.resolve();
  throw new Error(`cluster ${cluster} unreachable`);
}

export default defineHandlers({
  runs: {
    deploy: async (run) => {
      await callClusterApi(String(run.inputs.version));
      return { summary: "never" };
    },
  },
});
