import type { Context } from "hono";
import { parseArgs } from "node:util";
import { metricsRoutes } from "../http/app.ts";
import { assemble, cannotStartMessages, describe, logCannotStart, openLedger, PURGE_EVERY_MS, StartError } from "./assemble.ts";
import { type Config, ConfigError, type KafkaSettings, loadConfig, type PollingSettings } from "../config.ts";
import { demoDefaults, EMULATOR_CREDENTIALS, runDemo, runPollingDemo } from "./demo.ts";
import { runWebhooksDemo } from "./demo-webhooks.ts";
import { createPortEmulator } from "../emulator/port-emulator.ts";
import { EXAMPLE_ACTIONS_PATH, loadEmulatorActions } from "./emulator-actions.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { processOwner, recoverDeadOwners } from "../ledger/owners.ts";
import { createLogger, type Logger } from "../log.ts";
import { prettyFormat } from "../log-pretty.ts";
import { createMemoryLimit, type MemoryLimit } from "./memory-limit.ts";
import { checkPortCredentials } from "./port-credentials.ts";
import type { KafkaIngress } from "../ingress/kafka.ts";
import { createPollingIngress, type PollingIngress } from "../ingress/polling.ts";
import type { AgentStreamer } from "../port/polling.ts";
import type { Service } from "../service.ts";
import { emptyRegistry, loadHandlerModule, type Registry } from "../targets/registry.ts";
import { loadRoutesFile, mergeRoutes } from "../targets/routes.ts";
import { eventBridgeRegion } from "../targets/eventbridge/index.ts";
import { createRecentWarnings } from "../observe/recent-warnings.ts";

/**
 * Start-up, once for every runtime: flags and configuration → logger → handler module and routes →
 * ledger (recovering what dead local processes left) → Port or its emulator → service → Port's credentials
 * (entry/port-credentials.ts: refused ones fail the start) → HTTP server →
 * retention and graceful shutdown. The Bun and Deno entries pass a `Runtime` with what differs.
 *
 *   portside            production: needs ORG_ID, SINK_TOKEN, PORT_CLIENT_ID/SECRET
 *   portside --open     local use without SINK_TOKEN (says so on every start)
 *   portside --demo     open, example handlers, Port emulator; posts sample runs and shows them finish
 *   portside --webhooks takes runs from Port's signed webhooks (PORT_WEBHOOKS=true); with --demo: actions
 *                       triggered in the emulator and sent signed to portside
 *   portside --polling  takes runs by polling Port (PORT_POLLING=true); with --demo: actions triggered in
 *                       the emulator, claimed by polling, one served by a handler and one forwarded
 *
 * Every way start-up can fail (configuration, handler module, routes file, ledger, port in use) ends as one
 * line naming what to fix and exit code 2, never a stack trace.
 */
