import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { declareAction, triggerAction } from "../../src/emulator/port-emulator-actions.ts";
import { queueNodeRun } from "../../src/emulator/port-emulator-polling.ts";
import { ORG, SINK_TOKEN } from "../support/harness.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";
import { sqliteLedgerLookup, startPollingPort, startWebhookReceiver } from "../support/polling-port.ts";
import { readExecutions } from "../support/recording-handlers.ts";

/**
 * portside as the organisation's execution agent, a real process polling the Port emulator over a real
 * socket (PORT_POLLING=true, no Kafka, no sink): readiness follows the polls, and a burst of agent runs
 * (handled by the local handler) and workflow node runs (forwarded to a webhook receiver) is claimed,
 * recorded, acknowledged only once recorded, executed once and reported once; runs of an action without a
 * handler are forwarded like node runs.
 */
const dir = mkdtempSync(join(tmpdir(), "portside-polling-"));
const port = startPollingPort();
const { emulator } = port;
const receiver = startWebhookReceiver();
const processes: PortsideProcess[] = [];
const ADMIN_TOKEN = "polling-admin-token-0123456789";

afterAll(async () => {
  await Promise.all(processes.map((p) => p.crash()));
  port.stop();
  receiver.stop();
  rmSync(dir, { recursive: true, force: true });
});

declareAction(emulator.state, {
  identifier: "deploy",
  invocationMethod: { type: "WEBHOOK", url: `${receiver.url}/never-called`, agent: true },
});
// No handler in the module: its runs are forwarded to the action's URL, as Port's agent forwards them.
declareAction(emulator.state, {
  identifier: "notify",
  invocationMethod: { type: "WEBHOOK", url: `${receiver.url}/notify`, agent: true, synchronized: true },
});

async function start(extra: Record<string, string>) {
  const p = await startPortside(emulatorEnv(port.port, ORG, SINK_TOKEN, { PORT_POLLING: "true", POLLING_INTERVAL_MS: "100", ADMIN_TOKEN, ...extra }));
  processes.push(p);
  return p;
}

