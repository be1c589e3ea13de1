import { Kafka, logLevel } from "kafkajs";
import { startBroker } from "../../connectors/local/broker.ts";
// The fix for kafkajs's TimeoutNegativeWarning, for every test that uses kafkajs.
import "../../src/shared/kafkajs-patch.ts";
import { stopWhenTestsEnd } from "./shared-servers.ts";

export interface KafkaForTests {
  brokers: string[];
  via: "env" | "testcontainers" | "jvm";
}

let shared: Promise<KafkaForTests> | undefined;

/**
 * One Kafka per test process, shared by every suite: KAFKA_BROKERS if set, else a Testcontainers
 * broker when a container runtime answers, else a JVM broker from Maven Central jars. Throws (never
 * skips) when none can start, so a suite cannot pass by not running.
 */
export function getKafka(): Promise<KafkaForTests> {
  shared ??= start();
  return shared;
}

async function start(): Promise<KafkaForTests> {
  const fromEnv =
    process.env.KAFKA_BROKERS?.split(",")
      .map((b) => b.trim())
      .filter(Boolean) ?? [];
  if (fromEnv.length > 0) return { brokers: fromEnv, via: "env" };

  const problems: string[] = [];
  try {
    return await startContainer();
  } catch (error) {
    problems.push(`testcontainers: ${message(error)}`);
  }
  try {
    const broker = await startBroker();
    stopWhenTestsEnd(() => broker.stop());
    return { brokers: [broker.brokers], via: "jvm" };
  } catch (error) {
    problems.push(`JVM broker: ${message(error)}`);
  }
  throw new Error(`NO KAFKA FOR TESTS. Tried:\n- ${problems.join("\n- ")}\nFix one of them, or point KAFKA_BROKERS=host:port at a running broker.`);
}

async function startContainer(): Promise<KafkaForTests> {
  const { getContainerRuntimeClient } = await import("testcontainers");
  // Throws fast ("Could not find a working container runtime strategy") where no engine answers.
  await getContainerRuntimeClient();
  const { KafkaContainer } = await import("@testcontainers/kafka");
  // cp-kafka 8 dropped ZooKeeper; the module defaults to embedded ZooKeeper unless told otherwise.
  const container = await new KafkaContainer("confluentinc/cp-kafka:8.0.0").withKraft().start();
  stopWhenTestsEnd(() => container.stop().then(() => undefined));
  return { brokers: [`${container.getHost()}:${container.getMappedPort(9093)}`], via: "testcontainers" };
}

/** Creates topics (idempotently) and waits until they have leaders. */
export async function createTopics(brokers: string[], topics: string[], numPartitions = 1): Promise<void> {
  const admin = new Kafka({ brokers, clientId: "portside-tests", logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
