/**
 * Deno entry (`deno run --allow-net --allow-env --allow-read --allow-sys src/deno.ts [--open]`): what Deno
 * supplies to the shared start-up (`start.ts`). Without `bun:sqlite` the ledger is Redis
 * (`LEDGER=redis://…`, durable and shared) or memory (not durable).
 */
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
  readText: (path) => Deno.readTextFile(path),
  async serve({ hostname, port, fetch }) {
    const server = Deno.serve({ hostname, port, onListen: () => {} }, fetch);
    return { port: server.addr.port, stop: () => server.shutdown() };
  },
  onSignal: (signal, handler) => Deno.addSignalListener(signal, handler),
  exit: (code) => Deno.exit(code),
  residentBytes: () => Deno.memoryUsage().rss,
  ...(v8gc ? { collectGarbage: () => v8gc() } : {}),
});
