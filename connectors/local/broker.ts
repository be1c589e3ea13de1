import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { ensureJars } from "./jars.ts";
import { exited, freePort, removeOnExit, runJava, sleep, spawnJava, stopJava, tail, writeLog4jConfig, writeProperties } from "./jvm.ts";

export interface BrokerOptions {
  /** Off by default: tests create their topics with the admin client, so a typo fails loudly. */
  autoCreateTopics?: boolean;
  /** Default 512m. */
  maxHeap?: string;
  /** Default 90 s. */
  startTimeoutMs?: number;
}

export interface Broker {
  /** host:port of the PLAINTEXT listener. */
  brokers: string;
  logFile: string;
  stop(): Promise<void>;
}

/** Single-node KRaft broker (combined broker+controller) from the cached jars, on loopback only. */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const { libDir } = await ensureJars();
  const dir = mkdtempSync(join(tmpdir(), "portside-broker-"));
  const tempDir = removeOnExit(dir);
  const logFile = join(dir, "broker.log");
  const consoleFile = join(dir, "broker.out");
  const [port, controllerPort] = [await freePort(), await freePort()];
  const brokers = `127.0.0.1:${port}`;
  const serverProperties = join(dir, "server.properties");
  writeProperties(serverProperties, {
    "process.roles": "broker,controller",
    "node.id": 1,
    "controller.quorum.voters": `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://${brokers},CONTROLLER://127.0.0.1:${controllerPort}`,
    "advertised.listeners": `PLAINTEXT://${brokers}`,
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "log.dirs": join(dir, "data"),
    "auto.create.topics.enable": options.autoCreateTopics ?? false,
    "num.partitions": 1,
    "default.replication.factor": 1,
    "min.insync.replicas": 1,
    "offsets.topic.replication.factor": 1,
    // One partition instead of 50: creating __consumer_offsets is on the path of the first group join.
    "offsets.topic.num.partitions": 1,
    "transaction.state.log.replication.factor": 1,
    "transaction.state.log.min.isr": 1,
    "transaction.state.log.num.partitions": 1,
    // The default 3 s delay before the first rebalance of a new group would add 3 s to every sink start.
    "group.initial.rebalance.delay.ms": 0,
    "num.network.threads": 2,
    "num.io.threads": 2,
  });
  const log4jConfig = writeLog4jConfig(dir, logFile);

  const failed = (reason: string) => new Error(`Kafka broker did not start: ${reason}\nlog: ${logFile}\n${tail(logFile)}\n${tail(consoleFile, 5)}`);

  // 22 chars of base64url over 16 bytes is the cluster id format StorageTool expects; making it
  // here saves a JVM start (`random-uuid`).
  const clusterId = randomBytes(16).toString("base64url");
  await runJava({
    libDir,
    mainClass: "kafka.tools.StorageTool",
    args: ["format", "-t", clusterId, "-c", serverProperties],
    log4jConfig,
    consoleFile,
    heap: { max: "256m" },
  }).catch((error: unknown) => {
    tempDir.keep();
    throw failed(error instanceof Error ? error.message : String(error));
  });

  const child = spawnJava({
    libDir,
    mainClass: "kafka.Kafka",
    args: [serverProperties],
    log4jConfig,
    consoleFile,
    heap: { min: "256m", max: options.maxHeap ?? "512m" },
    keepsProcessAlive: false,
    tempDir: dir,
  });
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= stopJava(child).then(() => tempDir.remove()));

  try {
    await waitUntilReady(brokers, options.startTimeoutMs ?? 90_000, () => exited(child));
  } catch (error) {
    // Keep the dir: the log path in the message is the only way to find out why.
    tempDir.keep();
    await stopJava(child, 2_000);
    throw failed(error instanceof Error ? error.message : String(error));
  }
  return { brokers, logFile, stop };
}

async function waitUntilReady(brokers: string, timeoutMs: number, hasExited: () => boolean): Promise<void> {
  const kafka = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1_000 });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited()) throw new Error("the JVM exited during start-up");
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0) return;
    } catch {
      // Not listening yet, or listening before the controller elected itself.
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms`);
    await sleep(250);
  }
}

if (import.meta.main) {
  const started = Date.now();
  const broker = await startBroker();
  console.log(`broker ${broker.brokers} ready in ${Date.now() - started} ms (log ${broker.logFile})`);
  await broker.stop();
}
