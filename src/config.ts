import * as v from "valibot";
import { type AgentEnvironment, fromAgentEnvironment } from "./config-agent-env.ts";
import { httpUrlProblem, redactUrl, redisUrlProblem } from "./config-urls.ts";
import { SETTINGS, type SettingValue, type VariableName, variables } from "./config-settings.ts";
import { PORT_EGRESS } from "./port/egress.ts";
import { type Network, parseNetwork } from "./shared/networks.ts";
import { Secret } from "./shared/secret.ts";
import { firstIssue } from "./messages/issues.ts";

/**
 * All of portside's settings come from the environment, are read once at start-up and validated here.
 * A bad value stops the service with a message naming the variable and the fix; secrets are wrapped so
 * that printing the config (or an error holding it) never shows them.
 */

export { Secret };
export { redactUrl };
export { type VariableName, variables };

export type {
  Config,
  Entry,
  EventBridgeSettings,
  ExecutionAgentSettings,
  KafkaSettings,
  LedgerSetting,
  PollingSettings,
  Topics,
  WebhookSettings,
} from "./config-types.ts";
import type { Config, Entry, KafkaSettings, LedgerSetting, Topics } from "./config-types.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
  /**
   * Every refusal of one reading, this one first: `loadConfig` reads every variable before it refuses, so one
   * start names all that is wrong. Its message is this first one's (for callers that want one line).
   */
  readonly all: readonly ConfigError[];
  constructor(
    readonly variable: VariableName,
    readonly problem: string,
    /** The variable of Port's agent it was read from (config-agent-env.ts), when it was. */
    readonly agentVariable?: string,
    /** The other refusals of the same reading, in the order they were found. */
    others: readonly ConfigError[] = [],
  ) {
    super(`${variable}${agentVariable ? ` (read from Port's agent's ${agentVariable})` : ""}: ${problem}. ${variables[variable]}.`);
    this.all = [this, ...others];
  }
}

/** ORG_ID in open mode without Port credentials, where the local Port emulator stands in and no organisation is real. */
export const LOCAL_ORG_ID = "org_portside_dev";

/**
 * The refusals of one reading, gathered instead of thrown, so that every bad or missing variable is named
 * at once. One per variable: the first found.
 */
class Refusals {
  readonly list: ConfigError[] = [];
  add(variable: VariableName, problem: string): void {
    this.keep(new ConfigError(variable, problem));
  }
  keep(error: ConfigError): void {
    for (const one of error.all) if (!this.list.some((e) => e.variable === one.variable)) this.list.push(one);
  }
  /** What `read` gives, or `fallback` when it refuses (the refusal kept). */
  take<T>(read: () => T, fallback: T): T {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.keep(error);
      return fallback;
    }
  }
}

type Env = Record<string, string | undefined>;

/** A variable's value by its setting (SETTINGS): its schema over the text given, else over its default (or `fallback`). */
function read<K extends VariableName>(env: Env, name: K, fallback?: string): SettingValue<K> {
  const raw = env[name];
  const setting = SETTINGS[name];
  const value = raw === undefined || raw === "" ? (fallback ?? setting.default ?? "") : raw;
  const result = v.safeParse(setting.schema as v.GenericSchema<string, SettingValue<K>>, value);
  // The refusal names the variable and what it takes, never the value (it may be a secret set in the wrong place).
  if (!result.success) throw new ConfigError(name, firstIssue(result.issues).message);
  return result.output;
}

