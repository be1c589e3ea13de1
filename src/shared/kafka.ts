/**
 * kafkajs, set up once for everything in portside that talks to Kafka: the client for a broker list with
 * SASL/SCRAM-SHA-512 over TLS (Port's cluster) or plain (a local broker), its log lines routed to portside's
 * structured logger (never with credentials), and the fix for a warning kafkajs prints on idle connections
 * (./kafkajs-patch.ts, imported as well by every other piece of the repository that uses kafkajs).
 */
import { readFileSync } from "node:fs";
import { Kafka, type KafkaConfig, logLevel, type SASLOptions } from "kafkajs";
import type { Logger } from "../log.ts";
import "./kafkajs-patch.ts";

export interface KafkaConnection {
  brokers: string[];
  /** SCRAM-SHA-512 credentials; null for an unauthenticated broker. */
  sasl: { username: string; password: string } | null;
  ssl: boolean;
  /** PEM text of a CA to trust besides the public ones. */
  ca?: string;
  clientId?: string;
}

export function createKafka(connection: KafkaConnection, logger: Logger): Kafka {
  const sasl: SASLOptions | undefined = connection.sasl ? { mechanism: "scram-sha-512", ...connection.sasl } : undefined;
  const config: KafkaConfig = {
    clientId: connection.clientId ?? "portside",
    brokers: connection.brokers,
    ssl: connection.ssl ? (connection.ca ? { ca: [connection.ca] } : true) : false,
    ...(sasl ? { sasl } : {}),
    connectionTimeout: 10_000,
    logLevel: logLevel.WARN,
    // kafkajs's own lines, as structured log lines; its entries hold broker addresses, never credentials.
    logCreator: () => (entry) => {
      const { message, ...fields } = entry.log;
      const line = {
        namespace: entry.namespace,
        message,
        ...pick(fields, ["broker", "clientId", "groupId", "topic", "partition", "error", "retryCount", "retryTime"]),
      };
      if (entry.level <= logLevel.ERROR) logger.error("kafka.client", line);
      else if (entry.level === logLevel.WARN) logger.warn("kafka.client", line);
      else logger.debug("kafka.client", line);
    },
  };
  return new Kafka(config);
}

export const readCa = (path: string | null): string | undefined => (path ? readFileSync(path, "utf8") : undefined);

function pick(fields: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => fields[k] !== undefined).map((k) => [k, fields[k]]));
}
