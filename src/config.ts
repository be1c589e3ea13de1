import * as v from "valibot";
import { httpUrlProblem, redactUrl, redisUrlProblem } from "./config-urls.ts";
import type { LogLevel } from "./log.ts";
import { defaultMaxPortWaitMs } from "./port/rate-headers.ts";
import { Secret } from "./shared/secret.ts";
import { firstIssue } from "./messages/issues.ts";

/**
 * All of portside's settings come from the environment, are read once at start-up and validated here.
 * A bad value stops the service with a message naming the variable and the fix; secrets are wrapped so
 * that printing the config (or an error holding it) never shows them.
 */

export { Secret };
export { redactUrl };

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
  /** Amazon EventBridge fan-out (see `src/targets/eventbridge/README.md`). */
  eventBridge: EventBridgeSettings;
  /** Topic names of the two kinds of records, for the ways in that read Kafka themselves (consumer, Lambda). */
  topics: Topics;
  /** The built-in Kafka consumer (KAFKA_BROKERS); null when portside is fed by a Connect HTTP sink only. */
  kafka: KafkaSettings | null;
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

export interface EventBridgeSettings {
  /** Null: the AWS SDK finds the region itself (AWS_REGION / AWS_DEFAULT_REGION / profile). */
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

/** What each variable means and how to fix it, used in error messages and the README. */
export const variables = {
  PORT: "listen port (default 3000)",
  METRICS_PORT:
    "serve Prometheus metrics (/metrics) on this port instead, without a token (keep it off the public network); unset: /metrics on PORT behind ADMIN_TOKEN",
  HOST: "listen address (default 127.0.0.1; use 0.0.0.0 in a container)",
  ORG_ID: "your Port organisation id (org_…); records of any other organisation are parked",
  SINK_TOKEN: "bearer token the Kafka Connect HTTP sink sends; generate one with `openssl rand -hex 32`",
  ADMIN_TOKEN:
    "bearer token for /admin endpoints (dead letters, replay, stats), at least 16 characters and not the SINK_TOKEN; without it /admin is off (open mode aside)",
  CONSOLE_SESSION_HOURS: "how long a console session lasts after signing in with ADMIN_TOKEN, in hours (default 8)",
  PORTSIDE_OPEN: "set to `true` to run without SINK_TOKEN, for local use only",
  PORTSIDE_ALLOW_HTTP:
    "`true`: PORT_API_URL and EVENTBRIDGE_ENDPOINT may be plain http:// URLs to hosts other than this machine (an emulator or LocalStack in another container); default false: https://, or http:// to a loopback host only",
  PORT_API_URL:
    "Port API base URL: https://api.port.io (EU, the default), https://api.us.port.io (US); the older https://api.getport.io and https://api.us.getport.io work too",
  PORT_CLIENT_ID: "Port client id (Port → Credentials)",
  PORT_CLIENT_SECRET: "Port client secret (Port → Credentials); also verifies signed agent-style messages",
  HANDLERS: "path of your handler module (TypeScript), e.g. ./handlers.ts",
  HANDLERS_IMPORT_TIMEOUT_MS: "how long importing the handler module may take, top-level awaits included, before the start fails naming it (default 30000)",
  ROUTES: "path of an EventBridge routes file (JSON or YAML), e.g. ./routes.json; see src/targets/eventbridge/README.md",
  LEDGER:
    "where accepted work is kept: sqlite:<path> (default sqlite:./.portside/ledger.sqlite; on AWS Lambda the default is memory), redis://[user:password@]host:port[/db] (rediss:// for TLS), or memory",
  BODY_LIMIT_BYTES: "largest sink request body in bytes (default 5242880 = 5 MiB)",
  CONCURRENCY: "how many handlers run at once (default 16); work waiting on EventBridge takes no slot",
  TARGET_CONCURRENCY: "how many runs and changes may wait on EventBridge at once, besides the handler slots (default 2048); beyond it they wait for room",
  HANDLER_TIMEOUT_MS: "default handler time limit in ms (default 600000 = 10 min)",
  ACK_MODE: "`durable` (default: ack once recorded) or `sync` (ack once the handlers finished)",
  UNHANDLED_RUNS:
    "`ignore` (default: runs of actions with no handler or route are left to other consumers of the topic) or `fail` (reported FAILURE, for when portside is the only consumer)",
  MAX_RUN_ATTEMPTS: "how many times a run marked rerunOnInterrupt may start when its attempts keep being interrupted, before it ends FAILURE (default 3)",
  RETENTION_HOURS: "how long finished runs and dedupe keys are kept (default 168 = 7 days)",
  DEAD_LETTER_RETENTION_HOURS: "how long a parked record (dead letter) is kept before it is forgotten (default 336 = 14 days)",
  SHUTDOWN_GRACE_MS: "how long running handlers may finish after SIGTERM (default 25000)",
  REPORT_LEASE_MS:
    "how long a replica's claim on a run's undelivered reports lasts (default 120000; it must outlast one Port call with its retries): after a replica dies, its claimed reports are sent by another this long later",
  PORT_MAX_WAIT_MS: `the longest wait portside takes from Port's Retry-After and x-ratelimit-reset, and the latest it puts a report off to (default ${defaultMaxPortWaitMs} = ${defaultMaxPortWaitMs / 60_000} min, and at most half of REPORT_LEASE_MS); a longer ask from Port is logged once as a warning`,
  LEASE_MS:
    "how long a replica's claim on a running item lasts without a heartbeat (default 60000): after a replica on another host dies, its running items are taken over this long later",
  MEMORY_LIMIT_MB: "soft memory limit in MB (default 128; 0 turns it off): above it, portside runs full garbage collections, at most a quarter of the time",
  RUN_ID_PATH: "dot path of the run id in a custom payload template, e.g. meta.runId",
  ACTION_PATH: "dot path of the action identifier in a custom payload template, e.g. meta.action",
  ORDER_BY: "`entity` (default: runs on one entity run one at a time, in order) or `none`",
  SIGNATURE_TOLERANCE_MS: "freshness window for signed messages in ms (default 300000 = 5 min)",
  LOG_LEVEL: "debug, info (default), warn or error",
  AWS_REGION: "AWS region for EventBridge, e.g. eu-west-1 (default: the AWS SDK's own lookup); credentials come from the SDK's default provider chain",
  EVENTBRIDGE_BUS: "event bus (name or ARN) for EventBridge targets that name none (default `default`)",
  EVENTBRIDGE_SOURCE: "`Source` of events for EventBridge targets that name none (default `portside`)",
  EVENTBRIDGE_ENDPOINT: "EventBridge endpoint URL for local work, e.g. http://127.0.0.1:4566 (the SDK also reads AWS_ENDPOINT_URL_EVENTBRIDGE)",
  EVENTBRIDGE_MAX_REQUEST_BYTES: "largest PutEvents request in bytes (default 262144 = 256 KB; up to 1048576 on buses that allow 1 MiB)",
  EVENTBRIDGE_PUT_EVENTS_PER_SECOND:
    "PutEvents calls per second this instance may make (default 400, the lowest regional quota; divide your quota by the number of replicas)",
  EVENTBRIDGE_RETRY_FOR_MS: "how long a throttled event is retried before it is parked (default 300000 = 5 min; capped at 90% of HANDLER_TIMEOUT_MS)",
  KAFKA_BROKERS:
    "turns on the built-in Kafka consumer: comma-separated host:port list, or `port` to ask Port's API for the brokers and credentials of your organisation (as Port's agent does)",
  KAFKA_GROUP_ID: "consumer group of the built-in consumer (default ORG_ID.portside); must start with `ORG_ID.`, which Port's brokers require",
  KAFKA_RUNS_TOPIC: "runs topic the built-in consumer or the Lambda function reads (default ORG_ID.runs); `off` to read none",
  KAFKA_CHANGES_TOPIC: "change-log topic the built-in consumer or the Lambda function reads (default ORG_ID.change.log); `off` to read none",
  KAFKA_USERNAME: "SASL/SCRAM-SHA-512 user for the brokers (Port's cluster); with KAFKA_PASSWORD",
  KAFKA_PASSWORD: "SASL/SCRAM-SHA-512 password for the brokers; with KAFKA_USERNAME",
  KAFKA_SSL: "`true` or `false`: TLS to the brokers (default true when KAFKA_USERNAME is set or KAFKA_BROKERS=port, else false)",
  KAFKA_CA_FILE: "PEM file of the CA that signed the brokers' certificates, when it is not a public one",
  KAFKA_FROM_BEGINNING: "`true`: a new consumer group starts at the beginning of the topics (default false: at their end, so old runs are not executed)",
  KAFKA_SESSION_TIMEOUT_MS:
    "how long the brokers wait for a member that went silent (killed, cut off) before its partitions go to another member or to its own restart, in ms (default 10000; heartbeats go every quarter of it); the brokers accept group.min.session.timeout.ms to group.max.session.timeout.ms, 6000 to 1800000 by default",
  KAFKA_RECOVERY_TIMEOUT_MS:
    "how long the built-in consumer may stay down (crashed and not back, or no answer from the brokers) before /healthz answers 503 so the orchestrator restarts portside, in ms (default 120000); it keeps trying meanwhile",
} as const;

export type VariableName = keyof typeof variables;

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly variable: VariableName,
    problem: string,
  ) {
    super(`${variable}: ${problem}. ${variables[variable]}.`);
  }
}

