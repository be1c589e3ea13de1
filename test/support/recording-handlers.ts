import { appendFileSync } from "node:fs";
import { defineHandlers } from "../../src/targets/define.ts";

/**
 * Handlers for tests that run portside as a real process. Each execution is appended synchronously to
 * EXEC_LOG (`start <id> <pid>` / `end <id> <pid>`, `change <blueprint>/<identifier> <action> <pid>`), so a
 * test can count executions across crashes, restarts and replicas.
 */
const log = process.env.EXEC_LOG ?? "/dev/null";
const delayMs = Number(process.env.HANDLER_DELAY_MS ?? 2);

export default defineHandlers({
  runs: {
    deploy: async (run) => {
      appendFileSync(log, `start ${run.id} ${process.pid}\n`);
      // setTimeout, not Bun.sleep: the same module runs in the Lambda bundle on Node.js.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * delayMs));
      await run.log(`deployed ${run.id}`);
      appendFileSync(log, `end ${run.id} ${process.pid}\n`);
      return { summary: `ok ${run.id}` };
    },
  },
  changes: [
    {
      match: { resourceType: "entity" },
      handle: (change) => {
        appendFileSync(log, `change ${change.blueprint}/${change.identifier} ${change.action} ${process.pid}\n`);
      },
    },
  ],
});

/** Reads EXEC_LOG back: executions started and finished per run id, and changes seen. */
export function readExecutions(text: string) {
  const starts = new Map<string, number>();
  const ends = new Set<string>();
  const changes: string[] = [];
  for (const line of text.split("\n")) {
    const [kind, id, action] = line.split(" ");
    if (!id) continue;
    if (kind === "start") starts.set(id, (starts.get(id) ?? 0) + 1);
    else if (kind === "end") ends.add(id);
    else if (kind === "change") changes.push(`${id} ${action}`);
  }
  return { starts, ends, changes };
}
