import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";

/** A connector file in this folder: `{ "name": ..., "config": { ... } }`. */
export interface ConnectorFile {
  name: string;
  config: Record<string, string>;
}

export interface ConnectorStatus {
  name: string;
  connector: { state: string; worker_id: string; trace?: string };
  tasks: { id: number; state: string; worker_id: string; trace?: string }[];
}

type Env = Record<string, string | undefined>;

/** A connector the worker refused, or whose connector/task reported FAILED (`failed`). */
export class ConnectorError extends Error {
  constructor(
    message: string,
    readonly connector: string,
    readonly failed = false,
  ) {
    super(message);
    this.name = "ConnectorError";
  }
}

// Upper-case only, so connector-side templates such as Confluent's ${topic}/${key} and Connect
// config providers such as ${env:NAME} or ${file:path:key} pass through untouched.
const PLACEHOLDER = /\$\{([A-Z_][A-Z0-9_]*)\}/g;
const SECRET_NAME = /TOKEN|PASSWORD|SECRET|CREDENTIAL|KEY/i;

/** Replaces `${NAME}` from env; throws naming every missing variable at once. */
export function substituteEnv(file: ConnectorFile, env: Env): ConnectorFile {
  const missing = new Set<string>();
  const fill = (text: string) =>
    text.replace(PLACEHOLDER, (whole, name: string) => {
      const value = env[name];
      if (value === undefined || value === "") missing.add(name);
      return value ?? whole;
    });
  const result: ConnectorFile = {
    name: fill(file.name),
    config: Object.fromEntries(Object.entries(file.config).map(([key, value]) => [key, fill(String(value))])),
  };
  if (missing.size > 0) {
    throw new ConnectorError(`connector ${file.name}: set the environment variable(s) ${[...missing].join(", ")}`, file.name);
  }
  return result;
}

export function readConnectorFile(path: string): ConnectorFile {
  const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<ConnectorFile>;
  if (typeof parsed.name !== "string" || typeof parsed.config !== "object" || parsed.config === null) {
    throw new Error(`${path}: expected { "name": string, "config": { ... } }`);
  }
  return { name: parsed.name, config: parsed.config };
}

/** Masks the values of secret-looking variables, e.g. in a task's stack trace. */
export function redactor(file: ConnectorFile, env: Env): (text: string) => string {
  const names = new Set<string>();
  for (const text of [file.name, ...Object.values(file.config)]) {
    for (const match of String(text).matchAll(PLACEHOLDER)) if (match[1] && SECRET_NAME.test(match[1])) names.add(match[1]);
  }
  const secrets = [...names].map((name) => env[name]).filter((v): v is string => typeof v === "string" && v.length > 0);
  return (text) => secrets.reduce((out, secret) => out.split(secret).join("***"), text);
}

export interface RegisterOptions {
  env?: Env;
  /** How long to wait for the worker to accept the config and for tasks to run. Default 60 s. */
  timeoutMs?: number;
}

/**
 * PUT /connectors/<name>/config (create or update, so re-running is harmless), then waits for the
 * connector and all its tasks to be RUNNING.
 */
export async function registerConnector(connectUrl: string, file: ConnectorFile, options: RegisterOptions = {}): Promise<ConnectorStatus> {
  const env = options.env ?? process.env;
  const redact = redactor(file, env);
  const { name, config } = substituteEnv(file, env);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const target = `${connectUrl}/connectors/${encodeURIComponent(name)}/config`;
  for (;;) {
    let problem: string;
    try {
      const response = await fetch(target, {
        method: "PUT",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ ...config, name }),
        signal: AbortSignal.timeout(30_000),
      });
      if (response.ok) break;
      problem = `${response.status} ${redact(await response.text())}`;
      // 409: a rebalance is in progress; 5xx: the worker is still starting. Anything else is our fault.
      if (response.status !== 409 && response.status < 500) throw new ConnectorError(`connector ${name}: PUT config refused: ${problem}`, name);
    } catch (error) {
      if (error instanceof ConnectorError) throw error;
      problem = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new ConnectorError(`connector ${name}: worker at ${connectUrl} did not accept the config: ${problem}`, name);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const remainingMs = () => Math.max(deadline - Date.now(), 5_000);
  const redacted = (error: unknown) =>
    new ConnectorError(redact(error instanceof Error ? error.message : String(error)), name, error instanceof ConnectorError && error.failed);
  try {
    return await waitForConnectorRunning(connectUrl, name, { timeoutMs: remainingMs() });
  } catch (error) {
    if (!(error instanceof ConnectorError && error.failed)) throw redacted(error);
  }
  // Re-registering an unchanged config does not revive a task that failed earlier (e.g. it gave up
  // while the receiver was down); one restart does, and a config that is really broken fails again.
  try {
    await fetch(`${connectUrl}/connectors/${encodeURIComponent(name)}/restart?includeTasks=true&onlyFailed=true`, { method: "POST" });
    // The status topic still says FAILED until the herder has acted on the restart.
    return await waitForConnectorRunning(connectUrl, name, { timeoutMs: remainingMs(), failedGraceMs: 10_000 });
  } catch (error) {
    throw redacted(error);
  }
}