export interface Runtime {
  name: "bun" | "deno";
  args: string[];
  env: Record<string, string | undefined>;
  /** Opens the SQLite ledger; absent where the runtime has none (a memory ledger stands in, with a warning). */
  openSqlite?: (path: string) => Promise<Ledger>;
  readText(path: string): Promise<string>;
  /** YAML routes files, where the runtime parses YAML. */
  parseYaml?: (text: string) => unknown;
  serve(options: ServeOptions): Promise<Server>;
  onSignal(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  exit(code: number): never;
  /** The process's resident set size in bytes. */
  residentBytes(): number;
  /** A full, synchronous garbage collection, where the runtime offers one (MEMORY_LIMIT_MB needs it). */
  collectGarbage?: () => void;
  /** Calls `handler` for an exception nothing caught and a rejection nothing handled (instead of the runtime's own report). */
  onUncaught(handler: (error: unknown, kind: "exception" | "rejection") => void): void;
  /** The address a request came from, as the runtime's server tells it (the webhook's WEBHOOK_ALLOW). */
  remoteAddress?: (c: Context) => string | undefined;
  /** Whether standard output is a terminal (LOG_FORMAT=auto under `portside dev`, colours). */
  isTerminal?: () => boolean;
}

/** What `portside dev` (dev.ts) adds to the start-up; `portside start` passes none. */
export interface StartHooks {
  /** LOG_FORMAT=auto reads pretty when standard output is a terminal (else JSON, as always for `start`). */
  prettyOnTerminal?: boolean;
  /** Events pretty lines leave out, because the hooks' own lines say them. */
  quietEvents?: readonly string[];
  /** The registry the service uses, given how to load the configured one (called instead of loading it). */
  registry?: (load: () => Promise<Registry>, context: { config: Config; logger: Logger }) => Promise<Registry>;
  /** Told once portside listens. */
  listening?: (started: Started) => void | Promise<void>;
}

export interface Started {
  /** Where portside listens (http://host:port). */
  url: string;
  config: Config;
  logger: Logger;
  service: Service;
  /** The local Port emulator's URL, when it stands in for Port. */
  emulatorUrl: string | null;
}

export interface ServeOptions {
  hostname: string;
  port: number;
  /** Largest body the server reads before the app's own limit answers 413. */
  maxRequestBodySize: number;
  fetch: (request: Request) => Response | Promise<Response>;
}

export interface Server {
  port: number;
  stop(): Promise<void>;
}

export { StartError };

/**
 * Runs `startPortside` and turns any start-up failure into one line on stderr (one per variable when the
 * configuration was refused) and exit code 2.
 */
export async function main(runtime: Runtime, hooks: StartHooks = {}): Promise<void> {
  try {
    await startPortside(runtime, hooks);
  } catch (error) {
    const pretty = logFormat(runtime.env.LOG_FORMAT?.trim() || "auto", runtime, hooks) === "pretty";
    for (const line of cannotStartMessages(error)) {
      if (pretty) console.error(line);
      else logCannotStart(line);
    }
    runtime.exit(2);
  }
}

/** What LOG_FORMAT means here: `auto` is pretty only for `portside dev` writing to a terminal. */
function logFormat(setting: string, runtime: Runtime, hooks: StartHooks): "json" | "pretty" {
  if (setting === "json" || setting === "pretty") return setting;
  return hooks.prettyOnTerminal && runtime.isTerminal?.() ? "pretty" : "json";
}

export async function startPortside(runtime: Runtime, hooks: StartHooks = {}): Promise<void> {
  const { values: flags } = parseArgs({
    args: runtime.args,
    options: { open: { type: "boolean" }, demo: { type: "boolean" }, polling: { type: "boolean" }, webhooks: { type: "boolean" } },
    strict: false,
  });
  const demo = flags.demo === true;
  const env: Record<string, string | undefined> = {
    ...(demo ? demoDefaults : {}),
    ...runtime.env,
    ...(flags.polling === true ? { PORT_POLLING: "true" } : {}),
    ...(flags.webhooks === true ? { PORT_WEBHOOKS: "true" } : {}),
  };
  const config = loadConfig(env, { open: demo || flags.open === true || undefined });
  // Every warning and error reaches the console's health panel, whichever part of portside logged it.
  const warnings = createRecentWarnings();
  const pretty = logFormat(config.logFormat, runtime, hooks) === "pretty";
  const color = pretty && runtime.isTerminal?.() === true && !runtime.env.NO_COLOR;
  const logger = createLogger({
    level: config.logLevel,
    tap: warnings.tap,
    // Lines for people all go to standard output, in the order they happen.
    ...(pretty ? { format: prettyFormat({ color, quiet: hooks.quietEvents ?? [] }), sink: (line: string) => console.log(line) } : {}),
  });
  // Even what nothing caught is one JSON line. A rejection nobody handled (a handler's stray promise) is
  // logged and portside goes on; an uncaught exception leaves the process in an unknown state, so it exits
  // after the line, and the ledger recovers its work on the next start.
  runtime.onUncaught((error, kind) => {
    if (kind === "rejection") return logger.error("process.unhandled_rejection", { error: describe(error) });
    logger.error("process.uncaught_exception", { error: describe(error), note: "portside exits; on the next start the ledger recovers its work" });
    runtime.exit(1);
  });
  announceAccess(config, logger);
  if (config.agentVariablesTaken.length > 0)
    logger.info("portside.agent_environment", { taken: config.agentVariablesTaken, message: "Port's agent's variables were read as portside's settings" });

  const load = () => loadRegistry(config, runtime, logger);
  const registry = hooks.registry ? await hooks.registry(load, { config, logger }) : await load();
  const ledger = await openLedger(config, runtime, logger);
  const owner = processOwner();
  const recovered = await recoverDeadOwners(ledger, owner, Date.now());
  if (recovered.owners.length > 0)
    logger.warn("ledger.recovered", { message: "took back the work and reports of processes that died on this host", ...recovered });

  let emulator: ReturnType<typeof createPortEmulator> | null = null;
  let emulatorServer: Server | null = null;
  let port = config.portCredentials
    ? { baseUrl: config.portApiUrl, clientId: config.portCredentials.clientId, clientSecret: config.portCredentials.clientSecret.reveal() }
    : null;
  if (!port) {
    // Only open mode gets here (credentials are required otherwise), where people post run messages they wrote
    // themselves: Port never issued those runs, so the emulator creates them on first use instead of answering 404.
    emulator = createPortEmulator({ ...EMULATOR_CREDENTIALS, autoCreateRuns: true, log: (line) => logger.debug("port_emulator.call", { line }) });
    const actionsPath = config.emulatorActionsPath ?? EXAMPLE_ACTIONS_PATH;
    await loadEmulatorActions(emulator.state, actionsPath, runtime.readText).catch((error: unknown) => {
      throw new StartError(`PORT_EMULATOR_ACTIONS: ${describe(error)}; fix the file, or unset PORT_EMULATOR_ACTIONS for the example actions`);
    });
    emulatorServer = await serve(
      runtime,
      { hostname: "127.0.0.1", port: config.emulatorPort, maxRequestBodySize: 2 * 1024 * 1024, fetch: emulator.app.fetch },
      "PORT_EMULATOR_PORT",
    );
    port = { baseUrl: `http://127.0.0.1:${emulatorServer.port}`, ...EMULATOR_CREDENTIALS };
    logger.warn("portside.port_emulator", {
      url: port.baseUrl,
      actions: actionsPath,
      message: "No Port credentials: reporting to the local Port EMULATOR, not to Port.",
    });
  }

  const assembled = await assemble({
    config,
    ledger,
    registry,
    logger,
    port,
    owner,
    emulated: emulator !== null,
    warnings,
    ...(runtime.remoteAddress ? { remoteAddress: runtime.remoteAddress } : {}),
  });
  const { service } = assembled;
  // Port's credentials, before anything is served: refused, the start fails; Port away, it serves not ready.
  if (config.portCredentials) await checkPortCredentials(service.portAuth, logger);
  const server = await serve(
    runtime,
    // The app's bodyLimit answers 413 with a helpful body; the server's own cap sits just above it.
    { hostname: config.host, port: config.port, maxRequestBodySize: config.bodyLimitBytes + 1024 * 1024, fetch: service.app.fetch },
    "PORT",
  );
  // METRICS_PORT: /metrics apart, for a scraper on the cluster network, with no token.
  const metricsServer =
    config.metricsPort === null
      ? null
      : await serve(
          runtime,
          { hostname: config.host, port: config.metricsPort, maxRequestBodySize: 64 * 1024, fetch: metricsRoutes(service.metrics).fetch },
          "METRICS_PORT",
        );
  service.start();
  const kafka = config.kafka ? await kafkaIngressFor(config.kafka, service, logger) : null;
  const polling = config.polling ? pollingIngressFor(config.polling, config.orgId, service, logger) : null;
  if (config.executionAgent) tellAgentStreamer(service, config.polling ? "POLLING" : "KAFKA", logger);
  const memoryLimit = limitMemory(config, runtime, logger);

  const purge = setInterval(() => void assembled.retention.purge(), PURGE_EVERY_MS);

  // The polling demo's webhook receiver, stopped with the rest.
  let demoReceiver: Server | null = null;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("portside.stopping", { signal, graceMs: config.shutdownGraceMs });
    clearInterval(purge);
    memoryLimit?.stop();
    // The consumer leaves its group first, so its partitions move to the other members at once.
    await kafka?.stop();
    await polling?.stop();
    const { unfinished } = await service.stop();
    await server.stop();
    await metricsServer?.stop();
    await emulatorServer?.stop();
    await demoReceiver?.stop();
    await ledger.close();
    await assembled.close();
    logger.info("portside.stopped", { unfinished });
    runtime.exit(0);
  };
  // Before anything that may wait (joining a consumer group can take a rebalance or two): a SIGTERM then
  // still stops portside gracefully.
  runtime.onSignal("SIGTERM", () => void shutdown("SIGTERM"));
  runtime.onSignal("SIGINT", () => void shutdown("SIGINT"));

