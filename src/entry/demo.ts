import deployFixture from "../messages/fixtures/runs/legacy-day2.json" with { type: "json" };
import createVmFixture from "../messages/fixtures/runs/legacy-create.json" with { type: "json" };
import vmUpdateFixture from "../messages/fixtures/changes/entity-update.json" with { type: "json" };
import exampleActions from "../examples/port-actions.json" with { type: "json" };
import type { PortEmulatorState } from "../emulator/port-emulator.ts";
import { triggerAction } from "../emulator/port-emulator-actions.ts";
import { declareActions } from "../emulator/port-emulator-definitions.ts";
import type { Logger } from "../log.ts";

/**
 * `npm run demo`: portside on its embedded defaults (SQLite ledger, example handlers, the local Port
 * emulator), then a few sample Port messages posted to its own sink, and what the emulator recorded.
 *
 * `npm run demo -- --polling`: the same portside taking runs by polling the emulator (PORT_POLLING), with no
 * Kafka and nothing posted to the sink: two actions for the execution agent are declared and triggered in the
 * emulator, one served by the example handler, one forwarded to a small webhook receiver the demo serves.
 *
 * `npm run demo -- --webhooks`: the same portside taking runs from Port's signed webhooks (PORT_WEBHOOKS,
 * demo-webhooks.ts).
 */

/** Credentials the local Port emulator accepts. They open nothing but the emulator. */
export const EMULATOR_CREDENTIALS = { clientId: "emulator-client-id", clientSecret: "emulator-client-secret" } as const;

/**
 * Declares an example action (src/examples/port-actions.json: its definition, inputs and all) in the emulator,
 * invoked as `invocationMethod` says: a demo's own URLs, or another way in for the same action.
 */
export function declareExample(emulator: PortEmulatorState, identifier: string, invocationMethod: Record<string, unknown>): void {
  const definition = exampleActions.find((action) => action.identifier === identifier);
  if (!definition) throw new Error(`no example action "${identifier}" in src/examples/port-actions.json`);
  declareActions(emulator, [{ ...definition, invocationMethod }]);
}

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

  await settled(
    options.emulator,
    runs.map((r) => r.context.runId),
    options.timeoutMs,
  );

  return printRuns(
    options.emulator,
    runs.map((run) => ({ id: run.context.runId, action: run.action })),
    "listening",
  );
}

/** Waits for the runs to end in the emulator (or `timeoutMs`). */
export async function settled(emulator: PortEmulatorState, ids: string[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && ids.some((id) => !emulator.terminalStatus(id))) await new Promise((r) => setTimeout(r, 50));
}

/**
 * What the emulator recorded of each run, as the demos print it: its status and summary, the lines `more`
 * adds, its logs, linked entities and stored response; then whether all ended. Returns whether they did.
 */
export function printRuns(
  emulator: PortEmulatorState,
  runs: Array<{ id: string; action: string | undefined }>,
  keeps: string,
  more: (id: string) => string[] = () => [],
): boolean {
  let allDone = true;
  for (const { id, action } of runs) {
    const recorded = emulator.runs.get(id);
    const status = emulator.terminalStatus(id);
    if (!status) allDone = false;
    console.log(`demo: run ${id} (${action}) → ${status ?? "still IN_PROGRESS"}${recorded?.summary ? ` — ${recorded.summary}` : ""}`);
    for (const line of more(id)) console.log(`demo:     ${line}`);
    for (const line of emulator.logsFor(id).flatMap((message) => message.split("\n"))) console.log(`demo:     log  ${line}`);
    for (const entity of recorded?.linkedEntities ?? []) console.log(`demo:     entity ${entity.blueprint}/${entity.identifier}`);
    if (recorded?.response !== undefined) console.log(`demo:     response ${JSON.stringify(recorded.response)}`);
  }
  console.log(
    allDone ? `demo: every sample run finished. portside keeps ${keeps}; Ctrl-C to stop.` : "demo: some runs did not finish in time; see the log lines above.",
  );
  return allDone;
}

export interface PollingDemoOptions {
  emulator: PortEmulatorState;
  /** Serves the demo's webhook receiver on 127.0.0.1 (the runtime's server); resolves with its base URL. */
  serveReceiver: (fetch: (request: Request) => Promise<Response>) => Promise<string>;
  timeoutMs?: number;
}

/** What the demo's webhook receiver was sent, for the lines it prints. */
interface Received {
  method: string;
  path: string;
  idempotencyKey: string | null;
}

/**
 * The polling demo: example actions (their definitions from src/examples/port-actions.json) declared in the
 * emulator as WEBHOOK with `agent: true` (runs for the organisation's execution agent), triggered as Port does when someone clicks Execute; portside claims them,
 * records them, acknowledges them and serves them — `deploy` by the example handler, `restart_service` (no
 * handler) forwarded as Port's agent forwards it, to the receiver, which answers at once (`synchronized`).
 */
export async function runPollingDemo(options: PollingDemoOptions): Promise<boolean> {
  const received: Received[] = [];
  const receiverUrl = await options.serveReceiver(async (request) => {
    const body = (await request.json().catch(() => ({}))) as { service?: unknown };
    received.push({ method: request.method, path: new URL(request.url).pathname, idempotencyKey: request.headers.get("idempotency-key") });
    return Response.json({ restarted: body.service ?? null, by: "the demo's webhook receiver" });
  });
  const webhook = (path: string, synchronized: boolean) => ({ type: "WEBHOOK" as const, url: `${receiverUrl}${path}`, agent: true, synchronized });
  declareExample(options.emulator, "deploy", webhook("/deploy", false));
  declareExample(options.emulator, "restart_service", webhook("/restart", true));
  const runs = [
    triggerAction(options.emulator, Date.now, "deploy", { properties: { version: "2.15.0", environment: "production" }, entity: "checkout-service" }),
    triggerAction(options.emulator, Date.now, "restart_service", { properties: { service: "checkout-service" }, entity: "checkout-service" }),
  ].flatMap((run) => (run ? [run] : []));
  for (const run of runs) console.log(`demo: triggered ${run.action?.identifier} in the Port emulator → run ${run.id}, waiting for the execution agent`);
  console.log("demo: portside polls the emulator for them (no Kafka; nothing is posted to the sink)");

  await settled(
    options.emulator,
    runs.map((run) => run.id),
    options.timeoutMs,
  );
  return printRuns(
    options.emulator,
    runs.map((run) => ({ id: run.id, action: run.action?.identifier })),
    "polling",
    (id) => [
      `claimed by polling, ${options.emulator.runs.get(id)?.agentClaim?.acked ? "acknowledged" : "not acknowledged"}`,
      ...received.filter((r) => r.idempotencyKey === id).map((call) => `forwarded ${call.method} ${call.path} (Idempotency-Key ${call.idempotencyKey})`),
    ],
  );
}