/**
 * Polls GET /connectors/<name>/status until the connector and at least one task run. FAILED ends the
 * wait at once, or after `failedGraceMs` when a restart was just requested.
 */
export async function waitForConnectorRunning(
  connectUrl: string,
  name: string,
  options: { timeoutMs?: number; failedGraceMs?: number } = {},
): Promise<ConnectorStatus> {
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 60_000);
  let last = "no status yet";
  for (;;) {
    try {
      const response = await fetch(`${connectUrl}/connectors/${encodeURIComponent(name)}/status`, { signal: AbortSignal.timeout(5_000) });
      if (response.ok) {
        const status = (await response.json()) as ConnectorStatus;
        const failed = [status.connector, ...status.tasks].find((s) => s.state === "FAILED");
        if (failed && Date.now() - started >= (options.failedGraceMs ?? 0)) {
          throw new ConnectorError(`connector ${name} FAILED:\n${causes(failed.trace)}`, name, true);
        }
        if (status.connector.state === "RUNNING" && status.tasks.length > 0 && status.tasks.every((t) => t.state === "RUNNING")) {
          return status;
        }
        last = describe(status);
      } else {
        last = `status ${response.status}`;
      }
    } catch (error) {
      if (error instanceof ConnectorError) throw error;
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new ConnectorError(`connector ${name} not RUNNING in time: ${last}`, name);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The exception chain of a Java stack trace, without the frames. */
function causes(trace: string | undefined): string {
  if (!trace) return "(no trace)";
  return trace
    .split("\n")
    .filter((line) => !/^\s+(at |\.\.\. \d+ more)/.test(line))
    .join("\n");
}

export function describe(status: ConnectorStatus): string {
  const tasks = status.tasks.map((t) => `${t.id}:${t.state}`).join(" ") || "none";
  return `${status.name}: connector ${status.connector.state} on ${status.connector.worker_id}, tasks ${tasks}`;
}

/** DELETE /connectors/<name>; a missing connector is fine. */
export async function deleteConnector(connectUrl: string, name: string): Promise<void> {
  const response = await fetch(`${connectUrl}/connectors/${encodeURIComponent(name)}`, { method: "DELETE" });
  if (!response.ok && response.status !== 404) throw new Error(`DELETE connector ${name}: ${response.status} ${await response.text()}`);
}

function usage(): never {
  console.error("usage: bun connectors/register.ts [--create-topics] --connect http://127.0.0.1:8083 <connector.json>...");
  process.exit(2);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: { connect: { type: "string" }, "create-topics": { type: "boolean" } },
  });
  const connectUrl = values.connect ?? process.env.KAFKA_CONNECT_URL;
  if (!connectUrl || positionals.length === 0) usage();
  try {
    // --create-topics: the org's two topics on KAFKA_BROKERS first (a local broker; Port's already exist).
    if (values["create-topics"]) await createOrgTopics(process.env.KAFKA_BROKERS, process.env.ORG_ID);
    for (const path of positionals) {
      const status = await registerConnector(connectUrl.replace(/\/+$/, ""), readConnectorFile(path));
      console.log(describe(status));
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}

async function createOrgTopics(brokers: string | undefined, org: string | undefined): Promise<void> {
  if (!brokers || !org) throw new Error("--create-topics needs KAFKA_BROKERS and ORG_ID");
  const { Kafka, logLevel } = await import("kafkajs");
  const admin = new Kafka({ brokers: brokers.split(","), clientId: "portside-register", logLevel: logLevel.ERROR }).admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({
      topics: [`${org}.runs`, `${org}.change.log`].map((topic) => ({ topic, numPartitions: 3 })),
      waitForLeaders: true,
    });
    console.log(created ? `created topics ${org}.runs and ${org}.change.log` : `topics ${org}.runs and ${org}.change.log exist`);
  } finally {
    await admin.disconnect();
  }
}