  if (kafka) {
    try {
      await kafka.start();
    } catch (error) {
      throw new StartError(
        `KAFKA_BROKERS: the Kafka consumer could not start (${describe(error)}); check the brokers, the topics, KAFKA_USERNAME/KAFKA_PASSWORD and KAFKA_SSL`,
      );
    }
  }
  polling?.start();
  logger.info("portside.listening", {
    url: `http://${config.host}:${server.port}`,
    org: config.orgId,
    ...(metricsServer ? { metricsUrl: `http://${config.host}:${metricsServer.port}/metrics` } : {}),
    runtime: runtime.name,
    ledger: config.ledger.type,
    handlers: registry.source,
    actions: registry.actions,
    ackMode: config.ackMode,
    unhandledRuns: config.unhandledRuns,
    ...(config.kafka ? { kafkaGroup: config.kafka.groupId } : {}),
    ...(config.polling ? { polling: true } : {}),
    ...(config.executionAgent ? { executionAgent: true } : {}),
  });

  await hooks.listening?.({
    url: `http://${config.host}:${server.port}`,
    config,
    logger,
    service,
    emulatorUrl: emulatorServer ? `http://127.0.0.1:${emulatorServer.port}` : null,
  });

  if (demo && emulator && config.polling) {
    await runPollingDemo({
      emulator: emulator.state,
      serveReceiver: async (fetch) => {
        demoReceiver = await runtime.serve({ hostname: "127.0.0.1", port: 0, maxRequestBodySize: 1024 * 1024, fetch });
        return `http://127.0.0.1:${demoReceiver.port}`;
      },
    });
  } else if (demo && emulator && config.webhook) {
    await runWebhooksDemo({ emulator: emulator.state, portsideUrl: `http://127.0.0.1:${server.port}` });
  } else if (demo && emulator) await runDemo({ sinkUrl: `http://127.0.0.1:${server.port}`, emulator: emulator.state, orgId: config.orgId, logger });
}

