import * as v from "valibot";
import { defaultMaxPortWaitMs } from "./port/rate-headers.ts";

/**
 * Every variable portside reads, once: what it takes (a valibot schema over the text), its default, and
 * what it means — the words of every refusal and of the README's table. A default shown in the help is the
 * default used (`help` gets it), so the two cannot drift apart.
 */
interface Setting<T> {
  schema: v.GenericSchema<string, T>;
  /** The text used when the variable is unset or empty; null: no default (unset means off, or it is required). */
  default: string | null;
  help: (shown: string) => string;
}

const setting = <T>(schema: v.GenericSchema<string, T>, fallback: string | null, help: string | ((shown: string) => string)): Setting<T> => ({
  schema,
  default: fallback,
  help: typeof help === "string" ? () => help : help,
});

export const intIn = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^\d+$/, "must be a whole number"),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );

export const bool = v.pipe(
  v.string(),
  v.trim(),
  v.picklist(["true", "false", "1", "0"], "must be true or false"),
  v.transform((s) => s === "true" || s === "1"),
);

const text = v.pipe(v.string(), v.trim());
const nonEmpty = v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"));
const oneOf = <const T extends readonly [string, ...string[]]>(options: T) =>
  v.pipe(v.string(), v.trim(), v.picklist(options, `must be ${options.slice(0, -1).join(", ")}${options.length > 1 ? " or " : ""}${options.at(-1)}`));
const topic = v.pipe(v.string(), v.trim(), v.regex(/^[A-Za-z0-9._-]{1,249}$/, "must be a Kafka topic name or off"));
const hours = (max: number) =>
  v.pipe(
    intIn(1, max),
    v.transform((h) => h * 3600_000),
  );
const MiB = 1024 * 1024;

