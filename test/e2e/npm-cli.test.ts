import { afterAll, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { generatedDir, inRepo } from "../actions/cli.ts";
import { freePort, waitForHttp } from "../support/net.ts";

/**
 * The commands the README and portside's own lines document, run as written: `npm run -s cli -- …` from the
 * checkout, with a PATH that holds npm and node only. bun is in node_modules/.bin alone, which npm puts on
 * the PATH of its scripts, so `npm run cli` works on a machine with no bun installed.
 */
const repo = new URL("../..", import.meta.url).pathname;
const npm = Bun.which("npm");
const node = Bun.which("node");
if (!npm || !node) throw new Error("NO NPM FOR THE npm run cli TEST: install Node.js and npm (npm test's prerequisites).");
const PATH = [...new Set([dirname(npm), dirname(node)])].join(":");
const version = (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), "portside-npm-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `npm run -s cli -- <args>` in the checkout with exactly PATH, HOME and `env`: exit code and output. */
const npmCli = (args: string[], env: Record<string, string> = {}) => inRepo([npm as string, "run", "-s", "cli", "--", ...args], { PATH, ...env });

test("this PATH has no bun: npm's scripts find the one in node_modules/.bin", () => {
  expect(Bun.which("bun", { PATH })).toBeNull();
});

test("npm run -s cli -- --help and --version print and exit 0", async () => {
  const help = await npmCli(["--help"]);
  expect({ code: help.code, stderr: help.stderr, first: help.stdout.split("\n")[0] }).toEqual({
    code: 0,
    stderr: "",
    first: "Usage: portside [options] [command]",
  });
  const commands = [...help.stdout.matchAll(/^ {2}(\S+) .*$/gm)].map((m) => m[1]);
  expect(commands).toEqual(expect.arrayContaining(["start", "dev", "trigger", "invoke", "actions", "dead-letters", "runs", "stats"]));
  expect(await npmCli(["--version"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
}, 60_000);

test("npm run -s cli -- invoke, as the README writes it", async () => {
  const deploy = await npmCli(["invoke", "deploy", "--inputs", '{"version":"1.2.3"}', "--entity", "checkout"]);
  const runId = /^deploy: run (r_[0-9a-f]{16}) /.exec(deploy.stdout)?.[1] ?? "";
  expect(deploy).toEqual({
    code: 0,
    stdout: [
      `deploy: run ${runId} (local Port emulator; nothing was sent to Port)`,
      "  log     Deploying checkout 1.2.3 to staging",
      "  log     Deployment of checkout 1.2.3 finished",
      '  entity  upserted deployment/checkout-1-2-3-staging {"properties":{"version":"1.2.3","environment":"staging","triggeredBy":"developer@example.com"},"relations":{"microservice":"checkout"}}',
      "SUCCESS: Deployed checkout 1.2.3 to staging",
      `  link    https://ci.example.com/deployments/${runId}`,
      "",
    ].join("\n"),
    stderr: "",
  });

  const vm = join(dir, "vm.json");
  writeFileSync(vm, JSON.stringify({ cpu: 2, memory: 4, region: "eu-west-1" }));
  const created = await npmCli(["invoke", "create_vm", "--inputs", `@${vm}`, "--handlers", "./src/examples/handlers.ts", "--json"]);
  expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: "" });
  expect(JSON.parse(created.stdout)).toMatchObject({ status: "SUCCESS", logs: ["Creating a 2 vCPU / 4 GiB VM in eu-west-1"] });
}, 60_000);

test("npm run -s cli -- actions pull, then actions check (--open: the local emulator's definitions)", async () => {
  const out = relative(repo, join(generatedDir("npm-cli"), "port-actions.ts"));
  const pulled = await npmCli(["actions", "pull", "--open", "--out", out]);
  expect({ code: pulled.code, stderr: pulled.stderr }).toEqual({ code: 0, stderr: "" });
  expect(readFileSync(join(repo, out), "utf8")).toContain("export const actions");
  const checked = await npmCli(["actions", "check", "--open", "--out", out]);
  expect({ code: checked.code, stderr: checked.stderr }).toEqual({ code: 0, stderr: "" });
  expect(checked.stdout).toStartWith(`${out} matches Port's action definitions (`);
}, 60_000);

test("npm run -s cli -- dev, then npm run -s cli -- trigger … --entity …: the run ends SUCCESS", async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = "";
  // Its own process group, as a terminal's foreground job: Ctrl-C (SIGINT) reaches npm, its shell and portside.
  const dev: ChildProcess = spawn(npm as string, ["run", "-s", "cli", "--", "dev"], {
    cwd: repo,
    env: { PATH, HOME: process.env.HOME ?? "/tmp", PORT: String(port), LEDGER: "memory" },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  dev.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  dev.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => dev.on("exit", (code) => resolve(code)));
  try {
    await waitForHttp(`${url}/healthz`, 30_000).catch((error) => {
      throw new Error(`npm run cli -- dev did not start: ${error}\n${output}`);
    });
    const sent = await npmCli(["trigger", "deploy", "--inputs", '{"version":"1.2.3"}', "--entity", "checkout", "--url", url]);
    const runId = /^deploy: run (r_[0-9a-f]{16}) /.exec(sent.stdout)?.[1] ?? "";
    const lines = sent.stdout.split("\n").filter(Boolean);
    expect({ code: sent.code, stderr: sent.stderr, first: lines[0], end: lines.slice(-2) }).toEqual({
      code: 0,
      stderr: "",
      first: `deploy: run ${runId} sent to ${url} (organisation org_portside_dev; Port is the local emulator)`,
      end: ["SUCCESS: Deployed checkout 1.2.3 to staging", `  console ${url}/console/runs/${runId}`],
    });
    expect(output).toContain('"event":"dev.ready"');
  } finally {
    if (dev.pid) process.kill(-dev.pid, "SIGINT");
    await exited;
  }
  // Stopped cleanly, and nothing listens any more.
  expect(output).toContain('"event":"portside.stopped"');
  expect(
    await fetch(`${url}/healthz`).then(
      () => "answered",
      () => "nothing",
    ),
  ).toBe("nothing");
}, 90_000);
