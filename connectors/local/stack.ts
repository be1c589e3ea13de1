/**
 * The whole pipeline on this machine without Docker (`npm run stack`): a Kafka broker and a Kafka
 * Connect worker on the JVM, the org's two topics, the Port emulator, portside, and the two HTTP sink
 * connectors. Then it produces Port-shaped runs to `ORG_ID.runs` and shows each one finish.
 *
 *   npm run stack                        press Enter to trigger another sample action; Ctrl-C stops all
 *   npm run stack -- --once              trigger one, wait until it finishes, stop everything (exit 0/1)
 *   npm run stack -- --direct            no Connect worker: portside consumes the topics itself (KAFKA_BROKERS)
 *   bun connectors/local/stack.ts --services-only --env-file F
 *                                        only broker + worker; writes KAFKA_BROKERS / KAFKA_CONNECT_URL to F
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import "../../src/shared/kafkajs-patch.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { readConnectorFile, registerConnector } from "../register.ts";
import { startBroker } from "./broker.ts";
import { startConnect } from "./connect.ts";
import { freePort } from "./jvm.ts";
import { sampleRun } from "./sample-run.ts";

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    once: { type: "boolean" },
    direct: { type: "boolean" },
    "services-only": { type: "boolean" },
    "env-file": { type: "string" },
    org: { type: "string" },
  },
});
const org = flags.org ?? process.env.ORG_ID ?? "org_portside_demo";
const repo = fileURLToPath(new URL("../../", import.meta.url));
const say = (line: string) => console.log(`stack: ${line}`);
const stops: Array<() => Promise<unknown> | unknown> = [];

async function stopAll(code: number): Promise<never> {
  for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
  process.exit(code);
}
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

let started = Date.now();
const broker = await startBroker();
stops.push(() => broker.stop());
say(`Kafka broker on ${broker.brokers} (${Date.now() - started} ms; log ${broker.logFile})`);
// --direct: no Connect worker; portside's own consumer reads the topics.
const worker = flags.direct ? null : await startConnect({ brokers: broker.brokers });
if (worker) {
  stops.push(() => worker.stop());
  say(`Kafka Connect worker on ${worker.url} (${Date.now() - started} ms; log ${worker.logFile})`);
}
started = Date.now();

if (flags["services-only"]) {
  const env = `KAFKA_BROKERS=${broker.brokers}\n${worker ? `KAFKA_CONNECT_URL=${worker.url}\n` : ""}`;
  if (flags["env-file"]) writeFileSync(flags["env-file"], env);
  else process.stdout.write(env);
  say("services up; Ctrl-C (SIGTERM) stops them");
  setInterval(() => undefined, 1 << 30);
} else {
  await runStack();
}

async function runStack() {
  const kafka = new Kafka({ brokers: [broker.brokers], clientId: "portside-stack", logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [`${org}.runs`, `${org}.change.log`].map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
  await admin.disconnect();
  say(`topics ${org}.runs and ${org}.change.log`);

  const emulator = createPortEmulator({});
  const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  stops.push(() => emulatorServer.stop(true));
  say(`Port EMULATOR (not Port) on http://127.0.0.1:${emulatorServer.port}`);

  const sinkToken = randomBytes(24).toString("hex");
  const port = Number(process.env.PORT ?? (await freePort()));
  // The stack's own broker is the only Kafka portside sees: KAFKA_* settings from the calling shell (another
  // cluster's brokers or credentials) would start a second consumer, or point this one elsewhere.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("KAFKA_")));
  const portside = Bun.spawn([process.execPath, "src/entry/main.ts"], {
    cwd: repo,
    env: {
      ...inherited,
      HOST: "127.0.0.1",
      PORT: String(port),
      ORG_ID: org,
      SINK_TOKEN: sinkToken,
      PORT_API_URL: `http://127.0.0.1:${emulatorServer.port}`,
      PORT_CLIENT_ID: "emulator-client-id",
      PORT_CLIENT_SECRET: "emulator-client-secret",
      HANDLERS: process.env.HANDLERS ?? "src/examples/handlers.ts",
      LEDGER: process.env.LEDGER ?? "sqlite:./.portside/stack.sqlite",
      // The topics were made a moment ago, so the consumer may read them from the beginning.
      ...(worker ? {} : { KAFKA_BROKERS: broker.brokers, KAFKA_GROUP_ID: `${org}.portside-stack`, KAFKA_FROM_BEGINNING: "true" }),
    },
    stdout: "inherit",
    stderr: "inherit",
  });
  stops.push(async () => {
    portside.kill("SIGTERM");
    await portside.exited;
  });
  const portsideUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (
      // Ready: the ledger answers and, in --direct mode, the consumer has joined its group.
      await fetch(`${portsideUrl}/readyz`)
        .then((r) => r.ok)
        .catch(() => false)
    )
      break;
    if (i > 300 || portside.exitCode !== null) {
      say("portside did not start");
      await stopAll(1);
    }
    await Bun.sleep(100);
  }
  say(`portside on ${portsideUrl}`);

  if (!worker) say(`portside consumes ${org}.runs and ${org}.change.log itself (KAFKA_BROKERS=${broker.brokers}); no Connect worker`);
  for (const name of ["runs", "changes"]) {
    if (!worker) break;
    const status = await registerConnector(worker.url, readConnectorFile(`${repo}connectors/standin/${name}.local.json`), {
      env: { ORG_ID: org, PORTSIDE_URL: portsideUrl, SINK_TOKEN: sinkToken },
      timeoutMs: 60_000,
    });
    say(`connector ${status.name}: ${status.connector.state}, tasks ${status.tasks.map((t) => `${t.id}:${t.state}`).join(" ")}`);
  }

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  stops.push(() => producer.disconnect());
  let count = 0;

  /** Produces one "deploy" run as Port would, and prints what reaches the emulator once it finishes. */
  const trigger = async (): Promise<boolean> => {
    const runId = `r_stack_${Date.now().toString(36)}_${++count}`;
    const message = sampleRun(org, runId);
    emulator.state.declareRun(runId); // Port knows a run before it publishes it; the emulator does too
    const sentAt = Date.now();
    await producer.send({ topic: `${org}.runs`, messages: [{ key: runId, value: JSON.stringify(message) }] });
    say(`produced run ${runId} (deploy checkout-service ${message.payload.properties.version}) to ${org}.runs`);
    while (!emulator.state.terminalStatus(runId) && Date.now() - sentAt < 30_000) await Bun.sleep(20);
    const run = emulator.state.runs.get(runId);
    const status = emulator.state.terminalStatus(runId);
    say(`run ${runId} → ${status ?? "no status after 30 s"} in ${Date.now() - sentAt} ms${run?.summary ? ` — ${run.summary}` : ""}`);
    for (const line of emulator.state.logsFor(runId).flatMap((l) => l.split("\n"))) say(`    log    ${line}`);
    for (const e of run?.linkedEntities ?? []) say(`    entity ${e.blueprint}/${e.identifier}`);
    return status === "SUCCESS";
  };

  const ok = await trigger();
  if (flags.once) await stopAll(ok ? 0 : 1);
  say("press Enter to trigger another sample action; Ctrl-C stops everything");
  createInterface({ input: process.stdin }).on("line", () => void trigger());
}
