import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel, Partitioners, type Producer } from "kafkajs";
import { readConnectorFile, registerConnector, waitForConnectorRunning } from "../../connectors/register.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { getConnect, type ConnectForTests } from "../support/connect.ts";
import { runMessage } from "../support/harness.ts";
import { createTopics } from "../support/kafka.ts";
import { emulatorEnv, startPortside, type PortsideProcess } from "../support/portside-process.ts";
import { readExecutions } from "../support/recording-handlers.ts";

/**
 * The whole design path with real parts: Port-shaped records produced with kafkajs to ORG_ID.runs and
 * ORG_ID.change.log → a real Kafka Connect worker running an HTTP sink connector → portside as a real
 * Bun process → handler → the Port emulator. One organisation (so one pair of topics and connectors)
 * for the file; each test uses its own run ids.
 */
const ORG = `org_e2e_${randomBytes(4).toString("hex")}`;
const TOKEN = `sink_${randomBytes(16).toString("hex")}`;
const ADMIN = `admin_${randomBytes(16).toString("hex")}`;
const PARTITIONS = 3;
const dir = mkdtempSync(join(tmpdir(), "portside-e2e-"));
const execLog = join(dir, "executions.log");
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });

let connect: ConnectForTests;
let portside: PortsideProcess;
let producer: Producer;
// UNHANDLED_RUNS=fail: this organisation's runs topic has no other consumer, so a run without a handler is portside's to fail.
const env = emulatorEnv(emulatorServer.port, ORG, TOKEN, {
  LEDGER: `sqlite:${join(dir, "ledger.sqlite")}`,
  EXEC_LOG: execLog,
  CONCURRENCY: "32",
  ADMIN_TOKEN: ADMIN,
  UNHANDLED_RUNS: "fail",
});
const connectorFile = (name: string) => readConnectorFile(fileURLToPath(new URL(`../../connectors/standin/${name}.local.json`, import.meta.url)));

beforeAll(async () => {
  connect = await getConnect();
  await createTopics(connect.brokers, [`${ORG}.runs`, `${ORG}.change.log`], PARTITIONS);
  portside = await startPortside(env);
  const connectorEnv = { ORG_ID: ORG, PORTSIDE_URL: portside.url, SINK_TOKEN: TOKEN };
  for (const name of ["runs", "changes"]) {
    const file = connectorFile(name);
    // One task per partition, as a production worker would run it.
    await registerConnector(connect.url, { ...file, config: { ...file.config, "tasks.max": String(PARTITIONS) } }, { env: connectorEnv, timeoutMs: 60_000 });
  }
  producer = new Kafka({ brokers: connect.brokers, clientId: "e2e-port", logLevel: logLevel.ERROR }).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
}, 240_000);

