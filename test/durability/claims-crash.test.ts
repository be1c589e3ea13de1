import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { startEventBridgeServer } from "../support/eventbridge-server.ts";
import { ORG, runMessage, SINK_TOKEN } from "../support/harness.ts";
import { emulatorEnv, startPortside, type PortsideProcess } from "../support/portside-process.ts";

/**
 * kill -9 while one slow run holds the only slot, runs wait behind it and changes bound for EventBridge
 * keep coming: only the run that started may come back as interrupted. Runs that never started were never
 * claimed, so after the restart each starts as a first attempt and succeeds.
 */
const dir = mkdtempSync(join(tmpdir(), "portside-claims-crash-"));
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
const eventBridge = startEventBridgeServer();
let portside: PortsideProcess | undefined;

afterAll(async () => {
  await portside?.crash();
  emulatorServer.stop(true);
  eventBridge.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("kill -9 with a run holding the only slot and changes flowing: the runs that waited start after the restart as first attempts", async () => {
  const ledgerPath = join(dir, "ledger.sqlite");
  const execLog = join(dir, "executions.log");
  const gate = join(dir, "gate");
  const routes = join(dir, "routes.json");
  writeFileSync(gate, "");
  writeFileSync(routes, JSON.stringify({ defaults: { bus: "portside-test", source: "portside" }, changes: [{ match: { blueprint: "svc" } }] }));
  const env = emulatorEnv(emulatorServer.port, ORG, SINK_TOKEN, {
    LEDGER: `sqlite:${ledgerPath}`,
    HANDLERS: "test/support/gated-handlers.ts",
    ROUTES: routes,
    EXEC_LOG: execLog,
    GATE_FILE: gate,
    CONCURRENCY: "1",
    AWS_REGION: "eu-west-1",
    AWS_ACCESS_KEY_ID: "AKIDPORTSIDETEST",
    AWS_SECRET_ACCESS_KEY: "portside-test-secret",
    EVENTBRIDGE_ENDPOINT: eventBridge.url,
    EVENTBRIDGE_PUT_EVENTS_PER_SECOND: "10000",
  });
  portside = await startPortside(env);
  const port = portside.port;
  const post = async (path: string, body: string) => {
    const res = await fetch(`${portside?.url}${path}`, { method: "POST", body, headers: { authorization: `Bearer ${SINK_TOKEN}` } });
    expect(res.status).toBe(200);
  };
  const starts = () => (existsSync(execLog) ? readFileSync(execLog, "utf8").trim().split("\n").filter(Boolean) : []);

  const ids = Array.from({ length: 20 }, (_, i) => `r_slot_${i}`);
  for (const id of ids) emulator.state.declareRun(id);
  await post("/sink/runs", ids.map((id) => JSON.stringify(runMessage(id))).join("\n"));
  const deadline = Date.now() + 15_000;
  while (starts().length === 0 && Date.now() < deadline) await Bun.sleep(20);
  expect(starts().map((line) => line.split(" ").slice(0, 3).join(" "))).toEqual(["start r_slot_0 1"]);

  // Ten changes every 40 ms; meanwhile the ledger is watched for run rows claimed beyond the one slot.
  const db = new Database(ledgerPath, { readonly: true });
  const runningRuns = () => (db.query("SELECT count(*) AS n FROM work WHERE kind = 'run' AND state = 1").get() as { n: number }).n;
  let most = 0;
  const template = JSON.parse(readFileSync(new URL("../../src/messages/fixtures/changes/entity-update.json", import.meta.url), "utf8"));
  for (let batch = 0; batch < 60 && most <= 1; batch++) {
    const lines = Array.from({ length: 10 }, (_, i) => JSON.stringify({ ...template, context: { entity: `svc-${batch * 10 + i}`, blueprint: "svc" } }));
    await post("/sink/changes", lines.join("\n"));
    for (let look = 0; look < 4 && most <= 1; look++) {
      most = Math.max(most, runningRuns());
      await Bun.sleep(10);
    }
  }
  db.close();
  await portside.crash();
  // The first run kept its slot throughout; no other run row was ever taken.
  expect(most).toBe(1);
  expect(eventBridge.published.length).toBeGreaterThan(0);

  rmSync(gate);
  portside = await startPortside(env, { port });
  const until = Date.now() + 60_000;
  while (ids.some((id) => !emulator.state.ended(id)) && Date.now() < until) await Bun.sleep(50);
  expect(ids.filter((id) => !emulator.state.ended(id))).toEqual([]);

  // The run that was running when the process died is reported interrupted (it is not marked safe to re-run)…
  expect(emulator.state.terminalStatus("r_slot_0")).toBe("FAILURE");
  expect(emulator.state.runs.get("r_slot_0")?.summary).toContain("portside stopped while this run was executing");
  // …and every other run started once, as its first attempt, and succeeded.
  for (const id of ids.slice(1)) expect(emulator.state.terminalStatus(id)).toBe("SUCCESS");
  const after = starts().map((line) => line.split(" ").slice(0, 3).join(" "));
  expect(after).toEqual(["start r_slot_0 1", ...ids.slice(1).map((id) => `start ${id} 1`)]);
}, 120_000);
