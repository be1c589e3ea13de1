import { defineHandlers } from "../../src/targets/define.ts";

/**
 * Handlers that misbehave outside their promise, for the test of what portside logs then: `leak` leaves a
 * rejected promise nobody handles; `bomb` throws from a timer after it returned.
 */
export default defineHandlers({
  runs: {
    leak: async () => {
      void Promise.reject(new Error("a stray promise"));
      return { summary: "leaked" };
    },
    bomb: async () => {
      setTimeout(() => {
        throw new Error("boom, later");
      }, 20);
      return { summary: "armed" };
    },
  },
});
