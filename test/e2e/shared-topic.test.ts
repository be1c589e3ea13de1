import { afterAll, beforeAll, expect, test } from "bun:test";
import { createCipheriv, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel, type Producer } from "kafkajs";
import { readConnectorFile, registerConnector } from "../../connectors/register.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { getConnect, type ConnectForTests } from "../support/connect.ts";
import { runMessage } from "../support/harness.ts";
import { createTopics } from "../support/kafka.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";

/**
 * A real organisation's runs topic is shared: through the real Connect worker it carries portside's runs
 * next to runs for Port's agent (a webhook and a GitLab pipeline), a GitHub workflow, another team's Kafka
 * action, workflow node runs for portside and for the agent, and a malformed message for another team's
 * action. The strict Port
 * emulator — every run declared, as Port has them — shows only portside's runs touched, each exactly once,
 * the node run on the workflow endpoints; a secret input reached the handler in clear and nowhere else.
 */
const ORG = `org_shared_${randomBytes(3).toString("hex")}`;
const TOKEN = `sink_${randomBytes(16).toString("hex")}`;
const CLIENT_SECRET = `${randomBytes(24).toString("hex")}`; // 48 characters: the first 32 bytes are the AES key
const dir = mkdtempSync(join(tmpdir(), "portside-shared-"));
const emulator = createPortEmulator({ clientSecret: CLIENT_SECRET });
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
let connect: ConnectForTests;
let portside: PortsideProcess;
let producer: Producer;

beforeAll(async () => {
  connect = await getConnect();
  await createTopics(connect.brokers, [`${ORG}.runs`], 2);
  portside = await startPortside(
    emulatorEnv(emulatorServer.port, ORG, TOKEN, {
      PORT_CLIENT_SECRET: CLIENT_SECRET,
      HANDLERS: "test/support/secret-echo-handlers.ts",
      LEDGER: `sqlite:${join(dir, "ledger.sqlite")}`,
      LOG_LEVEL: "debug",
    }),
  );
  const file = readConnectorFile(fileURLToPath(new URL("../../connectors/standin/runs.local.json", import.meta.url)));
  await registerConnector(
    connect.url,
    { ...file, config: { ...file.config, "tasks.max": "2" } },
    { env: { ORG_ID: ORG, PORTSIDE_URL: portside.url, SINK_TOKEN: TOKEN }, timeoutMs: 60_000 },
  );
  producer = new Kafka({ brokers: connect.brokers, clientId: "shared-topic", logLevel: logLevel.ERROR }).producer();
  await producer.connect();
}, 240_000);

afterAll(async () => {
  await producer?.disconnect();
  await portside?.stop();
  emulatorServer.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const invoked = (id: string, invocationMethod: Record<string, unknown>, action = "deploy") => {
  const message = runMessage(id, action, { orgId: ORG });
  return { ...message, payload: { ...message.payload, action: { ...message.payload.action, invocationMethod } } };
};

function encrypt(plain: string): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(CLIENT_SECRET).subarray(0, 32), iv);
  return Buffer.concat([iv, cipher.update(plain, "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64");
}

test("on a shared runs topic, through Connect: only portside's runs are touched, each once; the node run on its own endpoint", async () => {
  const secret = `s3cret-${randomBytes(6).toString("hex")}`;
  const mine = { ...runMessage("r_shared_mine", "deploy", { orgId: ORG, inputs: { version: "2.0.0", token: encrypt(secret) } }) };
  mine.payload = { ...mine.payload, censoredProperties: ["token"] } as typeof mine.payload;
  const node = {
    portside: 1,
    runId: "wfnr_shared_node",
    action: "deploy",
    operation: "CREATE",
    entity: {},
    inputs: { version: "3.0.0" },
    trigger: { by: { orgId: ORG, userId: "u" }, origin: "AUTOMATION" },
  };
  const others = [
    invoked("r_shared_agent_webhook", { type: "WEBHOOK", agent: true, url: "http://agent.internal" }),
    invoked("r_shared_agent_gitlab", { type: "GITLAB", agent: true }),
    invoked("r_shared_github", { type: "GITHUB", org: "acme", repo: "ci", workflow: "deploy.yml" }),
    runMessage("r_shared_other_team", "provision_db", { orgId: ORG }),
    { ...invoked("wfnr_shared_agent_node", { type: "WEBHOOK", agent: true }), context: { runId: "wfnr_shared_agent_node" } },
  ];
  // Cut short, and for another team's action: parked, not portside's to report.
  const malformed = '{"action":"provision_db","context":{"runId":"r_shared_malformed"},"payload":';
  const ids = [
    "r_shared_mine",
    "wfnr_shared_node",
    "r_shared_agent_webhook",
    "r_shared_agent_gitlab",
    "r_shared_github",
    "r_shared_other_team",
    "wfnr_shared_agent_node",
    "r_shared_malformed",
  ];
  for (const id of ids) emulator.state.declareRun(id);
  await producer.send({
    topic: `${ORG}.runs`,
    acks: -1,
    messages: [mine, node, ...others].map((m) => ({ value: JSON.stringify(m) })).concat([{ value: malformed }]),
  });

  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !(emulator.state.terminalStatus("r_shared_mine") && emulator.state.nodeRuns.get("wfnr_shared_node")?.status === "COMPLETED"))
    await Bun.sleep(50);
  // Time for anything that would (wrongly) be reported about the others to arrive.
  await Bun.sleep(1_500);

  expect(emulator.state.runs.get("r_shared_mine")).toMatchObject({ status: "SUCCESS", summary: "ran with version 2.0.0" });
  expect(emulator.state.callsFor("r_shared_mine").filter((c) => c.endpoint === "patchRun")).toHaveLength(1);
  expect(emulator.state.nodeRuns.get("wfnr_shared_node")).toMatchObject({ status: "COMPLETED", result: "SUCCESS" });
  const touched = [...new Set(emulator.state.calls.map((c) => c.runId).filter(Boolean))].sort();
  expect(touched).toEqual(["r_shared_mine", "wfnr_shared_node"]);
  expect(emulator.state.calls.filter((c) => c.runId === "wfnr_shared_node" && c.path.startsWith("/v1/actions/runs"))).toEqual([]);

  // The secret input reached the handler (it echoed its length and a hash, never the value) and nowhere else.
  expect(emulator.state.logsFor("r_shared_mine").join("\n")).toContain(`token of ${secret.length} characters`);
  const ledgerFiles = ["ledger.sqlite", "ledger.sqlite-wal"].filter((f) => existsSync(join(dir, f))).map((f) => readFileSync(join(dir, f)).toString("latin1"));
  const everywhere = [portside.output.join(""), JSON.stringify(emulator.state.calls), ...ledgerFiles].join("\n");
  expect(everywhere).not.toContain(secret);
}, 120_000);
