/**
 * Processes of the benchmark: the Port emulator, the baseline server, portside itself, redis-server and
 * the load generators, each a process of its own on loopback, so none of them shares an event loop (or a
 * garbage collector) with what it measures.
 */
import { spawn as spawnChild } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, waitForHttp } from "../support/net.ts";

export const repo = new URL("../..", import.meta.url).pathname;
const bun = process.execPath;

/** Every process started here and not yet stopped, so an interrupted benchmark leaves none behind. */
const live = new Set<() => Promise<void>>();
export function track(stop: () => Promise<void>): () => Promise<void> {
  const tracked = async () => {
    live.delete(tracked);
    await stop();
  };
  live.add(tracked);
  return tracked;
}

/** Stops everything still running (most recent first). */
export async function stopAll(): Promise<void> {
  for (const stop of [...live].reverse()) await stop().catch(() => {});
}

export interface Proc {
  url: string;
  port: number;
  pid: number;
  output: string[];
  stop(): Promise<void>;
}

export function collect(proc: ReturnType<typeof Bun.spawn>, output: string[], onLine?: (line: string) => void) {
  for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      const decoder = new TextDecoder();
      let partial = "";
      const reader = stream.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        const text = partial + decoder.decode(r.value, { stream: true });
        const lines = text.split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          if (output.length < 2000) output.push(line);
          onLine?.(line);
        }
      }
    })();
  }
}

export async function stopProc(proc: ReturnType<typeof Bun.spawn>, graceMs = 15_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** A Bun script of test/bench that prints `ready <port>` once it listens (`env` added to this process's). */
export async function startScript(script: string, name: string, env: Record<string, string> = {}): Promise<Proc> {
  const output: string[] = [];
  const port = await freePort();
  let ready: (p: number) => void = () => {};
  const readyPort = new Promise<number>((resolve) => (ready = resolve));
  const proc = Bun.spawn([bun, join(repo, "test/bench", script), String(port)], { cwd: repo, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  collect(proc, output, (line) => {
    const m = /^ready (\d+)$/.exec(line);
    if (m) ready(Number(m[1]));
  });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${name} did not start:\n${output.join("\n")}`)), 30_000));
  await Promise.race([readyPort, timeout, proc.exited.then(() => Promise.reject(new Error(`${name} exited:\n${output.join("\n")}`)))]);
  return { url: `http://127.0.0.1:${port}`, port, pid: proc.pid, output, stop: track(() => stopProc(proc)) };
}

export interface PortsideOptions {
  env: Record<string, string>;
  /** Directory for `--cpu-prof` (written when the process exits). */
  cpuProfDir?: string;
  /** Extra flags for bun, e.g. `--smol`. */
  bunFlags?: string[];
  /** Called with every line the process prints (`output` keeps only the first 2,000). */
  onLine?: (line: string) => void;
  /** Another checkout of portside to run (test/bench/cpu-per-run.ts), and its entry file (default src/entry/main.ts). */
  cwd?: string;
  entry?: string;
}

export interface PortsideProc extends Proc {
  /** VmHWM and VmRSS of the process in bytes (peak and current resident set). */
  memory(): { peak: number; rss: number };
  /** CPU seconds used so far. */
  cpu(): number;
}

export async function startPortside(options: PortsideOptions): Promise<PortsideProc> {
  const port = await freePort();
  const output: string[] = [];
  const prof = options.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`, "--cpu-prof-md"] : [];
  const proc = Bun.spawn([bun, ...(options.bunFlags ?? []), ...prof, options.entry ?? "src/entry/main.ts"], {
    cwd: options.cwd ?? repo,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      HOST: "127.0.0.1",
      PORT: String(port),
      LOG_LEVEL: "warn",
      SHUTDOWN_GRACE_MS: "2000",
      ...options.env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  collect(proc, output, options.onLine);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, 30_000).catch((error) => {
    proc.kill("SIGKILL");
    throw new Error(`portside did not start: ${error}\n${output.join("\n")}`);
  });
  return {
    url,
    port,
    pid: proc.pid,
    output,
    stop: track(() => stopProc(proc)),
    memory: () => procMemory(proc.pid),
    cpu: () => procCpuSeconds(proc.pid),
  };
}

/** CPU seconds (user + system) the process has used so far. */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function procMemory(pid: number): { peak: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { peak: kb("VmHWM"), rss: kb("VmRSS") };
}

/** Runs one load generator process to its end and returns the JSON line it printed. */
export async function runLoad<T = Record<string, unknown>>(options: Record<string, unknown>): Promise<T> {
  const proc = Bun.spawn([bun, join(repo, "test/bench/load.ts"), JSON.stringify(options)], { cwd: repo, stdout: "pipe", stderr: "pipe" });
  const untrack = track(() => stopProc(proc, 1_000));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  await untrack();
  const line = stdout.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`load generator failed (exit ${code}):\n${stdout}\n${stderr}`);
  return JSON.parse(line) as T;
}

/**
 * A redis-server of the benchmark's own, with the persistence the Redis ledger needs for "ack means
 * safe": `appendonly yes`, `appendfsync always` (the counterpart of SQLite's synchronous=FULL).
 */
export async function startRedis(): Promise<Proc & { flush(): Promise<void> }> {
  const binary = Bun.which("redis-server");
  if (!binary) throw new Error("redis-server is not on PATH (apt-get install -y redis-server); the scaling phase needs it");
  const dir = mkdtempSync(join(tmpdir(), "portside-bench-redis-"));
  const port = await freePort();
  const child = spawnChild(
    binary,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", dir],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 100 ? null : 50) });
  client.on("error", () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server did not start on ${url}`);
      client.disconnect();
      await Bun.sleep(100);
    }
  }
  return {
    url,
    port,
    pid: child.pid ?? 0,
    output: [],
    async flush() {
      await client.flushall();
    },
    stop: track(async () => {
      client.disconnect();
      child.kill("SIGTERM");
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once("exit", resolve)));
      rmSync(dir, { recursive: true, force: true });
    }),
  };
}