type Env = Record<string, string | undefined>;

const intIn = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^\d+$/, "must be a whole number"),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );

function read<T>(env: Env, name: VariableName, schema: v.GenericSchema<string, T>, fallback: string): T {
  const raw = env[name];
  const value = raw === undefined || raw === "" ? fallback : raw;
  const result = v.safeParse(schema, value);
  // The refusal names the variable and what it takes, never the value (it may be a secret set in the wrong place).
  if (!result.success) throw new ConfigError(name, firstIssue(result.issues).message);
  return result.output;
}

const optional = (env: Env, name: VariableName): string | null => {
  const value = env[name]?.trim();
  return value ? value : null;
};

/** Reads and validates the configuration. Throws `ConfigError` naming the first bad variable. */
export function loadConfig(env: Env, overrides: { open?: boolean; entry?: Entry } = {}): Config {
  const entry = overrides.entry ?? "service";
  const open =
    overrides.open ?? read(env, "PORTSIDE_OPEN", v.picklist(["true", "false", "1", "0"], "must be true or false"), "false").match(/^(true|1)$/) !== null;
  if (open && entry === "lambda")
    throw new ConfigError(
      "PORTSIDE_OPEN",
      "is not available on AWS Lambda, which reports to Port itself; unset it and set PORT_CLIENT_ID and PORT_CLIENT_SECRET",
    );
  const orgId = optional(env, "ORG_ID");
  if (!orgId) throw new ConfigError("ORG_ID", "is not set");
  const sinkToken = optional(env, "SINK_TOKEN");
  if (!sinkToken && !open && entry === "service")
    throw new ConfigError("SINK_TOKEN", "is not set, so anyone could post runs; set it, or set PORTSIDE_OPEN=true for local use only");
  if (sinkToken && sinkToken.length < 16) throw new ConfigError("SINK_TOKEN", "is shorter than 16 characters");
  const adminToken = optional(env, "ADMIN_TOKEN");
  // The connector's credential must not administer portside: it could read payloads, replay and delete.
  if (adminToken && adminToken.length < 16) throw new ConfigError("ADMIN_TOKEN", "is shorter than 16 characters");
  if (adminToken && adminToken === sinkToken)
    throw new ConfigError("ADMIN_TOKEN", "is the same as SINK_TOKEN, so the connector's credential would administer portside; generate another");

  const clientId = optional(env, "PORT_CLIENT_ID");
  const clientSecret = optional(env, "PORT_CLIENT_SECRET");
  if ((clientId === null) !== (clientSecret === null)) {
    throw new ConfigError(clientId ? "PORT_CLIENT_SECRET" : "PORT_CLIENT_ID", "is not set while its partner is; set both or neither");
  }
  if (!clientId && !open) throw new ConfigError("PORT_CLIENT_ID", "is not set, so portside cannot report to Port; set PORT_CLIENT_ID and PORT_CLIENT_SECRET");

  const allowHttp = read(env, "PORTSIDE_ALLOW_HTTP", bool, "false");
  const portApiUrl = endpointUrl(env, "PORT_API_URL", allowHttp, "https://api.port.io")?.replace(/\/+$/, "") ?? "";

  const runIdPath = optional(env, "RUN_ID_PATH");
  const actionPath = optional(env, "ACTION_PATH");
  if ((runIdPath === null) !== (actionPath === null)) {
    throw new ConfigError(runIdPath ? "ACTION_PATH" : "RUN_ID_PATH", "is not set while its partner is; a custom template needs both");
  }

  const topics = loadTopics(env, orgId);
  const reportLeaseMs = read(env, "REPORT_LEASE_MS", intIn(1_000, 3600_000), "120000");
  return {
    host: read(env, "HOST", v.pipe(v.string(), v.trim(), v.minLength(1)), "127.0.0.1"),
    port: read(env, "PORT", intIn(0, 65535), "3000"),
    metricsPort: optional(env, "METRICS_PORT") === null ? null : read(env, "METRICS_PORT", intIn(0, 65535), "0"),
    orgId,
    sinkToken: sinkToken ? new Secret(sinkToken) : null,
    adminToken: adminToken ? new Secret(adminToken) : null,
    consoleSessionMs: read(env, "CONSOLE_SESSION_HOURS", intIn(1, 24 * 30), "8") * 3600_000,
    open,
    portApiUrl,
    portCredentials: clientId && clientSecret ? { clientId, clientSecret: new Secret(clientSecret) } : null,
    handlersPath: optional(env, "HANDLERS"),
    handlersImportTimeoutMs: read(env, "HANDLERS_IMPORT_TIMEOUT_MS", intIn(1, 3600_000), "30000"),
    routesPath: optional(env, "ROUTES"),
    ledger: loadLedger(env, entry),
    bodyLimitBytes: read(env, "BODY_LIMIT_BYTES", intIn(1024, 1024 * 1024 * 1024), String(5 * 1024 * 1024)),
    concurrency: read(env, "CONCURRENCY", intIn(1, 10_000), "16"),
    targetConcurrency: read(env, "TARGET_CONCURRENCY", intIn(1, 100_000), "2048"),
    handlerTimeoutMs: read(env, "HANDLER_TIMEOUT_MS", intIn(1, 7 * 24 * 3600_000), "600000"),
    ackMode: read(env, "ACK_MODE", v.picklist(["durable", "sync"], "must be durable or sync"), "durable"),
    unhandledRuns: read(env, "UNHANDLED_RUNS", v.picklist(["ignore", "fail"], "must be ignore or fail"), "ignore"),
    maxRunAttempts: read(env, "MAX_RUN_ATTEMPTS", intIn(1, 100), "3"),
    retentionMs: read(env, "RETENTION_HOURS", intIn(1, 24 * 365), "168") * 3600_000,
    deadLetterRetentionMs: read(env, "DEAD_LETTER_RETENTION_HOURS", intIn(1, 24 * 365 * 5), "336") * 3600_000,
    shutdownGraceMs: read(env, "SHUTDOWN_GRACE_MS", intIn(0, 3600_000), "25000"),
    memoryLimitBytes: read(env, "MEMORY_LIMIT_MB", intIn(0, 1024 * 1024), "128") * 1024 * 1024,
    leaseMs: read(env, "LEASE_MS", intIn(1_000, 3600_000), "60000"),
    reportLeaseMs,
    portMaxWaitMs: loadPortMaxWait(env, reportLeaseMs),
    locator: runIdPath && actionPath ? { runIdPath, actionPath } : null,
    orderBy: read(env, "ORDER_BY", v.picklist(["entity", "none"], "must be entity or none"), "entity"),
    signatureToleranceMs: read(env, "SIGNATURE_TOLERANCE_MS", intIn(0, 24 * 3600_000), "300000"),
    logLevel: read(env, "LOG_LEVEL", v.picklist(["debug", "info", "warn", "error"], "must be debug, info, warn or error"), "info"),
    topics,
    kafka: loadKafka(env, orgId, topics),
    eventBridge: {
      region: read(
        env,
        "AWS_REGION",
        v.pipe(
          v.string(),
          v.trim(),
          v.regex(/^$|^[a-z]{2}(-[a-z]+)+-\d+$/, "must look like eu-west-1"),
          v.transform((s) => s || null),
        ),
        "",
      ),
      bus: read(
        env,
        "EVENTBRIDGE_BUS",
        v.pipe(
          v.string(),
          v.trim(),
          v.regex(/^(arn:aws[\w-]*:events:[a-z]{2}-[a-z]+-[\w-]+:\d{12}:event-bus\/)?[.\-_A-Za-z0-9]+$/, "must be a bus name or event-bus ARN"),
        ),
        "default",
      ),
      source: read(
        env,
        "EVENTBRIDGE_SOURCE",
        v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(256, "must be at most 256 characters")),
        "portside",
      ),
      endpoint: endpointUrl(env, "EVENTBRIDGE_ENDPOINT", allowHttp, ""),
      maxRequestBytes: read(env, "EVENTBRIDGE_MAX_REQUEST_BYTES", intIn(1024, 1024 * 1024), String(256 * 1024)),
      putEventsPerSecond: read(env, "EVENTBRIDGE_PUT_EVENTS_PER_SECOND", intIn(1, 100_000), "400"),
      retryForMs: read(env, "EVENTBRIDGE_RETRY_FOR_MS", intIn(0, 24 * 3600_000), "300000"),
    },
  };
}