const get = async (p: PortsideProcess, path: string) => {
  const res = await fetch(`${p.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const pollingState = async (p: PortsideProcess) =>
  ((await get(p, "/admin/stats")).body.ingresses as Record<string, { status: string; claimed: number; acknowledged: number; failures: number }>).polling;

async function until(check: () => boolean | Promise<boolean>, what: () => string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await Bun.sleep(50);
  }
}

test("/readyz answers 503 until a poll succeeded, then 200; /admin/stats shows the polling state", async () => {
  // The first poll fails: its claim is answered 503 on every try the client makes.
  emulator.state.failNext(4, 503, { endpoint: "claimRuns" });
  const p = await start({ LEDGER: "memory" });
  expect((await get(p, "/readyz")).body).toEqual({ ok: false, reason: "polling not ready" });
  await until(
    async () => (await pollingState(p))?.failures === 1,
    () => "a failed poll",
  );
  expect(await pollingState(p)).toMatchObject({ status: "failing", failures: 1, claimed: 0 });
  expect((await get(p, "/readyz")).status).toBe(503);
  // The next poll succeeds (nothing waiting): ready.
  await until(
    async () => (await get(p, "/readyz")).status === 200,
    () => "/readyz 200",
  );
  expect(await pollingState(p)).toMatchObject({ status: "polling", failures: 0 });
  expect((await get(p, "/healthz")).status).toBe(200);
  // Port was told this organisation's agent polls, as Port's agent tells it.
  expect(emulator.state.organization.settings).toMatchObject({ portAgentStreamerName: "POLLING" });
  // SIGTERM stops the polling loop and the process cleanly.
  expect(await p.stop()).toBe(0);
}, 30_000);

test("a burst of 3,000 agent runs, 100 forwarded agent runs and 200 workflow node runs: each claimed once, acknowledged only once recorded, executed once, reported once", async () => {
  const ledgerPath = join(dir, "burst.sqlite");
  const execLog = join(dir, "burst.log");
  const runIds = Array.from(
    { length: 3_000 },
    (_, i) => triggerAction(emulator.state, Date.now, "deploy", { properties: { version: `1.${i}` }, id: `r_burst_${i}` })?.id as string,
  );
  const forwardedIds = Array.from(
    { length: 100 },
    (_, i) => triggerAction(emulator.state, Date.now, "notify", { properties: { to: `team-${i}` }, id: `r_notify_${i}` })?.id as string,
  );
  const nodeIds = Array.from({ length: 200 }, (_, i) => `wfnr_burst_${i}`);
  for (const id of nodeIds)
    queueNodeRun(emulator.state, { type: "WEBHOOK", url: `${receiver.url}/node`, agent: true, synchronized: true, method: "POST", body: { node: id } }, id);
  // Every acknowledgement is held until the ledger file, read apart, shows the runs it names.
  port.ledgerHolds = sqliteLedgerLookup(ledgerPath);

  const started = Date.now();
  const p = await start({ LEDGER: `sqlite:${ledgerPath}`, EXEC_LOG: execLog, HANDLER_DELAY_MS: "5", CONCURRENCY: "32" });
  await until(
    () => [...runIds, ...forwardedIds, ...nodeIds].every((id) => emulator.state.ended(id)),
    () => `${[...runIds, ...forwardedIds, ...nodeIds].filter((id) => !emulator.state.ended(id)).length} runs`,
    90_000,
  );
  console.log(`polling burst: 3,300 runs done in ${Date.now() - started} ms (from the process start)`);

  // Acknowledged only once recorded: no ack named a run the ledger did not hold when the ack arrived.
  expect(port.acksChecked).toBeGreaterThanOrEqual(nodeIds.length + (runIds.length + forwardedIds.length) / 100);
  expect(port.ackedUncommitted).toEqual([]);
  // Claimed once, acknowledged once: no claim lapsed, nothing was handed out twice.
  const all = [...runIds, ...forwardedIds, ...nodeIds];
  expect(all.filter((id) => port.claimed.get(id) !== 1)).toEqual([]);
  expect(all.filter((id) => port.acked.get(id) !== 1)).toEqual([]);
  expect([...port.claimed.keys()].length).toBe(all.length);

  // Executed once (the local handler), reported once, all SUCCESS.
  const { starts, ends } = readExecutions(existsSync(execLog) ? readFileSync(execLog, "utf8") : "");
  expect(starts.size).toBe(runIds.length);
  expect([...starts.values()].filter((n) => n !== 1)).toEqual([]);
  expect(ends.size).toBe(runIds.length);
  const terminalPatches = (id: string) =>
    emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun" && c.status < 300 && (c.body as { status?: string }).status);
  expect(runIds.filter((id) => terminalPatches(id).length !== 1 || emulator.state.terminalStatus(id) !== "SUCCESS")).toEqual([]);
  // Runs without a handler: forwarded once each, SUCCESS once (synchronized), the receiver's answer kept as the run's response.
  expect(forwardedIds.filter((id) => terminalPatches(id).length !== 1 || emulator.state.terminalStatus(id) !== "SUCCESS")).toEqual([]);
  for (const id of forwardedIds) expect(emulator.state.runs.get(id)?.response).toEqual({ deployed: id });

  // Node runs: forwarded once each, COMPLETED once with the answer. Runs with a handler were not forwarded.
  expect([...receiver.received.keys()].sort()).toEqual([...forwardedIds, ...nodeIds].sort());
  expect([...receiver.received.values()].filter((n) => n !== 1)).toEqual([]);
  const completions = (id: string) =>
    emulator.state.callsFor(id).filter((c) => c.endpoint === "patchNodeRun" && c.status < 300 && (c.body as { status?: string }).status === "COMPLETED");
  expect(nodeIds.filter((id) => completions(id).length !== 1)).toEqual([]);
  for (const id of nodeIds)
    expect(emulator.state.nodeRuns.get(id)).toMatchObject({
      status: "COMPLETED",
      result: "SUCCESS",
      output: { response: { status: 200, data: { deployed: id } } },
    });

  expect(await pollingState(p)).toMatchObject({ status: "polling", claimed: all.length, acknowledged: all.length, failures: 0 });
  expect(emulator.state.calls.filter((c) => c.atMs >= started && c.status >= 400)).toEqual([]);
}, 120_000);

test("in the agent's place with runs by the topic, Port is told KAFKA at start; not in its place, Port is told nothing", async () => {
  const settings = emulator.state.organization.settings;
  for (const key of Object.keys(settings)) delete settings[key];
  const plain = await startPortside(emulatorEnv(port.port, ORG, SINK_TOKEN, { LEDGER: "memory" }));
  processes.push(plain);
  await Bun.sleep(500);
  expect(settings).toEqual({});
  expect(await plain.stop()).toBe(0);
  const agent = await startPortside(emulatorEnv(port.port, ORG, SINK_TOKEN, { LEDGER: "memory", EXECUTION_AGENT: "true" }));
  processes.push(agent);
  await until(
    () => settings.portAgentStreamerName !== undefined,
    () => "portAgentStreamerName set",
    10_000,
  );
  expect(settings).toEqual({ portAgentStreamerName: "KAFKA" });
  expect(await agent.stop()).toBe(0);
}, 30_000);
