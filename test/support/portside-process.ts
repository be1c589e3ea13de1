import { freePort, waitForHttp } from "./net.ts";

/**
 * portside as a real Bun process (`src/entry/main.ts`), for tests that kill it, restart it, or run several.
 * Output is kept in memory so a failing test can show it.
 */
const repo = new URL("../..", import.meta.url).pathname;

/** Environment for a portside process that reports to a Port emulator on `emulatorPort`, with recording handlers. */
export function emulatorEnv(emulatorPort: number | undefined, org: string, sinkToken: string, extra: Record<string, string>): Record<string, string> {
  return {
    ORG_ID: org,
    SINK_TOKEN: sinkToken,
    PORT_API_URL: `http://127.0.0.1:${emulatorPort}`,
    PORT_CLIENT_ID: "emulator-client-id",
    PORT_CLIENT_SECRET: "emulator-client-secret",
    HANDLERS: "test/support/recording-handlers.ts",
    ...extra,
  };
}

export interface PortsideProcess {
  url: string;
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  output: string[];
  /** SIGKILL: no shutdown code runs, as in a crash or an OOM kill. */
  crash(): Promise<void>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<number>;
}

function spawnPortside(env: Record<string, string>, port: number, cwd = repo) {
  return Bun.spawn([process.execPath, `${repo}src/entry/main.ts`], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "warn", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** Appends what `stream` writes to `into`, chunk by chunk, until it ends. */
async function collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) into.push(new TextDecoder().decode(r.value));
}

/**
 * Starts portside and waits for it to exit by itself (a start that fails), SIGKILLed after `timeoutMs`:
 * its exit code and what it wrote to stdout and to stderr, apart.
 */
export async function runPortsideToExit(
  env: Record<string, string>,
  options: { timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnPortside(env, await freePort());
  const stdout: string[] = [];
  const stderr: string[] = [];
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 20_000);
  await Promise.all([collect(proc.stdout, stdout), collect(proc.stderr, stderr), proc.exited]);
  clearTimeout(timer);
  return { code: proc.exitCode, stdout: stdout.join(""), stderr: stderr.join("") };
}

/** `cwd`: the process's working directory (default the repository), where relative paths in `env` resolve. */
export async function startPortside(
  env: Record<string, string>,
  options: { port?: number; startTimeoutMs?: number; cwd?: string } = {},
): Promise<PortsideProcess> {
  const port = options.port ?? (await freePort());
  const output: string[] = [];
  const proc = spawnPortside(env, port, options.cwd);
  for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) void collect(stream, output);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, options.startTimeoutMs ?? 30_000).catch((error) => {
    proc.kill("SIGKILL");
    throw new Error(`portside did not start: ${error}\n${output.join("")}`);
  });
  return {
    url,
    port,
    proc,
    output,
    async crash() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
    async stop() {
      proc.kill("SIGTERM");
      return proc.exited;
    },
  };
}

/**
 * Posts one batch the way a connector does: until it is answered 2xx, resending the identical body after
 * connection errors and 5xx (the batch was not acknowledged, so the connector must assume nothing of it).
 */
export async function deliverBatch(
  url: () => string,
  path: string,
  body: string,
  token: string,
  options: { retryDelayMs?: number; deadlineMs?: number } = {},
): Promise<{ attempts: number; reply: Record<string, number> }> {
  const deadline = Date.now() + (options.deadlineMs ?? 120_000);
  for (let attempts = 1; ; attempts++) {
    try {
      const res = await fetch(`${url()}${path}`, { method: "POST", body, headers: { authorization: `Bearer ${token}` } });
      if (res.ok) return { attempts, reply: (await res.json()) as Record<string, number> };
      if (res.status < 500) throw new Error(`refused with ${res.status}: ${await res.text()}`);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith("refused")) throw error;
    }
    if (Date.now() > deadline) throw new Error(`batch not acknowledged after ${attempts} attempts`);
    await Bun.sleep(options.retryDelayMs ?? 50);
  }
}
