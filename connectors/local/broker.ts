import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import "../../src/shared/kafkajs-patch.ts";
import { ensureJars } from "./jars.ts";
import { exited, freePort, removeOnExit, runJava, sleep, spawnJava, stopJava, tail, writeLog4jConfig, writeProperties } from "./jvm.ts";

export interface BrokerOptions {
  /** Off by default: tests create their topics with the admin client, so a typo fails loudly. */
  autoCreateTopics?: boolean;
  /** Default 512m. */
  maxHeap?: string;
  /** Default 90 s. */
  startTimeoutMs?: number;
  /**
   * A second listener with SASL_SSL and SCRAM-SHA-512, as Port's cluster has: these users are created when
   * the storage is formatted, and the listener's TLS certificate is self-signed (its PEM is `caFile`).
   */
  sasl?: { users: Array<{ name: string; password: string }> };
}

export interface SaslListener {
  /** host:port of the SASL_SSL listener. */
  brokers: string;
  /** PEM of the listener's self-signed certificate, to trust as a CA. */
  caFile: string;
}

export interface Broker {
  /** host:port of the PLAINTEXT listener. */
  brokers: string;
  /** The SASL_SSL listener, when `sasl` was asked for. */
  sasl?: SaslListener;
  logFile: string;
  /** The broker JVM's process id (tests pause it with SIGSTOP and resume it with SIGCONT). */
  pid: number;
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
  const sasl = options.sasl ? await saslListener(dir) : undefined;
  writeProperties(serverProperties, {
    "process.roles": "broker,controller",
    "node.id": 1,
    "controller.quorum.voters": `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://${brokers},CONTROLLER://127.0.0.1:${controllerPort}${sasl ? `,SASL_SSL://${sasl.listener.brokers}` : ""}`,
    "advertised.listeners": `PLAINTEXT://${brokers}${sasl ? `,SASL_SSL://${sasl.listener.brokers}` : ""}`,
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": `CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${sasl ? ",SASL_SSL:SASL_SSL" : ""}`,
    ...(sasl?.properties ?? {}),
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
  // here saves a JVM start (`random-uuid`). One starting with "-" would be read as an option (1 in 64).
  let clusterId = randomBytes(16).toString("base64url");
  while (clusterId.startsWith("-")) clusterId = randomBytes(16).toString("base64url");
  const scramUsers = (options.sasl?.users ?? []).flatMap((u) => ["--add-scram", `SCRAM-SHA-512=[name=${u.name},password=${u.password}]`]);
  await runJava({
    libDir,
    mainClass: "kafka.tools.StorageTool",
    args: ["format", "-t", clusterId, "-c", serverProperties, ...scramUsers],
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
  return { brokers, ...(sasl ? { sasl: sasl.listener } : {}), logFile, pid: child.pid ?? 0, stop };
}

/**
 * A SASL_SSL listener with SCRAM-SHA-512: a self-signed certificate for 127.0.0.1 made with the JDK's
 * keytool (PKCS12 keystore for the broker, PEM for clients to trust) and the listener's settings.
 */
async function saslListener(dir: string): Promise<{ listener: SaslListener; properties: Record<string, string> }> {
  const keystore = join(dir, "broker.p12");
  const caFile = join(dir, "broker-ca.pem");
  const password = randomBytes(12).toString("hex");
  const keytool = (args: string[]) => execFileSync("keytool", args, { stdio: ["ignore", "ignore", "pipe"] });
  keytool([
    "-genkeypair",
    "-alias",
    "broker",
    "-keyalg",
    "RSA",
    "-keysize",
    "2048",
    "-validity",
    "3650",
    "-dname",
    "CN=127.0.0.1",
    "-ext",
    "SAN=IP:127.0.0.1,DNS:localhost",
    "-keystore",
    keystore,
    "-storetype",
    "PKCS12",
    "-storepass",
    password,
    "-keypass",
    password,
  ]);
  keytool(["-exportcert", "-rfc", "-alias", "broker", "-keystore", keystore, "-storepass", password, "-file", caFile]);
  const brokers = `127.0.0.1:${await freePort()}`;
  return {
    listener: { brokers, caFile },
    properties: {
      "sasl.enabled.mechanisms": "SCRAM-SHA-512",
      "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
      "ssl.keystore.type": "PKCS12",
      "ssl.keystore.location": keystore,
      "ssl.keystore.password": password,
      "ssl.key.password": password,
    },
  };
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