/** The soft memory limit (MEMORY_LIMIT_MB; 0 turns it off), where the runtime can collect on demand. */
function limitMemory(config: Config, runtime: Runtime, logger: Logger): MemoryLimit | null {
  if (config.memoryLimitBytes === 0) return null;
  if (!runtime.collectGarbage) {
    logger.info("memory.limit_unavailable", {
      message: `MEMORY_LIMIT_MB is not applied: ${runtime.name} offers no collection on demand here (on Deno, start it with --v8-flags=--expose-gc)`,
    });
    return null;
  }
  return createMemoryLimit({ limitBytes: config.memoryLimitBytes, residentBytes: runtime.residentBytes, collect: runtime.collectGarbage, logger });
}

/** The built-in Kafka consumer, when KAFKA_BROKERS is set: a way in beside the HTTP sink (started by the caller). */
async function kafkaIngressFor(settings: KafkaSettings, service: Service, logger: Logger): Promise<KafkaIngress> {
  const { createKafkaIngress } = await import("../ingress/kafka.ts");
  // KAFKA_BROKERS=port: the brokers and credentials come from Port's API, with portside's Port token.
  const ingress = createKafkaIngress({ settings, ingest: service.ingest, logger, resolveConnection: () => service.portClient.kafkaCredentials() });
  service.attachIngress("kafka", ingress);
  return ingress;
}

