import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopWhenTestsEnd } from "./shared-servers.ts";

/**
 * `npm pack` of this checkout, once per test process, for the tests that install portside as a team's project
 * does (test/package/pack.test.ts, test/docs/readme-run.test.ts), and the way they run npm and the programs.
 * Everything goes into one temp dir outside the repository, removed after the last test file.
 */
export const repo = new URL("../..", import.meta.url).pathname;
const node = Bun.which("node");
const foundNpm = Bun.which("npm");
if (!node || !foundNpm) throw new Error("NO NODE.JS FOR THE PACKAGE TESTS: npm pack and the launcher need Node.js 20 or newer with npm");
export const npm: string = foundNpm;
export const work = mkdtempSync(join(tmpdir(), "portside-pack-"));
stopWhenTestsEnd(async () => rmSync(work, { recursive: true, force: true }));

/** The children `sh` (and a test, for one it starts itself) started that have not ended: a test's afterEach kills them (`killRunning`). */
export const running = new Set<ReturnType<typeof Bun.spawn>>();
export function killRunning(): void {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}

/** Only what npm and the programs need: none of this process's service variables (KAFKA_BROKERS, REDIS_URL, …) or npm's script variables. */
export const baseEnv = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", npm_config_update_notifier: "false" };

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export async function sh(cmd: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 240_000): Promise<Ran> {
  const started = performance.now();
  const child = Bun.spawn(cmd, { cwd, env: { ...baseEnv, ...env }, stdout: "pipe", stderr: "pipe" });
  running.add(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  await child.exited;
  clearTimeout(timer);
  running.delete(child);
  return { code: child.exitCode, stdout, stderr, ms: performance.now() - started };
}

/** Runs and expects exit 0, printing how long it took; on failure the error carries the output. */
export async function ok(what: string, cmd: string[], cwd: string, env: Record<string, string> = {}): Promise<Ran> {
  const ran = await sh(cmd, cwd, env);
  console.log(`[pack] ${what}: exit ${ran.code} in ${(ran.ms / 1000).toFixed(1)} s`);
  if (ran.code !== 0) throw new Error(`${what} (${cmd.join(" ")}) exited ${ran.code}:\n${ran.stdout.slice(-4000)}\n${ran.stderr.slice(-4000)}`);
  return ran;
}

export function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make();
    return made;
  };
}

export interface PackInfo {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string; size: number; mode: number }[];
}

/** `npm pack` of this checkout (prepack writes the declarations, postpack removes them), into the temp dir. */
export const packed = once(async () => {
  const ran = await ok("npm pack (prepack: tsc -p tsconfig.build.json)", [npm, "pack", "--json", "--pack-destination", work], repo);
  const [info] = JSON.parse(ran.stdout.slice(ran.stdout.indexOf("["))) as PackInfo[];
  if (!info) throw new Error(`npm pack printed no report:\n${ran.stdout}`);
  console.log(
    `[pack] ${info.filename}: ${(info.size / 1024).toFixed(0)} kB packed, ${(info.unpackedSize / 1024).toFixed(0)} kB unpacked, ${info.entryCount} files`,
  );
  const unpacked = join(work, "unpacked");
  mkdirSync(unpacked);
  await ok("tar xzf", ["tar", "xzf", join(work, info.filename), "-C", unpacked], work);
  return { tarball: join(work, info.filename), info, root: join(unpacked, "package") };
});
