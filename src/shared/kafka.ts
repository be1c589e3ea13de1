/**
 * kafkajs, set up once for everything in portside that talks to Kafka: the client for a broker list with
 * SASL/SCRAM-SHA-512 over TLS (Port's cluster) or plain (a local broker), its log lines routed to portside's
 * structured logger (never with credentials), and the fix for a warning kafkajs prints on idle connections.
 */
import { readFileSync } from "node:fs";
import { Kafka, type KafkaConfig, logLevel, type SASLOptions } from "kafkajs";
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
import type { Logger } from "../log.ts";

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

/**
 * kafkajs 2.2.4 (its last release) schedules the check of its request queue `throttledUntil - now` ms
 * ahead even when nothing is pending and nothing throttled; `throttledUntil` starts at -1, so the delay
 * is minus the epoch, which Node and Bun clamp to 1 ms with a TimeoutNegativeWarning on every idle
 * connection. In exactly that case there is nothing to check, so nothing is scheduled.
 */
interface Queue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: unknown;
  scheduleCheckPendingRequests(): void;
}
const proto = (RequestQueue as { prototype: Queue }).prototype;
const schedule = proto.scheduleCheckPendingRequests;
if (typeof schedule === "function" && !(schedule as { fixed?: true }).fixed) {
  const fixed = function (this: Queue) {
    if (!this.throttleCheckTimeoutId && this.pending.length === 0 && this.throttledUntil <= Date.now()) return;
    schedule.call(this);
  };
  Object.assign(fixed, { fixed: true });
  proto.scheduleCheckPendingRequests = fixed;
}
