import deployFixture from "../messages/fixtures/runs/legacy-day2.json" with { type: "json" };
import createVmFixture from "../messages/fixtures/runs/legacy-create.json" with { type: "json" };
import vmUpdateFixture from "../messages/fixtures/changes/entity-update.json" with { type: "json" };
import type { PortEmulatorState } from "../emulator/port-emulator.ts";
import type { Logger } from "../log.ts";

/**
 * `npm run demo`: portside on its embedded defaults (SQLite ledger, example handlers, the local Port
 * emulator), then a few sample Port messages posted to its own sink, and what the emulator recorded.
 */

/** Credentials the local Port emulator accepts. They open nothing but the emulator. */
export const EMULATOR_CREDENTIALS = { clientId: "emulator-client-id", clientSecret: "emulator-client-secret" } as const;

export const demoDefaults: Record<string, string> = {
  ORG_ID: "org_portside_demo",
  HANDLERS: new URL("../examples/handlers.ts", import.meta.url).pathname,
  LEDGER: "sqlite:./.portside/demo.sqlite",
};

export interface DemoOptions {
  sinkUrl: string;
  emulator: PortEmulatorState;
  orgId: string;
  logger: Logger;
  timeoutMs?: number;
}

/** Sample messages in Port's legacy shape, re-addressed to the demo organisation with fresh run ids. */
export function sampleMessages(orgId: string, suffix: string) {
  const withOrg = <T extends { trigger: { by: { orgId: string } } }>(m: T): T => ({ ...m, trigger: { ...m.trigger, by: { ...m.trigger.by, orgId } } });
  const deploy = withOrg(structuredClone(deployFixture));
  deploy.context.runId = `r_demo_deploy_${suffix}`;
  const createVm = withOrg(structuredClone(createVmFixture));
  createVm.context.runId = `r_demo_vm_${suffix}`;
  const change = withOrg(structuredClone(vmUpdateFixture));
  change.trigger.at = new Date().toISOString();
  return { runs: [deploy, createVm], changes: [change] };
}

export async function runDemo(options: DemoOptions): Promise<boolean> {
  const { runs, changes } = sampleMessages(options.orgId, Date.now().toString(36));
  // As Port does when someone triggers an action: the runs exist before their messages are published.
  for (const run of runs) options.emulator.declareRun(run.context.runId);
  const post = async (path: string, body: string) => {
    const res = await fetch(`${options.sinkUrl}${path}`, { method: "POST", body });
    return `${res.status} ${await res.text()}`;
  };
  // Newline-delimited, as the Aiven connector batches records.
  console.log(`demo: POST /sink/runs → ${await post("/sink/runs", runs.map((r) => JSON.stringify(r)).join("\n"))}`);
  console.log(`demo: POST /sink/changes → ${await post("/sink/changes", JSON.stringify(changes))}`);

  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  const ids = runs.map((r) => r.context.runId);
  while (Date.now() < deadline && ids.some((id) => !options.emulator.terminalStatus(id))) await new Promise((r) => setTimeout(r, 50));

  let allDone = true;
  for (const run of runs) {
    const id = run.context.runId;
    const recorded = options.emulator.runs.get(id);
    const status = options.emulator.terminalStatus(id);
    if (!status) allDone = false;
    console.log(`demo: run ${id} (${run.action}) → ${status ?? "still IN_PROGRESS"}${recorded?.summary ? ` — ${recorded.summary}` : ""}`);
    for (const line of options.emulator.logsFor(id).flatMap((message) => message.split("\n"))) console.log(`demo:     log  ${line}`);
    for (const entity of recorded?.linkedEntities ?? []) console.log(`demo:     entity ${entity.blueprint}/${entity.identifier}`);
  }
  console.log(
    allDone ? "demo: every sample run finished. portside keeps listening; Ctrl-C to stop." : "demo: some runs did not finish in time; see the log lines above.",
  );
  return allDone;
}
