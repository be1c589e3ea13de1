import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { createPortEmulator } from "./emulator/port-emulator.ts";
import { openLedger } from "./ledger/open.ts";
import { processOwner, recoverDeadOwners } from "./ledger/owners.ts";
import { createLogger } from "./log.ts";
import { createService } from "./service.ts";
import { createEventBridgeTargets } from "./targets/eventbridge/index.ts";
import { emptyRegistry, HandlerModuleError, loadHandlerModule, type Registry } from "./targets/registry.ts";
import { loadRoutesFile, mergeRoutes } from "./targets/routes.ts";
import { runDemo, demoDefaults, EMULATOR_CREDENTIALS } from "./demo.ts";

/**
 * Bun entry: configuration → ledger → service → Bun.serve, with graceful shutdown on SIGTERM/SIGINT.
 *   bun src/main.ts            production: needs ORG_ID, SINK_TOKEN, PORT_CLIENT_ID/SECRET
 *   bun src/main.ts --open     local use without SINK_TOKEN (says so on every start)
 *   bun src/main.ts --demo     open, example handlers, Port emulator; posts sample runs and shows them finish
 */
const { values: flags } = parseArgs({ args: Bun.argv.slice(2), options: { open: { type: "boolean" }, demo: { type: "boolean" } } });
const demo = flags.demo === true;
const env = demo ? { ...demoDefaults, ...process.env } : process.env;

let config: Config;
try {
  config = loadConfig(env, { open: demo || flags.open === true || undefined });
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`portside cannot start: ${error.message}`);
    process.exit(2);
  }
  throw error;
}

const logger = createLogger({ level: config.logLevel });
if (config.open)
  logger.warn("portside.open_mode", {
    message: "Started OPEN: /sink and /admin accept requests without a token. For local use only; set SINK_TOKEN in production.",
  });

let registry: Registry;
try {
  registry = config.handlersPath ? await loadHandlerModule(config.handlersPath) : emptyRegistry();
  // ROUTES: EventBridge routing without code, merged with the handler module (RoutesError is a HandlerModuleError).
  if (config.routesPath)
    registry = mergeRoutes(
      registry,
      await loadRoutesFile(config.routesPath, { readText: (path) => Bun.file(path).text(), parseYaml: (text) => Bun.YAML.parse(text) }),
    );
} catch (error) {
  console.error(`portside cannot start: ${error instanceof HandlerModuleError ? error.message : String(error)}`);
  process.exit(2);
}
if (!config.handlersPath && !config.routesPath)
  logger.warn("portside.no_handlers", { message: "HANDLERS is not set: every run will be reported FAILURE saying so." });

const ledger = await openLedger(config.ledger);
const owner = processOwner();
const recovered = await recoverDeadOwners(ledger, owner, Date.now());
if (recovered.owners.length > 0)
  logger.warn("ledger.recovered", { message: "took back the work and reports of processes that died on this host", ...recovered });

let emulatorServer: ReturnType<typeof Bun.serve> | null = null;
let emulator: ReturnType<typeof createPortEmulator> | null = null;
let port = config.portCredentials
  ? { baseUrl: config.portApiUrl, clientId: config.portCredentials.clientId, clientSecret: config.portCredentials.clientSecret.reveal() }
  : null;
if (!port) {
  emulator = createPortEmulator({ ...EMULATOR_CREDENTIALS, log: (line) => logger.debug("port_emulator.call", { line }) });
  emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: Number(env.PORT_EMULATOR_PORT ?? 0), fetch: emulator.app.fetch });
  port = { baseUrl: `http://127.0.0.1:${emulatorServer.port}`, ...EMULATOR_CREDENTIALS };
  logger.warn("portside.port_emulator", { url: port.baseUrl, message: "No Port credentials: reporting to the local Port EMULATOR, not to Port." });
}

// Replicas on one Redis share the Port token there, so one replica's fetch does not revoke the others' token.
// Not with the in-process emulator: each replica has its own.
const tokenStore =
  config.ledger.type === "redis" && !emulator
    ? (await import("./port/token-store-redis.ts")).createRedisTokenStore({ url: config.ledger.url.reveal(), prefix: "portside" })
    : undefined;
const service = createService({
  config,
  ledger,
  registry,
  logger,
  port,
  owner,
  targets: createEventBridgeTargets(config, { ledger, logger }),
  ...(tokenStore ? { tokenStore } : {}),
});
const server = Bun.serve({
  hostname: config.host,
  port: config.port,
  // Hono's bodyLimit answers 413 with a helpful body; Bun's own cap sits just above it.
  maxRequestBodySize: config.bodyLimitBytes + 1024 * 1024,
  fetch: service.app.fetch,
});
service.start();
logger.info("portside.listening", {
  url: `http://${config.host}:${server.port}`,
  ledger: config.ledger.type,
  handlers: registry.source,
  actions: registry.actions,
  ackMode: config.ackMode,
});

const purge = setInterval(async () => {
  try {
    const purged = await ledger.purge(Date.now() - config.retentionMs);
    if (purged.work + purged.reports > 0) logger.info("ledger.purged", purged);
  } catch (error) {
    logger.error("ledger.purge_failed", { error });
  }
}, 15 * 60_000);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info("portside.stopping", { signal, graceMs: config.shutdownGraceMs });
  clearInterval(purge);
  const { unfinished } = await service.stop();
  await server.stop();
  emulatorServer?.stop(true);
  await ledger.close();
  await tokenStore?.close();
  logger.info("portside.stopped", { unfinished });
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

if (demo && emulator) await runDemo({ sinkUrl: `http://127.0.0.1:${server.port}`, emulator: emulator.state, orgId: config.orgId, logger });