/** The start line says who may call what: open mode, the sink's token, and whether /admin is on. */
function announceAccess(config: Config, logger: Logger): void {
  const sink = config.sinkToken
    ? "/sink requires SINK_TOKEN"
    : config.open
      ? "/sink accepts requests without a token"
      : "/sink is off (set SINK_TOKEN to take records from a Kafka Connect HTTP sink)";
  const admin = config.adminToken
    ? "/admin requires ADMIN_TOKEN"
    : config.open
      ? "/admin accepts requests without a token"
      : "/admin is off (set ADMIN_TOKEN to use it)";
  if (config.open)
    logger.warn("portside.open_mode", {
      message: `Started OPEN for local use: ${sink}; ${admin}. In production set SINK_TOKEN and ADMIN_TOKEN and leave PORTSIDE_OPEN unset.`,
    });
  else logger.info("portside.access", { message: `${sink}; ${admin}.` });
}

async function loadRegistry(config: Config, runtime: Runtime, logger: Logger): Promise<Registry> {
  let registry = config.handlersPath ? await loadHandlerModule(config.handlersPath, config.handlersImportTimeoutMs) : emptyRegistry();
  // ROUTES: EventBridge routing without code, merged with the handler module (RoutesError is a HandlerModuleError).
  if (config.routesPath) {
    const routes = await loadRoutesFile(config.routesPath, { readText: runtime.readText, ...(runtime.parseYaml ? { parseYaml: runtime.parseYaml } : {}) });
    registry = mergeRoutes(registry, routes);
    // Every route publishes to EventBridge: without a region each routed run would fail, so the start does.
    if (!(await eventBridgeRegion(config.eventBridge)))
      throw new ConfigError("AWS_REGION", `is not set (nor in an AWS profile), and ROUTES sends runs and changes to EventBridge; set it to the bus's region`);
  }
  if (!config.handlersPath && !config.routesPath) {
    const rest =
      config.unhandledRuns === "fail"
        ? "will be reported FAILURE saying so (UNHANDLED_RUNS=fail)"
        : "are left to other consumers of the topic (UNHANDLED_RUNS=ignore)";
    logger.warn("portside.no_handlers", {
      // In Port's agent's place, the agent's runs are forwarded whatever UNHANDLED_RUNS says; it rules the others.
      message: config.executionAgent
        ? `HANDLERS is not set: runs for Port's execution agent are forwarded as the agent forwards them; other runs ${rest}.`
        : config.unhandledRuns === "fail"
          ? "HANDLERS is not set: every run will be reported FAILURE saying so (UNHANDLED_RUNS=fail)."
          : "HANDLERS is not set: runs are left to other consumers of the topic (UNHANDLED_RUNS=ignore).",
    });
  }
  return registry;
}

async function serve(runtime: Runtime, options: ServeOptions, variable: string): Promise<Server> {
  try {
    return await runtime.serve(options);
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as { name?: string }).name;
    if (code === "EADDRINUSE" || code === "AddrInUse")
      throw new StartError(`${variable}: ${options.hostname}:${options.port} is already in use; stop what listens there or choose another ${variable}`);
    throw new StartError(`${variable}: could not listen on ${options.hostname}:${options.port}: ${describe(error)}`);
  }
}

/** Polling Port's API for runs (PORT_POLLING): a way in without Kafka or a sink (started by the caller). */
function pollingIngressFor(settings: PollingSettings, orgId: string, service: Service, logger: Logger): PollingIngress {
  const ingress = createPollingIngress({ port: service.portClient, ingest: service.ingest, orgId, settings, logger });
  service.attachIngress("polling", ingress);
  return ingress;
}

/**
 * In the agent's place, Port is told at start, as Port's agent tells it, how the organisation's agent takes
 * its runs (`portAgentStreamerName`): POLLING, or KAFKA when they come by the topic. Best effort: a refusal is logged.
 */
function tellAgentStreamer(service: Service, streamer: AgentStreamer, logger: Logger): void {
  service.portClient.setAgentStreamer(streamer).catch((error: unknown) => logger.warn("portside.agent_streamer_not_set", { streamer, error: describe(error) }));
}