/** An http(s) URL portside calls (null when unset without a default); refused without repeating the value. */
function endpointUrl(env: Env, name: "PORT_API_URL" | "EVENTBRIDGE_ENDPOINT", allowHttp: boolean, fallback: string): string | null {
  const value = env[name]?.trim() || fallback;
  if (value === "") return null;
  const problem = httpUrlProblem(value, allowHttp);
  if (problem) throw new ConfigError(name, problem);
  return value;
}

/**
 * Port's numbers are taken up to PORT_MAX_WAIT_MS, and never to half the report lease or beyond: the
 * reporter starts deliveries until half its lease, so a wait honoured then still ends inside the lease. The
 * default gives way to a short lease; a value set above it is refused.
 */
function loadPortMaxWait(env: Env, reportLeaseMs: number): number {
  const ceiling = Math.floor(reportLeaseMs / 2);
  if (optional(env, "PORT_MAX_WAIT_MS") === null) return Math.min(defaultMaxPortWaitMs, ceiling);
  const value = read(env, "PORT_MAX_WAIT_MS", intIn(100, 24 * 3600_000), String(defaultMaxPortWaitMs));
  if (value > ceiling) throw new ConfigError("PORT_MAX_WAIT_MS", "must be at most half of REPORT_LEASE_MS; lower it, or raise REPORT_LEASE_MS");
  return value;
}

