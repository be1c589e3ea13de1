import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureJars, HTTP_SINK_CONNECTOR_CLASS } from "./jars.ts";
import { exited, freePort, removeOnExit, sleep, spawnJava, stopJava, tail, writeLog4jConfig, writeProperties } from "./jvm.ts";

export interface ConnectOptions {
  /** Bootstrap servers of the worker's own cluster (where its internal topics live). */
  brokers: string | string[];
  /** Extra or overriding worker properties. */
  workerProperties?: Record<string, string | number | boolean>;
  /** Default 512m. */
  maxHeap?: string;
  /** Default 120 s. */
  startTimeoutMs?: number;
}

export interface ConnectWorker {
  /** REST base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * A distributed-mode Connect worker, the mode Port users run in production. Each start gets its own
 * group id and internal topics, so several workers (or test runs) can share one broker.
 */
export async function startConnect(options: ConnectOptions): Promise<ConnectWorker> {
  const { libDir, pluginPath } = await ensureJars();
  const dir = mkdtempSync(join(tmpdir(), "portside-connect-"));
  const tempDir = removeOnExit(dir);
  const logFile = join(dir, "connect.log");
  const consoleFile = join(dir, "connect.out");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const group = `portside-connect-${randomBytes(4).toString("hex")}`;
  const workerProperties = join(dir, "worker.properties");
  writeProperties(workerProperties, {
    "bootstrap.servers": Array.isArray(options.brokers) ? options.brokers.join(",") : options.brokers,
    "group.id": group,
    "config.storage.topic": `${group}-configs`,
    "offset.storage.topic": `${group}-offsets`,
    "status.storage.topic": `${group}-status`,
    "config.storage.replication.factor": 1,
    "offset.storage.replication.factor": 1,
    "status.storage.replication.factor": 1,
    // Defaults are 25 and 5 partitions; one each is enough for one worker and creates faster.
    "offset.storage.partitions": 1,
    "status.storage.partitions": 1,
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    listeners: url,
    "rest.advertised.host.name": "127.0.0.1",
    "rest.advertised.port": port,
    "plugin.path": pluginPath,
    // Every plugin here ships a ServiceLoader manifest, so skip the slow reflective classpath scan.
    "plugin.discovery": "service_load",
    // Port's cluster only admits consumer groups named ORG_ID.*, which connectors set through
    // consumer.override.group.id; the default policy (None) rejects every override.
    "connector.client.config.override.policy": "All",
    // How often sink offsets are committed. It does not delay delivery; it bounds how much is
    // redelivered after a restart (default 60 s).
    "offset.flush.interval.ms": 1_000,
    // With one worker there is no departed peer worth waiting for (default 5 min).
    "scheduled.rebalance.max.delay.ms": 0,
    // Deleting or reconfiguring a connector waits this long for its tasks (default 5 s).
    "task.shutdown.graceful.timeout.ms": 2_000,
    ...options.workerProperties,
  });
  const log4jConfig = writeLog4jConfig(dir, logFile, {
    // Connect dumps every client config at INFO: large and worth little. The clients' other INFO
    // lines (group joins, partition assignment) stay, they explain a sink that delivers nothing.
    "org.apache.kafka.clients.consumer.ConsumerConfig": "WARN",
    "org.apache.kafka.clients.producer.ProducerConfig": "WARN",
    "org.apache.kafka.clients.admin.AdminClientConfig": "WARN",
    // Camel's connector logs every connector property, secrets included, at INFO.
    "org.apache.camel.kafkaconnector": "WARN",
  });

  const child = spawnJava({
    libDir,
    mainClass: "org.apache.kafka.connect.cli.ConnectDistributed",
    args: [workerProperties],
    log4jConfig,
    consoleFile,
    heap: { max: options.maxHeap ?? "512m" },
    keepsProcessAlive: false,
    tempDir: dir,
  });
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= stopJava(child).then(() => tempDir.remove()));

  try {
    await waitUntilReady(url, options.startTimeoutMs ?? 120_000, () => exited(child));
  } catch (error) {
    tempDir.keep();
    await stopJava(child, 2_000);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Kafka Connect worker did not start: ${reason}\nlog: ${logFile}\n${tail(logFile)}\n${tail(consoleFile, 5)}`);
  }
  return { url, logFile, stop };
}

/**
 * Ready = the plugin is loaded and the herder has joined its group and read the config topic
 * (GET /connectors answers 200 only then); before that a PUT gets 409 or times out.
 */
async function waitUntilReady(url: string, timeoutMs: number, hasExited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  for (;;) {
    if (hasExited()) throw new Error("the JVM exited during start-up");
    try {
      const plugins = await fetch(`${url}/connector-plugins`, { signal: AbortSignal.timeout(2_000) });
      const classes = plugins.ok ? ((await plugins.json()) as { class: string }[]).map((p) => p.class) : [];
      if (!classes.includes(HTTP_SINK_CONNECTOR_CLASS)) {
        last = `GET /connector-plugins: ${plugins.status}, ${HTTP_SINK_CONNECTOR_CLASS} not listed`;
      } else {
        const connectors = await fetch(`${url}/connectors`, { signal: AbortSignal.timeout(2_000) });
        if (connectors.ok) return;
        last = `GET /connectors: ${connectors.status}`;
      }
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms (${last})`);
    await sleep(250);
  }
}

if (import.meta.main) {
  const { startBroker } = await import("./broker.ts");
  let started = Date.now();
  const broker = await startBroker();
  console.log(`broker ${broker.brokers} ready in ${Date.now() - started} ms`);
  started = Date.now();
  const worker = await startConnect({ brokers: broker.brokers });
  console.log(`connect ${worker.url} ready in ${Date.now() - started} ms (log ${worker.logFile})`);
  await worker.stop();
  await broker.stop();
}
