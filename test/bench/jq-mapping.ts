/**
 * jq speed for agent mappings: requests built per second with the agent's default mapping (one jq program
 * per run, through the jq host), on whichever runtime runs this:
 *   bun test/bench/jq-mapping.ts            deno run -A test/bench/jq-mapping.ts
 * BENCH_SECONDS (default 5) per measurement.
 */
import process from "node:process";
import { agentMessageOf } from "../../src/targets/webhook/agent-message.ts";
import { createJqEngine } from "../../src/targets/webhook/jq.ts";
import { loadMappingFile } from "../../src/targets/webhook/mapping.ts";
import { createMappingEvaluator } from "../../src/targets/webhook/mapping-eval.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const jq = createJqEngine();
const { mappings } = await loadMappingFile(new URL("../../src/targets/webhook/default-mapping.json", import.meta.url).pathname);
const evaluator = createMappingEvaluator({ jq, mappings, env: { GITLAB_URL: "https://gitlab.example/", acme_platform_svc: "tok" } });
const gitlab = agentMessageOf(
  {
    context: { runId: "r_1" },
    payload: {
      action: { invocationMethod: { type: "GITLAB", agent: true, groupName: "acme/platform", projectName: "svc" } },
      properties: { ref: "main", cpu: 2, tags: ["a", "b"], meta: { k: "v" } },
    },
  },
  "r_1",
);
const webhook = agentMessageOf({ id: "r_2", payload: { type: "WEBHOOK", agent: true, url: "https://svc.example/run", body: { cpu: 2 } } }, "r_2");
const startMs = Date.now();
await jq.version();
console.log(`jq host started in ${Date.now() - startMs} ms`);
for (const [name, message] of [
  ["GITLAB run (mapping #1: 5 jq fields + enabled)", gitlab],
  ["WEBHOOK run (mapping #2: enabled #1 false, 2 jq fields)", webhook],
] as const) {
  let count = 0;
  const until = Date.now() + seconds * 1000;
  const begin = performance.now();
  while (Date.now() < until) {
    await evaluator.request(message);
    count++;
  }
  console.log(`${name}: ${Math.round(count / ((performance.now() - begin) / 1000))} requests built/s`);
}
await jq.close();
