import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { declareAction } from "../../src/emulator/port-emulator-actions.ts";
import { deliverAgain } from "../../src/emulator/port-emulator-webhooks.ts";
import { ORG, runMessage, SINK_TOKEN } from "../support/harness.ts";
import { startPollingPort } from "../support/polling-port.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";
import { readExecutions } from "../support/recording-handlers.ts";

/**
 * Port calling portside directly, both real processes on loopback sockets: the Port emulator creates a run
 * when an action is triggered through its API and sends it, signed with the organisation's client secret,
 * to the action's URL (`/webhooks/port/<action>`), as Port does for a WEBHOOK action. portside records it,
 * answers 202, runs it and reports through Port's API; a `synchronized` action's answer is the result.
 */
const dir = mkdtempSync(join(tmpdir(), "portside-webhook-"));
const port = startPollingPort();
const { emulator } = port;
const processes: PortsideProcess[] = [];

afterAll(async () => {
  await Promise.all(processes.map((p) => p.crash()));
  port.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(extra: Record<string, string>, options: { port?: number } = {}) {
  const p = await startPortside(
    emulatorEnv(port.port, ORG, SINK_TOKEN, { HANDLERS: "test/support/webhook-handlers.ts", PORT_WEBHOOKS: "true", ...extra }),
    options,
  );
  processes.push(p);
  return p;
}

let token = "";
/** Triggers an action through the emulator's API, as a user in Port's UI would: the run is created and its webhook sent. */
async function trigger(action: string, properties: Record<string, unknown>): Promise<string> {
  const api = `http://127.0.0.1:${port.port}`;
  if (!token) {
    const res = await fetch(`${api}/v1/auth/access_token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ clientId: "emulator-client-id", clientSecret: "emulator-client-secret" }),
    });
    token = ((await res.json()) as { accessToken: string }).accessToken;
  }
  const res = await fetch(`${api}/v1/actions/${action}/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ properties }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { run: { id: string } }).run.id;
}

async function until(check: () => boolean, what: () => string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await Bun.sleep(25);
  }
}

const answered = (id: string) => (emulator.state.runs.get(id)?.webhookAttempts ?? []).filter((a) => a.status !== null || a.error);
const terminal = (ids: string[]) => ids.filter((id) => emulator.state.terminalStatus(id) !== undefined);

test("300 triggered runs, each sent once by Port's webhook: recorded and answered 202, run once, reported SUCCESS through the API", async () => {
  const execLog = join(dir, "burst.log");
  // WEBHOOK_ALLOW: Bun's server tells the connection's address (loopback here), and only it is let in.
  const p = await start({ LEDGER: `sqlite:${join(dir, "burst.sqlite")}`, EXEC_LOG: execLog, WEBHOOK_ALLOW: "127.0.0.1/32" });
  declareAction(emulator.state, { identifier: "deploy", invocationMethod: { type: "WEBHOOK", url: `${p.url}/webhooks/port/deploy` } });
  const ids = await Promise.all(Array.from({ length: 300 }, (_, i) => trigger("deploy", { version: `1.${i}` })));
  await until(
    () => terminal(ids).length === ids.length,
    () => `${ids.length - terminal(ids).length} runs to end`,
  );
  for (const id of ids) {
    expect([id, emulator.state.terminalStatus(id), answered(id).map((a) => a.status)]).toEqual([id, "SUCCESS", [202]]);
    expect(emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun" && (c.body as { status?: string }).status)).toHaveLength(1);
  }
  const { starts } = readExecutions(readFileSync(execLog, "utf8"));
  expect(ids.filter((id) => starts.get(id) !== 1)).toEqual([]);
  expect(await p.stop()).toBe(0);
}, 120_000);

test("a synchronized action: the answer is the handler's result (Port takes SUCCESS from the 200, FAILURE from the 500), and no status PATCH is sent", async () => {
  const p = await start({ LEDGER: "memory" });
  declareAction(emulator.state, { identifier: "verify", invocationMethod: { type: "WEBHOOK", url: `${p.url}/webhooks/port/verify`, synchronized: true } });
  const ok = await trigger("verify", {});
  const bad = await trigger("verify", { fail: true });
  await until(
    () => terminal([ok, bad]).length === 2,
    () => "both synchronized runs to end",
  );
  expect(emulator.state.runs.get(ok)).toMatchObject({ status: "SUCCESS", response: { status: "SUCCESS", runId: ok, summary: `verified ${ok}` } });
  expect(emulator.state.runs.get(bad)).toMatchObject({
    status: "FAILURE",
    summary: "Failed to invoke the webhook with status code: 500",
    response: { status: "FAILURE", summary: 'Handler for "verify" failed: the check failed' },
  });
  await Bun.sleep(300);
  for (const id of [ok, bad]) expect(emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun")).toEqual([]);
  expect(await p.stop()).toBe(0);
}, 60_000);

test("kill -9 after the 202s, while runs execute: restarted on the same ledger, every answered run ends, none runs twice", async () => {
  const ledger = `sqlite:${join(dir, "crash.sqlite")}`;
  const execLog = join(dir, "crash.log");
  const env = { LEDGER: ledger, EXEC_LOG: execLog, HANDLER_DELAY_MS: "1500", CONCURRENCY: "8" };
  const first = await start(env);
  declareAction(emulator.state, { identifier: "deploy", invocationMethod: { type: "WEBHOOK", url: `${first.url}/webhooks/port/deploy` } });
  const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => trigger("deploy", { version: `2.${i}` })));
  await until(
    () => ids.every((id) => answered(id).length === 1),
    () => "every webhook answered",
  );
  expect(ids.filter((id) => answered(id)[0]?.status !== 202)).toEqual([]);
  const killedPid = String(first.proc.pid);
  await first.crash();
  const endedBeforeKill = terminal(ids).length;
  // Port does not send the webhook again: what was answered 202 is the ledger's to finish.
  const second = await start(env, { port: first.port });
  await until(
    () => terminal(ids).length === ids.length,
    () => `${ids.length - terminal(ids).length} runs to end after the restart`,
  );
  const { starts } = readExecutions(existsSync(execLog) ? readFileSync(execLog, "utf8") : "");
  const startedBy = new Map<string, string>();
  for (const line of readFileSync(execLog, "utf8").split("\n")) {
    const [kind, id, pid] = line.split(" ");
    if (kind === "start" && id && pid) startedBy.set(id, pid);
  }
  expect(ids.filter((id) => (starts.get(id) ?? 0) > 1)).toEqual([]);
  const interrupted = ids.filter((id) => emulator.state.terminalStatus(id) === "FAILURE");
  for (const id of interrupted) {
    expect(emulator.state.runs.get(id)?.summary ?? "").toStartWith("portside stopped while this run was executing");
    expect([id, startedBy.get(id) ?? killedPid]).toEqual([id, killedPid]);
  }
  // At most the runs the killed process held (CONCURRENCY) were cut short; the others ran after the restart.
  expect(interrupted.length).toBeLessThanOrEqual(8);
  expect(ids.length - endedBeforeKill).toBeGreaterThan(interrupted.length);
  console.log(
    `webhook crash: ${endedBeforeKill} of ${ids.length} runs ended before the kill, ${interrupted.length} reported interrupted, the rest ran after the restart`,
  );
  expect(await second.stop()).toBe(0);
}, 120_000);

test("the same run by Port's webhook and by the Kafka topic (through the sink): run once, whichever comes first", async () => {
  const execLog = join(dir, "both.log");
  const p = await start({ LEDGER: "memory", EXEC_LOG: execLog });
  declareAction(emulator.state, { identifier: "deploy", invocationMethod: { type: "WEBHOOK", url: `${p.url}/webhooks/port/deploy` } });
  const byHook = await trigger("deploy", { version: "3.0" });
  await until(
    () => answered(byHook).length === 1,
    () => "the webhook answered",
  );
  const sink = (id: string) =>
    fetch(`${p.url}/sink/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${SINK_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(runMessage(id)),
    }).then((r) => r.json());
  expect(await sink(byHook)).toMatchObject({ accepted: 0, duplicate: 1 });
  // The other way round: Kafka first, then Port's webhook for the same run.
  emulator.state.declareRun("r_topic_first");
  expect(await sink("r_topic_first")).toMatchObject({ accepted: 1 });
  const run = emulator.state.runs.get("r_topic_first");
  Object.assign(run ?? {}, { payload: { type: "WEBHOOK", url: `${p.url}/webhooks/port/deploy`, body: { port_context: { runId: "r_topic_first" } } } });
  await deliverAgain({ state: emulator.state, clock: Date.now, secret: "emulator-client-secret" }, "r_topic_first");
  expect(answered("r_topic_first").map((a) => a.status)).toEqual([202]);
  await until(
    () => terminal([byHook, "r_topic_first"]).length === 2,
    () => "both runs to end",
  );
  const { starts } = readExecutions(readFileSync(execLog, "utf8"));
  expect([starts.get(byHook), starts.get("r_topic_first")]).toEqual([1, 1]);
  expect(await p.stop()).toBe(0);
}, 60_000);
