/**
 * What Bun supplies to the shared start-up (`start.ts`): the SQLite ledger on `bun:sqlite`, `Bun.serve`,
 * YAML routes files, signals, memory size and collection. `portside start` and `portside dev` run on it.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Runtime } from "./start.ts";

export function bunRuntime(args: string[], env: Record<string, string | undefined>): Runtime {
  return {
    name: "bun",
    args,
    env,
    async openSqlite(path) {
      mkdirSync(dirname(path), { recursive: true });
      const { createSqliteLedger } = await import("../ledger/sqlite.ts");
      return createSqliteLedger({ path });
    },
    readText: (path) => Bun.file(path).text(),
    parseYaml: (text) => Bun.YAML.parse(text),
    async serve({ hostname, port, maxRequestBodySize, fetch }) {
      const server = Bun.serve({ hostname, port, maxRequestBodySize, fetch });
      return { port: server.port ?? port, stop: () => server.stop() };
    },
    onSignal: (signal, handler) => process.on(signal, handler),
    exit: (code) => process.exit(code),
    residentBytes: () => process.memoryUsage.rss(),
    collectGarbage: () => Bun.gc(true),
    onUncaught(handler) {
      process.on("uncaughtException", (error) => handler(error, "exception"));
      process.on("unhandledRejection", (reason) => handler(reason, "rejection"));
    },
    // Bun.serve hands its server to the app as `env`; it knows each request's address.
    remoteAddress: (c) => (c.env as { requestIP?: (request: Request) => { address: string } | null } | undefined)?.requestIP?.(c.req.raw)?.address,
    isTerminal: () => process.stdout.isTTY === true,
  };
}
