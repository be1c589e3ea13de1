import { defineHandlers } from "../../src/targets/define.ts";
import { eventBridge } from "../../src/targets/eventbridge/target.ts";

/** The benchmark's fan-out module: every catalog change goes to EventBridge (the bus from EVENTBRIDGE_BUS). */
export default defineHandlers({
  changes: [{ to: eventBridge() }],
});
