import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, closeSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

/** A free TCP port on 127.0.0.1. The JVM binds it a moment later; the race is accepted for local use. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port on 127.0.0.1"))));
    });
  });
}

export function writeProperties(path: string, props: Record<string, string | number | boolean>): void {
  const lines = Object.entries(props).map(([key, value]) => `${key}=${String(value)}`);
  writeFileSync(path, `${lines.join("\n")}\n`);
}

/**
 * reload4j config sending everything to one file. Kafka's own INFO lines are kept because they are
 * what explains a failed start; the chattiest loggers are turned down so the file stays readable.
 */
export function writeLog4jConfig(dir: string, logFile: string, levels: Record<string, string> = {}): string {
  const path = join(dir, "log4j.properties");
  writeProperties(path, {
    "log4j.rootLogger": "INFO, file",
    "log4j.appender.file": "org.apache.log4j.FileAppender",
    "log4j.appender.file.File": logFile,
    "log4j.appender.file.layout": "org.apache.log4j.PatternLayout",
    "log4j.appender.file.layout.ConversionPattern": "[%d] %p %m (%c)%n",
    "log4j.logger.org.apache.kafka.common.utils.AppInfoParser": "WARN",
    "log4j.logger.org.reflections": "ERROR",
    ...Object.fromEntries(Object.entries(levels).map(([name, level]) => [`log4j.logger.${name}`, level])),
  });
  return path;
}

export interface JavaOptions {
  libDir: string;
  mainClass: string;
  args: string[];
  log4jConfig: string;
  /** JVM stdout/stderr go here; the structured log goes to the log4j file. */
  consoleFile: string;
  heap?: { min?: string; max: string };
  /** Servers pass false so an idle test process can exit; the exit hook and the watchdog then kill the JVM. */
  keepsProcessAlive?: boolean;
  /** Removed by the watchdog after it had to kill the JVM. */
  tempDir?: string;
}

// SerialGC: with a heap of at most 512m it costs nothing and spares a 2-core machine G1's extra GC
// threads. (-XX:TieredStopAtLevel=1 was measured too: no faster start here, slower under load.)
const JVM_FLAGS = ["-XX:+UseSerialGC", "-Djava.awt.headless=true"];

const running = new Set<ChildProcess>();
const spawnErrors = new WeakMap<ChildProcess, Error>();
const dirsToRemove = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // "exit" handlers cannot wait, so this is the blunt fallback for callers that never called stop().
  process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
    for (const dir of dirsToRemove) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  });
}

/** Temp dirs are removed by stop(), or at the latest when this process exits, unless kept for a post-mortem. */
export function removeOnExit(dir: string): { remove(): void; keep(): void } {
  installExitHook();
  dirsToRemove.add(dir);
  return {
    remove() {
      dirsToRemove.delete(dir);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    },
    keep() {
      dirsToRemove.delete(dir);
    },
  };
}

/**
 * Starts a JVM plus a tiny shell watchdog that kills it once this process is gone. `bun test` exits
 * without emitting "exit" or "beforeExit", and a run killed with SIGKILL (CI time-out) runs no
 * handler at all; the watchdog covers both. It uses SIGKILL because everything the JVM wrote lives
 * in a temp dir that goes away with it, and a stray JVM must be gone by the time the runner returns.
 */
export function spawnJava(options: JavaOptions): ChildProcess {
  installExitHook();
  const heap = options.heap ?? { max: "512m" };
  const out = openSync(options.consoleFile, "a");
  const child = spawn(
    "java",
    [
      ...(heap.min ? [`-Xms${heap.min}`] : []),
      `-Xmx${heap.max}`,
      ...JVM_FLAGS,
      `-Dlog4j.configuration=file:${options.log4jConfig}`,
      "-cp",
      join(options.libDir, "*"),
      options.mainClass,
      ...options.args,
    ],
    { stdio: ["ignore", out, out] },
  );
  closeSync(out);
  // Without a listener a failed spawn (no `java` on PATH) would crash the process instead of failing a start.
  child.once("error", (error) => {
    spawnErrors.set(child, error);
    appendFileSync(options.consoleFile, `cannot start java: ${error.message}\n`);
    child.emit("exit", null, null);
  });
  if (options.keepsProcessAlive === false) child.unref();
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (child.pid !== undefined) {
    // The watchdog blocks reading a pipe whose only writer is this process: the kernel closes it
    // however this process ends, so the kill follows at once, without polling.
    const watchdog = spawn(
      "sh",
      ["-c", 'cat >/dev/null; kill -KILL "$1" 2>/dev/null && [ -n "$JVM_TEMP_DIR" ] && rm -rf "$JVM_TEMP_DIR"', "portside-jvm-watchdog", String(child.pid)],
      // The dir goes in the environment, not argv, so `pgrep -f kafka` does not match the watchdog.
      { stdio: ["pipe", "ignore", "ignore"], detached: true, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", JVM_TEMP_DIR: options.tempDir ?? "" } },
    );
    watchdog.once("error", () => undefined);
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    child.once("exit", () => watchdog.kill("SIGKILL"));
  }
  return child;
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || spawnErrors.has(child);
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM lets Kafka close its logs cleanly; SIGKILL after the deadline keeps stop() bounded. */
export async function stopJava(child: ChildProcess, deadlineMs = 15_000): Promise<void> {
  if (exited(child)) return;
  child.kill("SIGTERM");
  if (await waitForExit(child, deadlineMs)) return;
  child.kill("SIGKILL");
  await waitForExit(child, 5_000);
}

/** Runs a short-lived JVM tool to completion, failing with its output. */
export async function runJava(options: JavaOptions): Promise<void> {
  const child = spawnJava(options);
  await waitForExit(child, 120_000);
  if (!exited(child)) {
    await stopJava(child, 1_000);
    throw new Error(`${options.mainClass} did not finish within 120 s; output in ${options.consoleFile}`);
  }
  if (child.exitCode !== 0) {
    throw new Error(`${options.mainClass} failed (exit ${child.exitCode ?? child.signalCode}): ${tail(options.consoleFile)}`);
  }
}

export function tail(path: string, lines = 20): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no output)";
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