/** A comma-separated list of CIDRs (and, where `presets`, Port's egress presets), refused naming the entry's place, not its value. */
function networks(env: Env, name: "WEBHOOK_ALLOW" | "WEBHOOK_TRUSTED_PROXIES", presets: boolean): Network[] {
  const entries = (optional(env, name) ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  return entries.flatMap((entry, i) => {
    const preset = presets ? PORT_EGRESS[entry] : undefined;
    const parsed = (preset ?? [entry]).map(parseNetwork);
    if (parsed.some((n) => n === null)) throw new ConfigError(name, `entry ${i + 1} is not a CIDR, an address${presets ? ", port-eu or port-us" : ""}`);
    return parsed as Network[];
  });
}

/** The named variables that are set (for jq's `env`: never the whole environment). */
const pickEnv = (env: Env, names: readonly string[]): Record<string, string> =>
  Object.fromEntries(names.flatMap((name) => (env[name] ? [[name, env[name] as string]] : [])));

const optional = (env: Env, name: VariableName): string | null => {
  const value = env[name]?.trim();
  return value ? value : null;
};

/**
 * Reads and validates the configuration. Throws one `ConfigError` for every bad or missing variable: the
 * first, carrying them all (`all`), each naming the variable and the fix, never the value.
 */
export function loadConfig(given: Env, overrides: { open?: boolean; entry?: Entry } = {}): Config {
  const agent = fromAgentEnvironment(given);
  try {
    return configFrom(agent, overrides);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // A refused value the user set under the agent's name is named by it too.
    return refuse(error.all.map((e) => (agent.origins[e.variable] ? new ConfigError(e.variable, e.problem, agent.origins[e.variable]) : e)));
  }
}

/** Throws the refusals as one ConfigError (the first, carrying the rest). */
function refuse(list: readonly ConfigError[]): never {
  const [first, ...others] = list;
  if (!first) throw new Error("refuse() needs a refusal");
  throw new ConfigError(first.variable, first.problem, first.agentVariable, others);
}

/** What a variable's setting gives for `fallback` or its default: what a refused variable stands in as while the rest is read. */
function fallbackOf<K extends VariableName>(name: K, fallback?: string): SettingValue<K> {
  const parsed = v.safeParse(SETTINGS[name].schema as v.GenericSchema<string, SettingValue<K>>, fallback ?? SETTINGS[name].default ?? "");
  return (parsed.success ? parsed.output : undefined) as SettingValue<K>;
}

type Get = <K extends VariableName>(name: K, fallback?: string) => SettingValue<K>;

function configFrom({ env, taken: agentVariablesTaken }: AgentEnvironment, overrides: { open?: boolean; entry?: Entry }): Config {
  const refusals = new Refusals();
  const get: Get = (name, fallback) => refusals.take(() => read(env, name, fallback), fallbackOf(name, fallback));
  const entry = overrides.entry ?? "service";
  const open = overrides.open ?? get("PORTSIDE_OPEN");
  if (open && entry === "lambda")
    refusals.add("PORTSIDE_OPEN", "is not available on AWS Lambda, which reports to Port itself; unset it and set PORT_CLIENT_ID and PORT_CLIENT_SECRET");
  const serviceOnly = (["PORT_POLLING", "EXECUTION_AGENT", "PORT_WEBHOOKS"] as const).find((name) => get(name));
  if (entry === "lambda" && serviceOnly)
    refusals.add(serviceOnly, "is not available on AWS Lambda (an invocation takes the Kafka records it is given); run portside as a service for it");
  const clientId = optional(env, "PORT_CLIENT_ID");
  const clientSecret = optional(env, "PORT_CLIENT_SECRET");
  // Open without Port credentials, portside reports to the local Port emulator: no organisation is real, so
  // a local one stands in. With credentials the organisation is Port's, and must be said.
  const orgId = optional(env, "ORG_ID") ?? (open && entry === "service" && !clientId && !clientSecret ? LOCAL_ORG_ID : "");
  if (!orgId) refusals.add("ORG_ID", "is not set");
  const sinkToken = optional(env, "SINK_TOKEN");
  // Without a token the sink is off, which is fine only when runs come another way (webhooks, polling, the consumer).
  const polling = entry === "service" && get("PORT_POLLING");
  const webhooks = entry === "service" && get("PORT_WEBHOOKS");
  if (!sinkToken && !open && entry === "service" && !polling && !webhooks && !optional(env, "KAFKA_BROKERS"))
    refusals.add(
      "SINK_TOKEN",
      "is not set, so anyone could post runs; set it, or take runs another way (PORT_WEBHOOKS=true, PORT_POLLING=true, KAFKA_BROKERS), or set PORTSIDE_OPEN=true for local use only",
    );
  if (sinkToken && sinkToken.length < 16) refusals.add("SINK_TOKEN", "is shorter than 16 characters");
  const adminToken = optional(env, "ADMIN_TOKEN");
  // The connector's credential must not administer portside: it could read payloads, replay and delete.
  if (adminToken && adminToken.length < 16) refusals.add("ADMIN_TOKEN", "is shorter than 16 characters");
  else if (adminToken && adminToken === sinkToken)
    refusals.add("ADMIN_TOKEN", "is the same as SINK_TOKEN, so the connector's credential would administer portside; generate another");

  if ((clientId === null) !== (clientSecret === null))
    refusals.add(clientId ? "PORT_CLIENT_SECRET" : "PORT_CLIENT_ID", "is not set while its partner is; set both or neither");
  else if (!clientId && !open) refusals.add("PORT_CLIENT_ID", "is not set, so portside cannot report to Port; set PORT_CLIENT_ID and PORT_CLIENT_SECRET");

  const allowHttp = get("PORTSIDE_ALLOW_HTTP");
  const portApiUrl = refusals.take(() => endpointUrl(env, "PORT_API_URL", allowHttp), null)?.replace(/\/+$/, "") ?? "";

  const runIdPath = optional(env, "RUN_ID_PATH");
  const actionPath = optional(env, "ACTION_PATH");
  if ((runIdPath === null) !== (actionPath === null))
    refusals.add(runIdPath ? "ACTION_PATH" : "RUN_ID_PATH", "is not set while its partner is; a custom template needs both");

  const topics = loadTopics(get, orgId);
  const reportLeaseMs = get("REPORT_LEASE_MS");
  const config: Config = {
    host: get("HOST"),
    port: get("PORT"),
    metricsPort: optional(env, "METRICS_PORT") === null ? null : get("METRICS_PORT"),
    orgId,
    sinkToken: sinkToken ? new Secret(sinkToken) : null,
    adminToken: adminToken ? new Secret(adminToken) : null,
    consoleSessionMs: get("CONSOLE_SESSION_HOURS"),
    open,
    portApiUrl,
    portCredentials: clientId && clientSecret ? { clientId, clientSecret: new Secret(clientSecret) } : null,
    emulatorActionsPath: optional(env, "PORT_EMULATOR_ACTIONS"),
    emulatorPort: get("PORT_EMULATOR_PORT"),
    handlersPath: optional(env, "HANDLERS"),
    handlersImportTimeoutMs: get("HANDLERS_IMPORT_TIMEOUT_MS"),
    routesPath: optional(env, "ROUTES"),
    ledger: refusals.take(() => loadLedger(env, entry), { type: "memory" }),
    bodyLimitBytes: get("BODY_LIMIT_BYTES"),
    concurrency: get("CONCURRENCY"),
    targetConcurrency: get("TARGET_CONCURRENCY"),
    handlerTimeoutMs: get("HANDLER_TIMEOUT_MS"),
    ackMode: get("ACK_MODE"),
    unhandledRuns: get("UNHANDLED_RUNS"),
    maxRunAttempts: get("MAX_RUN_ATTEMPTS"),
    retentionMs: get("RETENTION_HOURS"),
    deadLetterRetentionMs: get("DEAD_LETTER_RETENTION_HOURS"),
    shutdownGraceMs: get("SHUTDOWN_GRACE_MS"),
    memoryLimitBytes: get("MEMORY_LIMIT_MB"),
    leaseMs: get("LEASE_MS"),
    reportLeaseMs,
    portMaxWaitMs: refusals.take(() => loadPortMaxWait(env, reportLeaseMs), fallbackOf("PORT_MAX_WAIT_MS")),
    locator: runIdPath && actionPath ? { runIdPath, actionPath } : null,
    orderBy: get("ORDER_BY"),
    signatureToleranceMs: get("SIGNATURE_TOLERANCE_MS"),
    logLevel: get("LOG_LEVEL"),
    logFormat: get("LOG_FORMAT"),
    topics,
    kafka: loadKafka(env, orgId, topics, refusals, get),
    polling: polling
      ? {
          intervalMs: get("POLLING_INTERVAL_MS"),
          batch: get("POLLING_BATCH"),
          nodeRuns: get("POLLING_NODE_RUNS"),
          maxFailureMs: get("POLLING_MAX_FAILURE_MS"),
        }
      : null,
    executionAgent:
      polling || (entry === "service" && get("EXECUTION_AGENT"))
        ? {
            mappingPath: optional(env, "CONTROL_THE_PAYLOAD_CONFIG_PATH"),
            timeoutMs: Math.round(get("WEBHOOK_INVOKER_TIMEOUT") * 1000),
            verifyTls: get("WEBHOOK_VERIFY_SSL"),
            jqEnv: pickEnv(env, get("JQ_ENV")),
          }
        : null,
    agentVariablesTaken,
    webhook: webhooks
      ? {
          toleranceMs: get("WEBHOOK_TOLERANCE_S") * 1000,
          runIdPath: optional(env, "WEBHOOK_RUN_ID_PATH"),
          syncTimeoutMs: get("WEBHOOK_SYNC_TIMEOUT_MS"),
          allow: optional(env, "WEBHOOK_ALLOW") === null ? null : refusals.take(() => networks(env, "WEBHOOK_ALLOW", true), null),
          trustedProxies: refusals.take(() => networks(env, "WEBHOOK_TRUSTED_PROXIES", false), []),
        }
      : null,
    eventBridge: {
      region: get("AWS_REGION"),
      bus: get("EVENTBRIDGE_BUS"),
      source: get("EVENTBRIDGE_SOURCE"),
      endpoint: refusals.take(() => endpointUrl(env, "EVENTBRIDGE_ENDPOINT", allowHttp), null),
      maxRequestBytes: get("EVENTBRIDGE_MAX_REQUEST_BYTES"),
      putEventsPerSecond: get("EVENTBRIDGE_PUT_EVENTS_PER_SECOND"),
      retryForMs: get("EVENTBRIDGE_RETRY_FOR_MS"),
    },
  };
  if (refusals.list.length > 0) refuse(refusals.list);
  return config;
}

/**
 * What a command that reads Port (`actions pull`, `actions check`) needs, read as the service reads it (Port's
 * agent's names too): the organisation, Port's API and the credentials, all required. Throws `ConfigError`.
 */
export function loadPortAccess(given: Env): { orgId: string; portApiUrl: string; clientId: string; clientSecret: Secret } {
  const { env } = fromAgentEnvironment(given);
  const refusals = new Refusals();
  const orgId = optional(env, "ORG_ID");
  if (!orgId) refusals.add("ORG_ID", "is not set");
  const clientId = optional(env, "PORT_CLIENT_ID");
  const clientSecret = optional(env, "PORT_CLIENT_SECRET");
  if (!clientId) refusals.add("PORT_CLIENT_ID", "is not set");
  if (!clientSecret) refusals.add("PORT_CLIENT_SECRET", "is not set");
  const allowHttp = refusals.take(() => read(env, "PORTSIDE_ALLOW_HTTP"), false);
  const portApiUrl = (refusals.take(() => endpointUrl(env, "PORT_API_URL", allowHttp), null) ?? "").replace(/\/+$/, "");
  if (!orgId || !clientId || !clientSecret || refusals.list.length > 0) refuse(refusals.list);
  return { orgId, portApiUrl, clientId, clientSecret: new Secret(clientSecret) };
}

/** An http(s) URL portside calls (null when unset without a default); refused without repeating the value. */
function endpointUrl(env: Env, name: "PORT_API_URL" | "EVENTBRIDGE_ENDPOINT", allowHttp: boolean): string | null {
  const value = env[name]?.trim() || (SETTINGS[name].default ?? "");
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
  if (optional(env, "PORT_MAX_WAIT_MS") === null) return Math.min(read(env, "PORT_MAX_WAIT_MS"), ceiling);
  const value = read(env, "PORT_MAX_WAIT_MS");
  if (value > ceiling) throw new ConfigError("PORT_MAX_WAIT_MS", "must be at most half of REPORT_LEASE_MS; lower it, or raise REPORT_LEASE_MS");
  return value;
}

function loadTopics(get: Get, orgId: string): Topics {
  const topic = (name: "KAFKA_RUNS_TOPIC" | "KAFKA_CHANGES_TOPIC", fallback: string) => {
    const value = get(name, fallback);
    return value === "off" ? null : value;
  };
  return { runs: topic("KAFKA_RUNS_TOPIC", `${orgId}.runs`), changes: topic("KAFKA_CHANGES_TOPIC", `${orgId}.change.log`) };
}

/** On Lambda there is no SQLite and no disk that outlives the function: memory (the default there) or Redis. */
function loadLedger(env: Env, entry: Entry): LedgerSetting {
  const ledger = parseLedger(read(env, "LEDGER", entry === "lambda" ? "memory" : undefined));
  if (entry === "lambda" && ledger.type === "sqlite")
    throw new ConfigError("LEDGER", "cannot be SQLite on AWS Lambda (no lasting disk); use redis://… to deduplicate redelivered batches, or memory");
  return ledger;
}

function loadKafka(env: Env, orgId: string, topics: Topics, refusals: Refusals, get: Get): KafkaSettings | null {
  const brokers = optional(env, "KAFKA_BROKERS");
  if (!brokers) return null;
  const list =
    brokers === "port"
      ? ("port" as const)
      : brokers
          .split(",")
          .map((b) => b.trim())
          .filter(Boolean);
  if (list !== "port" && list.some((b) => !/^[^\s:/]+:\d{1,5}$/.test(b))) refusals.add("KAFKA_BROKERS", "must be host:port[,host:port…] or port");
  const groupId = get("KAFKA_GROUP_ID", `${orgId}.portside`);
  if (!groupId.startsWith(`${orgId}.`))
    refusals.add("KAFKA_GROUP_ID", `must start with "${orgId}." (ORG_ID and a dot): Port's brokers refuse any other consumer group`);
  const { runs: runsTopic, changes: changesTopic } = topics;
  if (!runsTopic && !changesTopic)
    refusals.add("KAFKA_RUNS_TOPIC", "and KAFKA_CHANGES_TOPIC are both off, so the consumer would read nothing; unset KAFKA_BROKERS instead");
  const username = optional(env, "KAFKA_USERNAME");
  const password = optional(env, "KAFKA_PASSWORD");
  if ((username === null) !== (password === null))
    refusals.add(username ? "KAFKA_PASSWORD" : "KAFKA_USERNAME", "is not set while its partner is; set both or neither");
  const sasl = username && password ? { username, password: new Secret(password) } : null;
  return {
    brokers: list,
    groupId,
    runsTopic,
    changesTopic,
    sasl,
    ssl: get("KAFKA_SSL", sasl || list === "port" ? "true" : "false"),
    caFile: optional(env, "KAFKA_CA_FILE"),
    fromBeginning: get("KAFKA_FROM_BEGINNING"),
    sessionTimeoutMs: get("KAFKA_SESSION_TIMEOUT_MS"),
    recoveryTimeoutMs: get("KAFKA_RECOVERY_TIMEOUT_MS"),
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