afterAll(async () => {
  await producer?.disconnect();
  await portside?.stop();
  emulatorServer.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

/** Produces runs the way Port does: keyed by run id, spread over the partitions. */
let producedRuns = 0;
async function produceRuns(ids: string[], action = "deploy") {
  producedRuns += ids.length;
  // Port has a run before it publishes its message; the emulator answers 404 for runs it was never told of.
  for (const id of ids) emulator.state.declareRun(id);
  for (let i = 0; i < ids.length; i += 500) {
    const messages = ids.slice(i, i + 500).map((id) => ({ key: id, value: JSON.stringify(runMessage(id, action, { orgId: ORG })) }));
    await producer.send({ topic: `${ORG}.runs`, acks: -1, messages });
  }
}

async function until(check: () => boolean, what: () => string, timeoutMs = 90_000, refresh?: () => Promise<void>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await refresh?.();
    if (check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await Bun.sleep(50);
  }
}
const unfinished = (ids: string[]) => ids.filter((id) => !emulator.state.terminalStatus(id));
const waitForTerminal = (ids: string[], timeoutMs?: number) =>
  until(
    () => unfinished(ids).length === 0,
    () => `terminal status of ${unfinished(ids).length} runs (e.g. ${unfinished(ids).slice(0, 3).join(", ")})`,
    timeoutMs,
  );
const executions = () => readExecutions(existsSync(execLog) ? readFileSync(execLog, "utf8") : "");
const terminalPatches = (id: string) =>
  emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun" && c.status < 300 && (c.body as { status?: string }).status);

/** Each run: one execution, one accepted terminal status, SUCCESS, its log line present. */
function expectEachRanOnce(ids: string[]) {
  const { starts } = executions();
  const wrong = ids.filter((id) => starts.get(id) !== 1 || terminalPatches(id).length !== 1 || emulator.state.terminalStatus(id) !== "SUCCESS");
  expect(wrong).toEqual([]);
}

describe("Port → Kafka → Connect HTTP sink → portside → Port", () => {
  test("runs and changes go through: handler outcome, logs and missing handlers reported to Port", async () => {
    const ids = ["r_e2e_a", "r_e2e_b"];
    await produceRuns(ids);
    await produceRuns(["r_e2e_nohandler"], "scale_down");
    const change = (identifier: string, action: string) => ({
      action,
      resourceType: "entity",
      status: "SUCCESS",
      trigger: { by: { orgId: ORG, userId: "u@clients" }, origin: "API", at: new Date().toISOString() },
      context: { entity: identifier, blueprint: "vm" },
      diff: { before: action === "CREATE" ? null : { identifier, properties: { free_storage: 6 } }, after: { identifier, properties: { free_storage: 0.5 } } },
    });
    await producer.send({
      topic: `${ORG}.change.log`,
      messages: [
        { key: "vm-1", value: JSON.stringify(change("vm-1", "CREATE")) },
        { key: "vm-1", value: JSON.stringify(change("vm-1", "UPDATE")) },
      ],
    });

    await waitForTerminal([...ids, "r_e2e_nohandler"]);
    expectEachRanOnce(ids);
    for (const id of ids) expect(emulator.state.logsFor(id)).toEqual([`deployed ${id}`]);
    expect(emulator.state.terminalStatus("r_e2e_nohandler")).toBe("FAILURE");
    expect(emulator.state.runs.get("r_e2e_nohandler")?.summary).toContain('No handler for action "scale_down"');

    await until(
      () => executions().changes.filter((c) => c.startsWith("vm/vm-1")).length === 2,
      () => `2 changes, saw ${executions().changes.join("; ")}`,
    );
    // Same key → same partition → same order; the ledger's entity lane keeps it.
    expect(executions().changes.filter((c) => c.startsWith("vm/vm-1"))).toEqual(["vm/vm-1 CREATE", "vm/vm-1 UPDATE"]);
  }, 120_000);

  test("a burst of 1,000 runs: each executed once and reported once", async () => {
    const ids = Array.from({ length: 1_000 }, (_, i) => `r_burst_${i}`);
    const started = Date.now();
    await produceRuns(ids);
    await waitForTerminal(ids, 120_000);
    console.log(`[e2e] 1,000 runs produce → all terminal at the emulator in ${Date.now() - started} ms`);
    expectEachRanOnce(ids);
  }, 180_000);

  test("a poison record does not stop its partition: it is parked and the records behind it run", async () => {
    // All on one key, so one partition, poison in the middle.
    producedRuns += 4;
    for (const id of ["r_before_poison", "r_poison", "r_bad_shape", "r_after_poison"]) emulator.state.declareRun(id);
    await producer.send({
      topic: `${ORG}.runs`,
      messages: [
        { key: "p", value: JSON.stringify(runMessage("r_before_poison", "deploy", { orgId: ORG })) },
        { key: "p", value: '{"action":"deploy","context":{"runId":"r_poison' },
        { key: "p", value: JSON.stringify({ ...runMessage("r_bad_shape", "deploy", { orgId: ORG }), payload: 42 }) },
        { key: "p", value: JSON.stringify(runMessage("r_after_poison", "deploy", { orgId: ORG })) },
      ],
    });
    await waitForTerminal(["r_before_poison", "r_after_poison", "r_bad_shape"]);
    expectEachRanOnce(["r_before_poison", "r_after_poison"]);
    expect(emulator.state.terminalStatus("r_bad_shape")).toBe("FAILURE");
    expect(emulator.state.runs.get("r_bad_shape")?.summary).toContain("payload");

    const res = await fetch(`${portside.url}/admin/dead-letters`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const list = (await res.json()) as { items: { id: string }[] };
    // The list carries no record's bytes: each letter is read on its own.
    const items = await Promise.all(
      list.items.map(
        async ({ id }) =>
          (await (await fetch(`${portside.url}/admin/dead-letters/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
            raw: string;
            reason: string;
            source: string;
          },
      ),
    );
    const truncated = items.find((l) => l.raw.includes("r_poison"));
    expect(truncated?.source).toBe("sink/runs");
    expect(truncated?.reason).toContain("JSON");
    expect(items.some((l) => l.raw.includes("r_bad_shape"))).toBe(true);
  }, 120_000);

  test("portside restarts while the connector keeps delivering: nothing lost, nothing doubled", async () => {
    const ids = Array.from({ length: 600 }, (_, i) => `r_restart_${i}`);
    const producing = produceRuns(ids);
    // Stop portside (SIGTERM: running handlers finish, the rest stays in the ledger) mid-stream.
    await until(
      () => ids.some((id) => emulator.state.terminalStatus(id)),
      () => "the first runs to finish",
    );
    const port = portside.port;
    expect(await portside.stop()).toBe(0);
    await Bun.sleep(1_500); // the connector meets a closed port and backs off, resending the same bodies
    portside = await startPortside(env, { port });
    await producing;
    await waitForTerminal(ids, 120_000);
    expectEachRanOnce(ids);
  }, 240_000);

  test("a connector resend (offsets reset to the start) executes nothing twice", async () => {
    const ids = ["r_resend_1", "r_resend_2", "r_resend_3"];
    await produceRuns(ids);
    await waitForTerminal(ids);
    const startsBefore = executions().starts.size;
    const seenBefore = (await sinkStats()).records;
    const name = `portside-${ORG}-runs`;

    // Kafka Connect's own way to re-consume a sink's topic: stop, reset the committed offsets, resume.
    const call = async (method: string, path: string) => {
      const res = await fetch(`${connect.url}/connectors/${name}${path}`, { method });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    };
    await call("PUT", "/stop");
    await retry(() => call("DELETE", "/offsets"));
    await call("PUT", "/resume");
    await waitForConnectorRunning(connect.url, name);

    // Every record of the topic comes again: wait until portside has seen that many more.
    let seen = 0;
    await until(
      () => seen - seenBefore >= producedRuns,
      () => `the resent records (${seen - seenBefore} of ${producedRuns})`,
      120_000,
      async () => {
        seen = (await sinkStats()).records;
      },
    );
    const after = await sinkStats();
    expect(after.duplicate).toBeGreaterThanOrEqual(producedRuns - 4);
    expect(executions().starts.size).toBe(startsBefore);
    for (const id of ids) expect(terminalPatches(id)).toHaveLength(1);
  }, 180_000);
});

async function sinkStats(): Promise<{ records: number; duplicate: number }> {
  const res = await fetch(`${portside.url}/admin/stats`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return ((await res.json()) as { sinceStart: { records: number; duplicate: number } }).sinceStart;
}
async function retry(fn: () => Promise<void>, attempts = 20) {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (i >= attempts) throw error;
      await Bun.sleep(500);
    }
  }
}
