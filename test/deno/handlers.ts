import { defineHandlers } from "../../src/targets/define.ts";

export default defineHandlers({
  runs: {
    deploy: async (run) => {
      await run.log(`hello from ${"Deno" in globalThis ? "deno" : "somewhere else"}`);
      return { summary: "Deno" in globalThis ? "ran on deno" : "not deno" };
    },
  },
});
