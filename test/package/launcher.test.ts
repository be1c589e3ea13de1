import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/**
 * bin/portside.mjs, the `portside` command an npm install links: Node.js runs it, it runs src/entry/cli.ts on
 * the Bun installed with portside (never one on PATH), and arguments, output, signals and the exit code pass
 * through. Real processes: node, the launcher, Bun.
 */
const repo = new URL("../..", import.meta.url).pathname;
const launcher = join(repo, "bin/portside.mjs");
const node = Bun.which("node");
if (!node) throw new Error("NO NODE FOR THE LAUNCHER TESTS: bin/portside.mjs is a Node.js script; install Node.js 20 or newer");
const dir = mkdtempSync(join(tmpdir(), "portside-launcher-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** PATH with node but no Bun: what the launcher runs must come from the package, not from PATH. */
const PATH = `${dirname(node)}:/usr/bin:/bin`;

async function run(args: string[], script = launcher, env: Record<string, string> = {}) {
  const child = Bun.spawn([node as string, script, ...args], {
    cwd: dir,
    env: { PATH, HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code: await child.exited, signal: child.signalCode, stdout, stderr };
}

describe("bin/portside.mjs", () => {
  test("--help prints the program's own help, as `bun src/entry/cli.ts --help` does; exit 0", async () => {
    const direct = Bun.spawnSync([process.execPath, join(repo, "src/entry/cli.ts"), "--help"], { cwd: dir, env: { PATH, NO_COLOR: "1" } });
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain("Usage:");
    expect(stdout).toContain("invoke");
    expect(stdout).toBe(direct.stdout.toString());
  }, 30_000);

  test("an unknown command exits non-zero (the program's usage error, 2), saying so", async () => {
    const { code, stdout, stderr } = await run(["no-such-command"]);
    expect(code).toBe(2);
    expect(stdout + stderr).toContain("unknown command 'no-such-command'");
  }, 30_000);

  test("the exit code passes through: a handler that throws ends `invoke` with 1, arguments with spaces and quotes arrive whole", async () => {
    const handlers = join(dir, "failing-handlers.ts");
    writeFileSync(handlers, `export default { runs: { boom: async (run) => { throw new Error("no " + run.inputs.what); } } };\n`);
    const { code, stdout } = await run(["invoke", "boom", "--inputs", `{"what":"luck, \\"really\\""}`, "--handlers", handlers]);
    expect(code).toBe(1);
    expect(stdout).toContain('FAILURE: Handler for "boom" failed: no luck, "really"');
  }, 30_000);

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal} sent to the launcher reaches Bun: Bun ends by it, and so does the launcher`, async () => {
      const pidFile = join(dir, `bun-${signal}.pid`);
      const handlers = join(dir, `waiting-handlers-${signal}.ts`);
      writeFileSync(
        handlers,
        `import { writeFileSync } from "node:fs";\n` +
          `export default { runs: { wait: async () => { writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); await new Promise(() => {}); } } };\n`,
      );
      const child = Bun.spawn([node as string, launcher, "invoke", "wait", "--handlers", handlers], {
        cwd: dir,
        env: { PATH, HOME: process.env.HOME ?? "/tmp" },
        stdout: "pipe",
        stderr: "pipe",
      });
      const deadline = Date.now() + 20_000;
      while (!existsSync(pidFile) && Date.now() < deadline) await Bun.sleep(50);
      expect(existsSync(pidFile)).toBe(true);
      const bunPid = Number(readFileSync(pidFile, "utf8"));
      expect(bunPid).not.toBe(child.pid);
      child.kill(signal);
      await child.exited;
      expect(child.signalCode).toBe(signal);
      // Bun is gone too (not left running without its parent).
      let alive = true;
      for (const end = Date.now() + 5_000; alive && Date.now() < end; await Bun.sleep(50)) {
        try {
          process.kill(bunPid, 0);
        } catch {
          alive = false;
        }
      }
      // Not left behind when this test fails.
      if (alive) process.kill(bunPid, "SIGKILL");
      expect(alive).toBe(false);
    }, 30_000);
  }

  describe("which Bun: resolved from portside's own place in node_modules, never from PATH", () => {
    /** A node_modules laid out as npm lays it out, with stand-ins for Bun that say who they are. */
    const project = join(dir, "project");
    const modules = join(project, "node_modules");
    const os = { linux: "linux", darwin: "darwin", win32: "windows", freebsd: "freebsd" }[process.platform as string];
    const arch = { x64: "x64", arm64: "aarch64" }[process.arch as string];
    const platformPackage = `@oven/bun-${os}-${arch}`;
    /** An executable stand-in for Bun, over 1 MB as the real binary is: prints its name and arguments, exits with $STANDIN_EXIT. */
    const standIn = (path: string, name: string) => {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' ${name} "$@"\nexit "\${STANDIN_EXIT:-0}"\n# ${"x".repeat(1_100_000)}\n`);
      chmodSync(path, 0o755);
    };
    const layout = (bunExe: "binary" | "placeholder", platform: boolean) => {
      rmSync(project, { recursive: true, force: true });
      mkdirSync(join(modules, "portside/bin"), { recursive: true });
      copyFileSync(launcher, join(modules, "portside/bin/portside.mjs"));
      writeFileSync(join(modules, "portside/package.json"), JSON.stringify({ name: "portside", type: "module", dependencies: { bun: "*" } }));
      mkdirSync(join(modules, "bun/bin"), { recursive: true });
      writeFileSync(join(modules, "bun/package.json"), JSON.stringify({ name: "bun", bin: { bun: "bin/bun.exe" } }));
      if (bunExe === "binary") standIn(join(modules, "bun/bin/bun.exe"), "bun-package");
      else {
        // What the `bun` package holds before its postinstall (npm install --ignore-scripts): a 450-byte script.
        writeFileSync(join(modules, "bun/bin/bun.exe"), `echo "Error: Bun's postinstall script was not run." >&2\nexit 1\n`);
        chmodSync(join(modules, "bun/bin/bun.exe"), 0o755);
      }
      if (platform) {
        mkdirSync(join(modules, platformPackage), { recursive: true });
        writeFileSync(join(modules, platformPackage, "package.json"), JSON.stringify({ name: platformPackage }));
        standIn(join(modules, platformPackage, "bin/bun"), "platform-package");
      }
      // A `bun` on PATH that must never be the one run.
      standIn(join(project, "path-bin/bun"), "path-bun");
      return join(modules, "portside/bin/portside.mjs");
    };
    const pathWithBun = () => `${join(project, "path-bin")}:${PATH}`;
    const cliOf = (script: string) => join(dirname(script), "../src/entry/cli.ts");

    test("after Bun's postinstall: the bun package's bin/bun.exe runs src/entry/cli.ts with the arguments as given; its exit code passes through", async () => {
      if (!os || !arch) throw new Error(`no Bun package for ${process.platform}-${process.arch}`);
      const script = layout("binary", true);
      const { code, stdout } = await run(["invoke", "deploy", "--inputs", '{"a": "b c"}'], script, { PATH: pathWithBun(), STANDIN_EXIT: "7" });
      expect(stdout.split("\n").slice(0, -1)).toEqual(["bun-package", cliOf(script), "invoke", "deploy", "--inputs", '{"a": "b c"}']);
      expect(code).toBe(7);
    }, 30_000);

    test("installed with --ignore-scripts (bin/bun.exe still the placeholder): the binary in @oven/bun-<os>-<arch>", async () => {
      const script = layout("placeholder", true);
      const { code, stdout } = await run(["--version"], script, { PATH: pathWithBun() });
      expect(stdout.split("\n").slice(0, -1)).toEqual(["platform-package", cliOf(script), "--version"]);
      expect(code).toBe(0);
    }, 30_000);

    test("no Bun binary at all: exit 1 with one line naming the fix, and the Bun on PATH is not run", async () => {
      const script = layout("placeholder", false);
      const { code, stdout, stderr } = await run(["--help"], script, { PATH: pathWithBun() });
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toContain("portside: Bun's binary is not installed");
      expect(stderr).toContain("node node_modules/bun/install.js");
      expect(stderr.trim().split("\n")).toHaveLength(1);
    }, 30_000);
  });
});
