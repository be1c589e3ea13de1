/**
 * Deno entry (`deno run --allow-net --allow-env --allow-read --allow-write --allow-sys src/entry/deno.ts [--open | --demo] [--polling]`;
 * add `--allow-run` in execution-agent mode, whose jq runs in a child process): what Deno supplies to the shared start-up (`start.ts`): the SQLite ledger on `node:sqlite` (the same
 * file format as on Bun), `Deno.serve`, YAML routes files (the `yaml` package), signals, memory size.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parse as parseYaml } from "yaml";
import { main } from "./start.ts";

declare const Deno: {
  args: string[];
  env: { toObject(): Record<string, string> };
  readTextFile(path: string): Promise<string>;
  serve(
    options: { hostname: string; port: number; onListen?: (addr: { port: number }) => void },
    handler: (req: Request) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
  addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  exit(code: number): never;
  memoryUsage(): { rss: number };
};

/** V8's collection, present when Deno was started with `--v8-flags=--expose-gc`. */
const v8gc = (globalThis as { gc?: () => void }).gc;

await main({
  name: "deno",
  args: Deno.args,
  env: Deno.env.toObject(),
  async openSqlite(path) {
    mkdirSync(dirname(path), { recursive: true });
    const { createNodeSqliteLedger } = await import("../ledger/sqlite-node.ts");
    return createNodeSqliteLedger({ path });
  },
  readText: (path) => Deno.readTextFile(path),
  parseYaml: (text) => parseYaml(text),
  async serve({ hostname, port, fetch }) {
    const server = Deno.serve({ hostname, port, onListen: () => {} }, fetch);
    return { port: server.addr.port, stop: () => server.shutdown() };
  },
  onSignal: (signal, handler) => Deno.addSignalListener(signal, handler),
  exit: (code) => Deno.exit(code),
  residentBytes: () => Deno.memoryUsage().rss,
  ...(v8gc ? { collectGarbage: () => v8gc() } : {}),
  onUncaught(handler) {
    globalThis.addEventListener("unhandledrejection", (event) => {
      event.preventDefault();
      handler((event as Event & { reason: unknown }).reason, "rejection");
    });
    globalThis.addEventListener("error", (event) => {
      event.preventDefault();
      handler((event as Event & { error: unknown }).error, "exception");
    });
  },
  // Deno.serve hands the connection's info to the app as `env`.
  remoteAddress: (c) => (c.env as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr?.hostname,
});