const bool = v.pipe(
  v.string(),
  v.trim(),
  v.picklist(["true", "false", "1", "0"], "must be true or false"),
  v.transform((s) => s === "true" || s === "1"),
);

function loadTopics(env: Env, orgId: string): Topics {
  const topic = (name: "KAFKA_RUNS_TOPIC" | "KAFKA_CHANGES_TOPIC", fallback: string) => {
    const value = read(env, name, v.pipe(v.string(), v.trim(), v.regex(/^[A-Za-z0-9._-]{1,249}$/, "must be a Kafka topic name or off")), fallback);
    return value === "off" ? null : value;
  };
  return { runs: topic("KAFKA_RUNS_TOPIC", `${orgId}.runs`), changes: topic("KAFKA_CHANGES_TOPIC", `${orgId}.change.log`) };
}

/** On Lambda there is no SQLite and no disk that outlives the function: memory (the default there) or Redis. */
function loadLedger(env: Env, entry: Entry): LedgerSetting {
  const ledger = parseLedger(read(env, "LEDGER", v.string(), entry === "lambda" ? "memory" : "sqlite:./.portside/ledger.sqlite"));
  if (entry === "lambda" && ledger.type === "sqlite")
    throw new ConfigError("LEDGER", "cannot be SQLite on AWS Lambda (no lasting disk); use redis://… to deduplicate redelivered batches, or memory");
  return ledger;
}