export const SETTINGS = {
  PORT: setting(intIn(0, 65535), "3000", (d) => `listen port (default ${d})`),
  METRICS_PORT: setting(
    intIn(0, 65535),
    null,
    "serve Prometheus metrics (/metrics) on this port instead, without a token (keep it off the public network); unset: /metrics on PORT behind ADMIN_TOKEN",
  ),
  HOST: setting(v.pipe(v.string(), v.trim(), v.minLength(1)), "127.0.0.1", (d) => `listen address (default ${d}; use 0.0.0.0 in a container)`),
  ORG_ID: setting(
    text,
    null,
    "your Port organisation id (org_…); records of any other organisation are parked (open mode without Port credentials, `portside dev` among them, defaults to org_portside_dev)",
  ),
  SINK_TOKEN: setting(text, null, "bearer token the Kafka Connect HTTP sink sends; generate one with `openssl rand -hex 32`"),
  ADMIN_TOKEN: setting(
    text,
    null,
    "bearer token for /admin endpoints (dead letters, replay, stats), at least 16 characters and not the SINK_TOKEN; without it /admin is off (open mode aside)",
  ),
  CONSOLE_SESSION_HOURS: setting(hours(24 * 30), "8", (d) => `how long a console session lasts after signing in with ADMIN_TOKEN, in hours (default ${d})`),
  PORTSIDE_OPEN: setting(bool, "false", "set to `true` to run without SINK_TOKEN, for local use only"),
  PORTSIDE_ALLOW_HTTP: setting(
    bool,
    "false",
    (d) =>
      `\`true\`: PORT_API_URL and EVENTBRIDGE_ENDPOINT may be plain http:// URLs to hosts other than this machine (an emulator or LocalStack in another container); default ${d}: https://, or http:// to a loopback host only`,
  ),
  PORT_API_URL: setting(
    text,
    "https://api.port.io",
    (d) => `Port API base URL: ${d} (EU, the default), https://api.us.port.io (US); the older https://api.getport.io and https://api.us.getport.io work too`,
  ),
  PORT_CLIENT_ID: setting(text, null, "Port client id (Port → Credentials)"),
  PORT_CLIENT_SECRET: setting(text, null, "Port client secret (Port → Credentials); also verifies signed agent-style messages"),
  PORT_EMULATOR_PORT: setting(
    intIn(0, 65535),
    "0",
    "without Port credentials (open mode): the loopback port of the local Port emulator (default 0: any free port, named in the start's log line)",
  ),
  PORT_EMULATOR_ACTIONS: setting(
    text,
    null,
    "without Port credentials (open mode, `actions pull --open`): a JSON file of action definitions the local Port emulator serves — a list, or Port's answer to GET /v1/actions; unset: the example actions, src/examples/port-actions.json",
  ),
  HANDLERS: setting(text, null, "path of your handler module (TypeScript), e.g. ./handlers.ts"),
  HANDLERS_IMPORT_TIMEOUT_MS: setting(
    intIn(1, 3600_000),
    "30000",
    (d) => `how long importing the handler module may take, top-level awaits included, before the start fails naming it (default ${d})`,
  ),
  ROUTES: setting(text, null, "path of an EventBridge routes file (JSON or YAML), e.g. ./routes.json; see src/targets/eventbridge/README.md"),
  LEDGER: setting(
    v.string(),
    "sqlite:./.portside/ledger.sqlite",
    (d) =>
      `where accepted work is kept: sqlite:<path> (default ${d}; on AWS Lambda the default is memory), redis://[user:password@]host:port[/db] (rediss:// for TLS), or memory`,
  ),
  BODY_LIMIT_BYTES: setting(intIn(1024, 1024 * MiB), String(5 * MiB), (d) => `largest sink request body in bytes (default ${d} = 5 MiB)`),
  CONCURRENCY: setting(intIn(1, 10_000), "16", (d) => `how many handlers run at once (default ${d}); work waiting on EventBridge takes no slot`),
  TARGET_CONCURRENCY: setting(
    intIn(1, 100_000),
    "2048",
    (d) => `how many runs and changes may wait on EventBridge at once, besides the handler slots (default ${d}); beyond it they wait for room`,
  ),
  HANDLER_TIMEOUT_MS: setting(intIn(1, 7 * 24 * 3600_000), "600000", (d) => `default handler time limit in ms (default ${d} = 10 min)`),
  ACK_MODE: setting(oneOf(["durable", "sync"]), "durable", "`durable` (default: ack once recorded) or `sync` (ack once the handlers finished)"),
  UNHANDLED_RUNS: setting(
    oneOf(["ignore", "fail"]),
    "ignore",
    "`ignore` (default: runs of actions with no handler or route are left to other consumers of the topic) or `fail` (reported FAILURE, for when portside is the only consumer)",
  ),
  MAX_RUN_ATTEMPTS: setting(
    intIn(1, 100),
    "3",
    (d) => `how many times a run marked rerunOnInterrupt may start when its attempts keep being interrupted, before it ends FAILURE (default ${d})`,
  ),
  RETENTION_HOURS: setting(hours(24 * 365), "168", (d) => `how long finished runs and dedupe keys are kept (default ${d} = 7 days)`),
  DEAD_LETTER_RETENTION_HOURS: setting(
    hours(24 * 365 * 5),
    "336",
    (d) => `how long a parked record (dead letter) is kept before it is forgotten (default ${d} = 14 days)`,
  ),
  SHUTDOWN_GRACE_MS: setting(intIn(0, 3600_000), "25000", (d) => `how long running handlers may finish after SIGTERM (default ${d})`),
  REPORT_LEASE_MS: setting(
    intIn(1_000, 3600_000),
    "120000",
    (d) =>
      `how long a replica's claim on a run's undelivered reports lasts (default ${d}; it must outlast one Port call with its retries): after a replica dies, its claimed reports are sent by another this long later`,
  ),
  PORT_MAX_WAIT_MS: setting(
    intIn(100, 24 * 3600_000),
    String(defaultMaxPortWaitMs),
    (d) =>
      `the longest wait portside takes from Port's Retry-After and x-ratelimit-reset, and the latest it puts a report off to (default ${d} = ${Number(d) / 60_000} min, and at most half of REPORT_LEASE_MS); a longer ask from Port is logged once as a warning`,
  ),
  LEASE_MS: setting(
    intIn(1_000, 3600_000),
    "60000",
    (d) =>
      `how long a replica's claim on a running item lasts without a heartbeat (default ${d}): after a replica on another host dies, its running items are taken over this long later`,
  ),
  MEMORY_LIMIT_MB: setting(
    v.pipe(
      intIn(0, 1024 * 1024),
      v.transform((mb) => mb * MiB),
    ),
    "128",
    (d) => `soft memory limit in MB (default ${d}; 0 turns it off): above it, portside runs full garbage collections, at most a quarter of the time`,
  ),
  RUN_ID_PATH: setting(text, null, "dot path of the run id in a custom payload template, e.g. meta.runId"),
  ACTION_PATH: setting(text, null, "dot path of the action identifier in a custom payload template, e.g. meta.action"),
  ORDER_BY: setting(oneOf(["entity", "none"]), "entity", "`entity` (default: runs on one entity run one at a time, in order) or `none`"),
  SIGNATURE_TOLERANCE_MS: setting(intIn(0, 24 * 3600_000), "300000", (d) => `freshness window for signed messages in ms (default ${d} = 5 min)`),
  LOG_LEVEL: setting(oneOf(["debug", "info", "warn", "error"]), "info", "debug, info (default), warn or error"),
  LOG_FORMAT: setting(
    oneOf(["auto", "json", "pretty"]),
    "auto",
    (d) =>
      `how log lines read: \`json\` (one JSON object per line), \`pretty\` (lines for people) or \`${d}\` (the default: pretty for \`portside dev\` writing to a terminal, JSON otherwise)`,
  ),
  AWS_REGION: setting(
    v.pipe(
      text,
      v.regex(/^$|^[a-z]{2}(-[a-z]+)+-\d+$/, "must look like eu-west-1"),
      v.transform((s) => s || null),
    ),
    "",
    "AWS region for EventBridge, e.g. eu-west-1 (default: the AWS SDK's own lookup); credentials come from the SDK's default provider chain",
  ),
  EVENTBRIDGE_BUS: setting(
    v.pipe(text, v.regex(/^(arn:aws[\w-]*:events:[a-z]{2}-[a-z]+-[\w-]+:\d{12}:event-bus\/)?[.\-_A-Za-z0-9]+$/, "must be a bus name or event-bus ARN")),
    "default",
    (d) => `event bus (name or ARN) for EventBridge targets that name none (default \`${d}\`)`,
  ),
  EVENTBRIDGE_SOURCE: setting(
    v.pipe(text, v.minLength(1, "must not be empty"), v.maxLength(256, "must be at most 256 characters")),
    "portside",
    (d) => `\`Source\` of events for EventBridge targets that name none (default \`${d}\`)`,
  ),
  EVENTBRIDGE_ENDPOINT: setting(
    text,
    null,
    "EventBridge endpoint URL for local work, e.g. http://127.0.0.1:4566 (the SDK also reads AWS_ENDPOINT_URL_EVENTBRIDGE)",
  ),
  EVENTBRIDGE_MAX_REQUEST_BYTES: setting(
    intIn(1024, MiB),
    String(256 * 1024),
    (d) => `largest PutEvents request in bytes (default ${d} = 256 KB; up to 1048576 on buses that allow 1 MiB)`,
  ),
  EVENTBRIDGE_PUT_EVENTS_PER_SECOND: setting(
    intIn(1, 100_000),
    "400",
    (d) => `PutEvents calls per second this instance may make (default ${d}, the lowest regional quota; divide your quota by the number of replicas)`,
  ),
  EVENTBRIDGE_RETRY_FOR_MS: setting(
    intIn(0, 24 * 3600_000),
    "300000",
    (d) => `how long a throttled event is retried before it is parked (default ${d} = 5 min; capped at 90% of HANDLER_TIMEOUT_MS)`,
  ),
  KAFKA_BROKERS: setting(
    text,
    null,
    "turns on the built-in Kafka consumer: comma-separated host:port list, or `port` to ask Port's API for the brokers and credentials of your organisation (as Port's agent does)",
  ),
  KAFKA_GROUP_ID: setting(
    nonEmpty,
    null,
    "consumer group of the built-in consumer (default ORG_ID.portside); must start with `ORG_ID.`, which Port's brokers require",
  ),
  KAFKA_RUNS_TOPIC: setting(topic, null, "runs topic the built-in consumer or the Lambda function reads (default ORG_ID.runs); `off` to read none"),
  KAFKA_CHANGES_TOPIC: setting(
    topic,
    null,
    "change-log topic the built-in consumer or the Lambda function reads (default ORG_ID.change.log); `off` to read none",
  ),
  KAFKA_USERNAME: setting(text, null, "SASL/SCRAM-SHA-512 user for the brokers (Port's cluster); with KAFKA_PASSWORD"),
  KAFKA_PASSWORD: setting(text, null, "SASL/SCRAM-SHA-512 password for the brokers; with KAFKA_USERNAME"),
  KAFKA_SSL: setting(bool, null, "`true` or `false`: TLS to the brokers (default true when KAFKA_USERNAME is set or KAFKA_BROKERS=port, else false)"),
  KAFKA_CA_FILE: setting(text, null, "PEM file of the CA that signed the brokers' certificates, when it is not a public one"),
  KAFKA_FROM_BEGINNING: setting(
    bool,
    "false",
    (d) => `\`true\`: a new consumer group starts at the beginning of the topics (default ${d}: at their end, so old runs are not executed)`,
  ),
  KAFKA_SESSION_TIMEOUT_MS: setting(
    intIn(6_000, 1_800_000),
    "10000",
    (d) =>
      `how long the brokers wait for a member that went silent (killed, cut off) before its partitions go to another member or to its own restart, in ms (default ${d}; heartbeats go every quarter of it); the brokers accept group.min.session.timeout.ms to group.max.session.timeout.ms, 6000 to 1800000 by default`,
  ),
  PORT_POLLING: setting(
    bool,
    "false",
    (d) =>
      `\`true\`: take runs by polling Port's API (claim, record, acknowledge), with no Kafka and no sink; portside is then the organisation's execution agent (EXECUTION_AGENT) (default ${d})`,
  ),
  POLLING_INTERVAL_MS: setting(
    intIn(100, 60_000),
    "1000",
    (d) => `how long polling waits after a claim that came back with fewer runs than it asked for (default ${d}; a full claim is followed at once)`,
  ),
  POLLING_BATCH: setting(intIn(1, 1_000), "100", (d) => `how many runs one claim asks Port for (default ${d})`),
  POLLING_NODE_RUNS: setting(bool, "true", (d) => `\`false\`: polling claims no workflow node runs (default ${d})`),
  POLLING_MAX_FAILURE_MS: setting(
    intIn(1_000, 7 * 24 * 3600_000),
    "3600000",
    (d) => `how long polling may keep failing before /healthz answers 503 so the orchestrator restarts portside (default ${d} = 1 h, as Port's agent)`,
  ),
  EXECUTION_AGENT: setting(
    bool,
    "false",
    (d) =>
      `\`true\`: portside takes the place of Port's execution agent: runs meant for it (WEBHOOK or GITLAB with \`agent: true\`) are served by a handler of their action, or forwarded as the agent forwards them (default ${d}: left to Port's agent)`,
  ),
  CONTROL_THE_PAYLOAD_CONFIG_PATH: setting(
    text,
    null,
    "the execution agent's mapping file (Port's agent's format, jq expressions): how runs are forwarded; unset: the agent's default mapping (a GitLab pipeline trigger, else the run's own URL)",
  ),
  WEBHOOK_INVOKER_TIMEOUT: setting(
    v.pipe(v.string(), v.trim(), v.regex(/^\d+(\.\d+)?$/, "must be a number of seconds"), v.transform(Number), v.minValue(0.1, "must be at least 0.1")),
    "30",
    (d) => `time limit of one forwarded call, in seconds (default ${d}, as Port's agent)`,
  ),
  JQ_ENV: setting(
    v.pipe(
      text,
      v.regex(/^$|^[A-Za-z_][A-Za-z0-9_]*(,\s*[A-Za-z_][A-Za-z0-9_]*)*$/, "must be variable names separated by commas"),
      v.transform((s) => (s ? s.split(",").map((name) => name.trim()) : [])),
    ),
    "GITLAB_URL",
    (d) =>
      `the variables a mapping's jq may read as \`env\` (default ${d}); add your GitLab trigger-token variables (\`group_project\`) here: Port's agent showed jq every variable, portside only these`,
  ),
  WEBHOOK_VERIFY_SSL: setting(bool, "true", (d) => `\`false\`: forwarded calls do not check TLS certificates (default ${d})`),
  PORT_WEBHOOKS: setting(
    bool,
    "false",
    (d) =>
      `\`true\`: take runs from Port's signed webhooks at /webhooks/port and /webhooks/port/<action> (WEBHOOK actions pointing at portside), checked with PORT_CLIENT_SECRET (default ${d})`,
  ),
  WEBHOOK_TOLERANCE_S: setting(
    intIn(1, 24 * 3600),
    "300",
    (d) => `how far a signed webhook's x-port-timestamp may be from now, in seconds, before it is refused (default ${d})`,
  ),
  WEBHOOK_RUN_ID_PATH: setting(
    text,
    null,
    "dot path of the run id in your WEBHOOK actions' body (default: port_context.runId, then context.runId, then runId)",
  ),
  WEBHOOK_SYNC_TIMEOUT_MS: setting(
    intIn(100, 10 * 60_000),
    "25000",
    (d) =>
      `how long a synchronous webhook (a handler with \`sync: true\`) waits for its handler before answering 504, the result then reported through Port's API (default ${d})`,
  ),
  WEBHOOK_ALLOW: setting(
    text,
    null,
    "where signed webhooks may come from: CIDRs and the presets port-eu and port-us (Port's published egress addresses), comma-separated; unset: from anywhere (the signature still decides)",
  ),
  WEBHOOK_TRUSTED_PROXIES: setting(
    text,
    null,
    "CIDRs of your reverse proxies, comma-separated: only from them is X-Forwarded-For read for WEBHOOK_ALLOW (unset: the connection's address)",
  ),
  KAFKA_RECOVERY_TIMEOUT_MS: setting(
    intIn(1_000, 24 * 3600_000),
    "120000",
    (d) =>
      `how long the built-in consumer may stay down (crashed and not back, or no answer from the brokers) before /healthz answers 503 so the orchestrator restarts portside, in ms (default ${d}); it keeps trying meanwhile`,
  ),
} as const;

export type VariableName = keyof typeof SETTINGS;

/** What each variable means and how to fix it (its default filled in): the refusals' words and the README's. */
export const variables = Object.fromEntries(Object.entries(SETTINGS).map(([name, s]) => [name, s.help(s.default ?? "")])) as Record<VariableName, string>;

/** What a variable's schema gives. */
export type SettingValue<K extends VariableName> = (typeof SETTINGS)[K] extends Setting<infer T> ? T : never;
