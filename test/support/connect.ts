import { startConnect } from "../../connectors/local/connect.ts";
import { stopWhenTestsEnd } from "./shared-servers.ts";
import { getKafka } from "./kafka.ts";

export interface ConnectForTests {
  /** REST base URL of a distributed worker whose plugin.path holds the stand-in HTTP sink. */
  url: string;
  via: "env" | "jvm";
  /** Bootstrap servers the worker (and so its sink connectors) consume from. */
  brokers: string[];
}

let shared: Promise<ConnectForTests> | undefined;

/**
 * One Connect worker per test process: KAFKA_CONNECT_URL if set (then KAFKA_BROKERS must name the
 * cluster it consumes from), else a JVM worker against getKafka(), whichever way that Kafka came.
 */
export function getConnect(): Promise<ConnectForTests> {
  shared ??= start();
  return shared;
}

async function start(): Promise<ConnectForTests> {
  const kafka = await getKafka();
  const fromEnv = process.env.KAFKA_CONNECT_URL?.replace(/\/+$/, "");
  if (fromEnv) return { url: fromEnv, via: "env", brokers: kafka.brokers };
  try {
    const worker = await startConnect({ brokers: kafka.brokers });
    stopWhenTestsEnd(() => worker.stop());
    return { url: worker.url, via: "jvm", brokers: kafka.brokers };
  } catch (error) {
    throw new Error(
      `NO KAFKA CONNECT FOR TESTS: ${error instanceof Error ? error.message : String(error)}\nFix it, or point KAFKA_CONNECT_URL at a running worker.`,
    );
  }
}