function loadKafka(env: Env, orgId: string, topics: Topics): KafkaSettings | null {
  const brokers = optional(env, "KAFKA_BROKERS");
  if (!brokers) return null;
  const list =
    brokers === "port"
      ? ("port" as const)
      : brokers
          .split(",")
          .map((b) => b.trim())
          .filter(Boolean);
  if (list !== "port" && list.some((b) => !/^[^\s:/]+:\d{1,5}$/.test(b))) throw new ConfigError("KAFKA_BROKERS", "must be host:port[,host:port…] or port");
  const groupId = read(env, "KAFKA_GROUP_ID", v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty")), `${orgId}.portside`);
  if (!groupId.startsWith(`${orgId}.`)) {
    throw new ConfigError("KAFKA_GROUP_ID", `must start with "${orgId}." (ORG_ID and a dot): Port's brokers refuse any other consumer group`);
  }
  const { runs: runsTopic, changes: changesTopic } = topics;
  if (!runsTopic && !changesTopic)
    throw new ConfigError("KAFKA_RUNS_TOPIC", "and KAFKA_CHANGES_TOPIC are both off, so the consumer would read nothing; unset KAFKA_BROKERS instead");
  const username = optional(env, "KAFKA_USERNAME");
  const password = optional(env, "KAFKA_PASSWORD");
  if ((username === null) !== (password === null))
    throw new ConfigError(username ? "KAFKA_PASSWORD" : "KAFKA_USERNAME", "is not set while its partner is; set both or neither");
  const sasl = username && password ? { username, password: new Secret(password) } : null;
  return {
    brokers: list,
    groupId,
    runsTopic,
    changesTopic,
    sasl,
    ssl: read(env, "KAFKA_SSL", bool, sasl || list === "port" ? "true" : "false"),
    caFile: optional(env, "KAFKA_CA_FILE"),
    fromBeginning: read(env, "KAFKA_FROM_BEGINNING", bool, "false"),
    sessionTimeoutMs: read(env, "KAFKA_SESSION_TIMEOUT_MS", intIn(6_000, 1_800_000), "10000"),
    recoveryTimeoutMs: read(env, "KAFKA_RECOVERY_TIMEOUT_MS", intIn(1_000, 24 * 3600_000), "120000"),
  };
}

function parseLedger(value: string): LedgerSetting {
  const text = value.trim();
  if (text === "memory") return { type: "memory" };
  if (text.startsWith("redis://") || text.startsWith("rediss://")) return { type: "redis", url: new Secret(checkRedisUrl(text)) };
  if (text.startsWith("sqlite:") && text.length > "sqlite:".length) return { type: "sqlite", path: text.slice("sqlite:".length) };
  throw new ConfigError("LEDGER", `"${redactUrl(text)}" is not sqlite:<path>, redis://… or memory`);
}

/** A Redis URL the client can use; refusals show it with its credentials redacted. */
function checkRedisUrl(text: string): string {
  const problem = redisUrlProblem(text);
  if (problem) throw new ConfigError("LEDGER", problem);
  return text;
}
