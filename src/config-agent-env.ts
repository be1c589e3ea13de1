/**
 * portside started with Port's execution agent's environment (`port-labs/port-agent`, `app/core/config.py`)
 * runs as the agent would: each of the agent's variables is read as the portside setting it means, unless
 * that setting is given itself. What was taken is said once at start (`taken`).
 *
 *   PORT_ORG_ID → ORG_ID, PORT_API_BASE_URL → PORT_API_URL (PORT_CLIENT_ID/SECRET are the same names)
 *   STREAMER_NAME=POLLING → PORT_POLLING=true; STREAMER_NAME=KAFKA → KAFKA_BROKERS=port, EXECUTION_AGENT=true
 *   KAFKA_CONSUMER_GROUP_ID → KAFKA_GROUP_ID, KAFKA_CONSUMER_SESSION_TIMEOUT_MS → KAFKA_SESSION_TIMEOUT_MS,
 *   KAFKA_CONSUMER_AUTO_OFFSET_RESET (earliest/smallest → KAFKA_FROM_BEGINNING=true, latest/largest → false),
 *   KAFKA_CONSUMER_BOOTSTRAP_SERVERS → KAFKA_BROKERS, KAFKA_CHANGE_LOG_TOPIC → KAFKA_CHANGES_TOPIC,
 *   POLLING_INTERVAL_SECONDS → POLLING_INTERVAL_MS, POLLING_RUNS_BATCH_SIZE → POLLING_BATCH,
 *   POLLING_MAX_FAILURE_DURATION_SECONDS → POLLING_MAX_FAILURE_MS,
 *   LOG_LEVEL in capitals (INFO, WARNING) → its portside spelling.
 * CONTROL_THE_PAYLOAD_CONFIG_PATH, WEBHOOK_INVOKER_TIMEOUT and WEBHOOK_VERIFY_SSL are portside's names too.
 * KAFKA_CONSUMER_SECURITY_PROTOCOL and KAFKA_CONSUMER_AUTHENTICATION_MECHANISM are not needed: with
 * KAFKA_BROKERS=port the brokers, TLS and SCRAM come from Port, as for the agent.
 */
type Env = Record<string, string | undefined>;

/** What the agent's names became. */
export interface AgentEnvironment {
  env: Env;
  /** The agent's variables that were read, each as `NAME → SETTING` (or `NAME (not needed)`). */
  taken: string[];
  /** Each setting given by an agent's variable, and that variable (a refusal names it). */
  origins: Record<string, string>;
}

const RENAMED: Record<string, string> = {
  PORT_ORG_ID: "ORG_ID",
  PORT_API_BASE_URL: "PORT_API_URL",
  KAFKA_CONSUMER_GROUP_ID: "KAFKA_GROUP_ID",
  KAFKA_CONSUMER_SESSION_TIMEOUT_MS: "KAFKA_SESSION_TIMEOUT_MS",
  KAFKA_CONSUMER_BOOTSTRAP_SERVERS: "KAFKA_BROKERS",
  KAFKA_CHANGE_LOG_TOPIC: "KAFKA_CHANGES_TOPIC",
  POLLING_RUNS_BATCH_SIZE: "POLLING_BATCH",
};

const NOT_NEEDED = ["KAFKA_CONSUMER_SECURITY_PROTOCOL", "KAFKA_CONSUMER_AUTHENTICATION_MECHANISM", "USING_LOCAL_PORT_INSTANCE"];

const OFFSET_RESET: Record<string, string> = { earliest: "true", smallest: "true", beginning: "true", latest: "false", largest: "false", end: "false" };
const LOG_LEVELS: Record<string, string> = { DEBUG: "debug", INFO: "info", WARNING: "warn", WARN: "warn", ERROR: "error", CRITICAL: "error" };

export function fromAgentEnvironment(given: Env): AgentEnvironment {
  const env: Env = { ...given };
  const taken: string[] = [];
  const origins: Record<string, string> = {};
  const set = (agentName: string, setting: string, value: string | undefined) => {
    if (value === undefined || value === "") return;
    if (env[setting] !== undefined && env[setting] !== "") return;
    env[setting] = value;
    origins[setting] = agentName;
    taken.push(`${agentName} → ${setting}`);
  };
  for (const [agentName, setting] of Object.entries(RENAMED)) set(agentName, setting, given[agentName]?.trim());
  const streamer = given.STREAMER_NAME?.trim().toUpperCase();
  if (streamer === "POLLING") set("STREAMER_NAME", "PORT_POLLING", "true");
  if (streamer === "KAFKA") {
    set("STREAMER_NAME", "KAFKA_BROKERS", "port");
    set("STREAMER_NAME", "EXECUTION_AGENT", "true");
  }
  const reset = given.KAFKA_CONSUMER_AUTO_OFFSET_RESET?.trim().toLowerCase();
  if (reset) set("KAFKA_CONSUMER_AUTO_OFFSET_RESET", "KAFKA_FROM_BEGINNING", OFFSET_RESET[reset]);
  const seconds = (agentName: string, setting: string) => {
    const value = given[agentName]?.trim();
    if (value && /^\d+(\.\d+)?$/.test(value)) set(agentName, setting, String(Math.round(Number(value) * 1000)));
  };
  seconds("POLLING_INTERVAL_SECONDS", "POLLING_INTERVAL_MS");
  seconds("POLLING_MAX_FAILURE_DURATION_SECONDS", "POLLING_MAX_FAILURE_MS");
  const level = given.LOG_LEVEL?.trim();
  if (level && LOG_LEVELS[level]) {
    env.LOG_LEVEL = LOG_LEVELS[level];
    taken.push("LOG_LEVEL (Port's agent's spelling)");
  }
  for (const name of NOT_NEEDED)
    if (given[name] !== undefined) taken.push(`${name} (not needed: KAFKA_BROKERS=port brings the brokers' TLS and SCRAM from Port)`);
  return { env, taken, origins };
}
