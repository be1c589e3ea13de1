import type { LogLevel } from "./log.ts";
import type { Network } from "./shared/networks.ts";
import type { Secret } from "./shared/secret.ts";

/**
 * What `loadConfig` (config.ts) gives: every setting, read and checked, in the shape the rest of portside
 * uses. The reading and its refusals live in config.ts; the variables, defaults and help in config-settings.ts.
 */

export type LedgerSetting = { type: "sqlite"; path: string } | { type: "redis"; url: Secret } | { type: "memory" };

export interface Config {
  host: string;
  port: number;
  /** Serves /metrics apart, without a token, on this port; null: /metrics on PORT behind ADMIN_TOKEN. */
  metricsPort: number | null;
  orgId: string;
  /** Bearer token the connector sends; null only when started open for local use. */
  sinkToken: Secret | null;
  /** Token for /admin endpoints; null turns /admin off (except in open mode, where it needs no token). */
  adminToken: Secret | null;
  /** How long a console session lasts after signing in with ADMIN_TOKEN. */
  consoleSessionMs: number;
  open: boolean;
  portApiUrl: string;
  /** Null when no Port credentials are configured (only allowed in open mode: the emulator stands in). */
  portCredentials: { clientId: string; clientSecret: Secret } | null;
  /** The action definitions the emulator serves when it stands in for Port; null: the example actions. */
  emulatorActionsPath: string | null;
  /** The local Port emulator's port in open mode (0: any free one). */
  emulatorPort: number;
  handlersPath: string | null;
  /** How long importing the handler module may take before the start fails naming it. */
  handlersImportTimeoutMs: number;
  routesPath: string | null;
  ledger: LedgerSetting;
  bodyLimitBytes: number;
  concurrency: number;
  /** Runs and changes that may wait on EventBridge at once, besides the handler slots (a hard cap). */
  targetConcurrency: number;
  handlerTimeoutMs: number;
  ackMode: "durable" | "sync";
  /** A run for an action with no handler or route: left to other consumers (`ignore`) or reported FAILURE (`fail`). */
  unhandledRuns: "ignore" | "fail";
  /** How many times a run whose attempts keep being interrupted may start before it ends FAILURE. */
  maxRunAttempts: number;
  /** How long finished runs and dedupe keys are remembered: the dedupe window. */
  retentionMs: number;
  /** How long a dead letter is kept (then forgotten, its key free again). */
  deadLetterRetentionMs: number;
  shutdownGraceMs: number;
  /** The soft memory limit: above it, full collections (at most a quarter of the time); 0 is off. */
  memoryLimitBytes: number;
  /** Lease on claimed work; renewed every third of it while the handler runs. */
  leaseMs: number;
  /** Lease on a run's claimed reports: longer than one Port call with its in-process retries. */
  reportLeaseMs: number;
  /** The longest wait taken from Port's `Retry-After` / `x-ratelimit-reset`, and the latest a report is put off; at most half the report lease. */
  portMaxWaitMs: number;
  /** Where the run id and action identifier live in custom payload templates (dot paths). */
  locator: { runIdPath: string; actionPath: string } | null;
  orderBy: "entity" | "none";
  /** Refuse agent-style runs whose signature is older/newer than this (replay window). */
  signatureToleranceMs: number;
  logLevel: LogLevel;
  /** How log lines read: JSON, lines for people, or `auto` (the command decides: `portside dev` on a terminal reads pretty). */
  logFormat: "auto" | "json" | "pretty";
  /** Amazon EventBridge fan-out (see `src/targets/eventbridge/README.md`). */
  eventBridge: EventBridgeSettings;
  /** Topic names of the two kinds of records, for the ways in that read Kafka themselves (consumer, Lambda). */
  topics: Topics;
  /** The built-in Kafka consumer (KAFKA_BROKERS); null when portside is fed by a Connect HTTP sink only. */
  kafka: KafkaSettings | null;
  /** Taking runs by polling Port's API (PORT_POLLING); null: off. */
  polling: PollingSettings | null;
  /** portside in the place of Port's execution agent (EXECUTION_AGENT, implied by PORT_POLLING); null: off. */
  executionAgent: ExecutionAgentSettings | null;
  /** Port's agent's variables read as portside's (fromAgentEnvironment), said once at start. */
  agentVariablesTaken: string[];
  /** Port's signed WEBHOOK invocations at /webhooks/port (PORT_WEBHOOKS); null: off. */
  webhook: WebhookSettings | null;
}

export interface Topics {
  /** Null: that topic is not read. */
  runs: string | null;
  changes: string | null;
}

/**
 * Where this configuration runs: the service (HTTP sink, optionally the Kafka consumer) or an AWS Lambda
 * function fed by a Kafka event source, which serves no HTTP (so needs no SINK_TOKEN) and has no SQLite.
 */
export type Entry = "service" | "lambda";

export interface KafkaSettings {
  /** `host:port` list, or "port": ask Port's API for the brokers and credentials of the organisation. */
  brokers: string[] | "port";
  /** Starts with `ORG_ID.` (Port's brokers refuse other groups). */
  groupId: string;
  /** Null: that topic is not consumed. */
  runsTopic: string | null;
  changesTopic: string | null;
  /** SASL/SCRAM-SHA-512 (Port's cluster); null for an unauthenticated broker. */
  sasl: { username: string; password: Secret } | null;
  /** TLS to the brokers (default: on when SASL is, as Port's cluster wants). */
  ssl: boolean;
  /** A PEM file of the CA that signed the brokers' certificates, when not a public one. */
  caFile: string | null;
  /** A group with no committed offsets starts at the beginning of the topics instead of their end. */
  fromBeginning: boolean;
  /** How long the broker waits for a silent member before giving its partitions to others (heartbeats every quarter of it). */
  sessionTimeoutMs: number;
  /** How long the consumer may stay down (crashed, stalled) before /healthz answers 503. */
  recoveryTimeoutMs: number;
}

export interface PollingSettings {
  intervalMs: number;
  batch: number;
  nodeRuns: boolean;
  maxFailureMs: number;
}

export interface ExecutionAgentSettings {
  /** The agent's mapping file; null: the agent's default mapping. */
  mappingPath: string | null;
  /** One forwarded call's time limit. */
  timeoutMs: number;
  verifyTls: boolean;
  /** What a mapping's jq sees as `env`: the variables JQ_ENV names that are set. */
  jqEnv: Record<string, string>;
}

export interface WebhookSettings {
  toleranceMs: number;
  /** Where the run id is in the body; null: the usual places (see messages/webhook.ts). */
  runIdPath: string | null;
  syncTimeoutMs: number;
  /** Where webhooks may come from; null: anywhere. */
  allow: Network[] | null;
  /** Proxies whose X-Forwarded-For is believed. */
  trustedProxies: Network[];
}

export interface EventBridgeSettings {
  /** Null: the AWS SDK finds the region itself (a profile's; it does not read AWS_DEFAULT_REGION). */
  region: string | null;
  /** Bus for targets that name none: a name or an ARN. */
  bus: string;
  /** `Source` for targets that name none. */
  source: string;
  /** Endpoint override (local work); null leaves it to the SDK, which also reads AWS_ENDPOINT_URL_EVENTBRIDGE. */
  endpoint: string | null;
  /** Largest PutEvents request (sum of entry sizes); 256 KB on classic buses. */
  maxRequestBytes: number;
  /** Client-side cap on PutEvents calls per second, below the account's quota. */
  putEventsPerSecond: number;
  /** How long one record's throttled/failed delivery is retried before it is parked. */
  retryForMs: number;
}
