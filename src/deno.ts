/**
 * Deno entry: the same core on Deno 2 (`deno run --allow-net --allow-env --allow-read src/deno.ts`).
 * Without `bun:sqlite` it keeps its ledger in memory (not durable — for trying portside on Deno) or in
 * Redis (`LEDGER=redis://…`, durable and shared).
 */
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { createMemoryLedger } from "./ledger/memory.ts";
import type { Ledger } from "./ledger/ledger.ts";
import { createLogger } from "./log.ts";
import { createService } from "./service.ts";
import { emptyRegistry, loadHandlerModule } from "./targets/registry.ts";

declare const Deno: {
  env: { toObject(): Record<string, string> };
  serve(
    options: { hostname: string; port: number; onListen?: (addr: { port: number }) => void },
    handler: (req: Request) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
  addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  exit(code: number): never;
};

const env = Deno.env.toObject();
let config: Config;
try {
  config = loadConfig(env);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`portside cannot start: ${error.message}`);
    Deno.exit(2);
  }
  throw error;
}
if (!config.portCredentials) {
  console.error("portside cannot start: PORT_CLIENT_ID and PORT_CLIENT_SECRET are needed on Deno (the demo emulator runs on the Bun entry).");
  Deno.exit(2);
}
const logger = createLogger({ level: config.logLevel });
if (config.open) logger.warn("portside.open_mode", { message: "Started OPEN: /sink and /admin accept requests without a token. For local use only." });

let ledger: Ledger;
let tokenStore: Awaited<ReturnType<typeof import("./port/token-store-redis.ts")["createRedisTokenStore"]>> | undefined;
if (config.ledger.type === "redis") {
  const { createRedisLedger } = await import("./ledger/redis.ts");
  ledger = createRedisLedger({ url: config.ledger.url.reveal() });
  // Replicas share Port's one active token through the same Redis.
  tokenStore = (await import("./port/token-store-redis.ts")).createRedisTokenStore({ url: config.ledger.url.reveal(), prefix: "portside" });
} else {
  if (config.ledger.type === "sqlite")
    logger.warn("portside.deno_memory_ledger", {
      message: "bun:sqlite is not available on Deno: using an in-memory ledger (NOT durable). Use LEDGER=redis://… for durability.",
    });
  ledger = createMemoryLedger();
}

const registry = config.handlersPath ? await loadHandlerModule(config.handlersPath) : emptyRegistry();
const service = createService({
  config,
  ledger,
  registry,
  logger,
  port: { baseUrl: config.portApiUrl, clientId: config.portCredentials.clientId, clientSecret: config.portCredentials.clientSecret.reveal() },
  ...(tokenStore ? { tokenStore } : {}),
});
const server = Deno.serve(
  {
    hostname: config.host,
    port: config.port,
    onListen: ({ port }) => logger.info("portside.listening", { url: `http://${config.host}:${port}`, runtime: "deno" }),
  },
  service.app.fetch,
);
service.start();

const shutdown = async () => {
  await service.stop();
  await server.shutdown();
  await ledger.close();
  await tokenStore?.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", () => void shutdown());
Deno.addSignalListener("SIGINT", () => void shutdown());
