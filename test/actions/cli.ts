import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createPortEmulator, type PortEmulator } from "../../src/emulator/port-emulator.ts";
import { declareActions } from "../../src/emulator/port-emulator-definitions.ts";

/**
 * What the `actions` CLI tests share: the CLI as a person runs it (`npm run cli -- …`: the package's cli
 * script, a real process), a Port emulator on a loopback port with credentials, and a directory under
 * test/.generated (gitignored, left out of the repository's typecheck and lint) for what they write.
 */
export const repo = new URL("../..", import.meta.url).pathname;
const script = (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { scripts: { cli: string } }).scripts.cli;

/** The definitions of every input type, format and rule of Port's forms, with Port's own examples. */
export const EVERY_INPUT = join(repo, "test/actions/every-input.json");

export const CREDENTIALS = { clientId: "cli-test-client", clientSecret: "cli-test-secret-that-must-not-print" };

/** A fresh directory test/.generated/<name>, its own tsconfig extending the repository's. */
export function generatedDir(name: string): string {
  const dir = join(repo, "test/.generated", name);
  mkdirSync(dir, { recursive: true });
  // The repository's tsconfig leaves test/.generated out: this one takes the files here, nothing else.
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ extends: "../../../tsconfig.json", include: ["./*.ts"], exclude: [] }, null, 2));
  return dir;
}

/** `npm run cli -- <args>` in the repository with exactly `env` (and PATH, HOME): its exit code and output. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...scriptArgs] = script.split(" ");
  if (command !== "bun") throw new Error(`the cli script is not run by bun: ${script}`);
  return inRepo([process.execPath, ...scriptArgs, ...args], env);
}

/** `command` run in the repository with exactly `env` (PATH and HOME unless it sets them): its exit code and output. */
export async function inRepo(command: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(command, {
    cwd: repo,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A Port emulator serving `definitions` on 127.0.0.1, and the environment that points the CLI at it. */
export function servedEmulator(definitions: unknown): { emulator: PortEmulator; env: Record<string, string>; stop: () => void } {
  const emulator = createPortEmulator(CREDENTIALS);
  declareActions(emulator.state, definitions);
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  const env = {
    ORG_ID: "org_cli_test",
    PORT_API_URL: `http://127.0.0.1:${server.port}`,
    PORT_CLIENT_ID: CREDENTIALS.clientId,
    PORT_CLIENT_SECRET: CREDENTIALS.clientSecret,
  };
  return { emulator, env, stop: () => server.stop(true) };
}

/** `tsc --noEmit -p <dir>`: its exit code and what it printed (paths relative to the repository). */
export async function typecheck(dir: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn([process.execPath, join(repo, "node_modules/typescript/lib/tsc.js"), "--noEmit", "--pretty", "false", "-p", dir], {
    cwd: repo,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: stdout + stderr };
}
