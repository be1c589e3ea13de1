import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * `npm run cli -- invoke <action>` as a real process: one handler run through the test kit, its log lines,
 * entity writes and status printed; exit 0 on SUCCESS, 1 on FAILURE, 2 with one line naming the fix when
 * it cannot run.
 */
const repo = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "portside-invoke-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = "cli-Wr6pQz3nVk8tHs2j";

async function cli(args: string[], env: Record<string, string> = {}, command = [process.execPath, "src/entry/cli.ts"]) {
  const child = Bun.spawn([...command, ...args], {
    cwd: repo,
    env: { PATH: `${repo}node_modules/.bin:${process.env.PATH ?? ""}`, HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const lines = (stdout + stderr).split("\n").filter((line) => line !== "");
  return { code: await child.exited, stdout, lines };
}

describe("cli invoke", () => {
  test("the example deploy: its log lines, the deployment entity, SUCCESS with summary and link; exit 0", async () => {
    const { code, lines } = await cli(["invoke", "deploy", "--inputs", '{"version":"1.2.3"}', "--entity", "checkout", "--user", "lee@example.com"]);
    expect(code).toBe(0);
    const runId = /^deploy: run (r_[0-9a-f]+) \(local Port emulator; nothing was sent to Port\)$/.exec(lines[0] ?? "")?.[1];
    expect(runId).toBeDefined();
    expect(lines.slice(1)).toEqual([
      "  log     Deploying checkout 1.2.3 to staging",
      "  log     Deployment of checkout 1.2.3 finished",
      '  entity  upserted deployment/checkout-1-2-3-staging {"properties":{"version":"1.2.3","environment":"staging","triggeredBy":"lee@example.com"},"relations":{"microservice":"checkout"}}',
      "SUCCESS: Deployed checkout 1.2.3 to staging",
      `  link    https://ci.example.com/deployments/${runId}`,
    ]);
  }, 30_000);

  test("a throwing handler: FAILURE with its message, exit 1", async () => {
    const file = join(dir, "throwing.ts");
    writeFileSync(file, 'export default { runs: { boom: async () => { throw new Error("the disk is full"); } } };\n');
    const { code, lines } = await cli(["invoke", "boom", "--handlers", file]);
    expect(code).toBe(1);
    expect(lines.slice(1)).toEqual(['FAILURE: Handler for "boom" failed: the disk is full']);
  }, 30_000);

  test("inputs that do not match the action's definition (create_vm without its required inputs): FAILURE naming them, exit 1", async () => {
    const { code, lines } = await cli(["invoke", "create_vm"]);
    expect(code).toBe(1);
    expect(lines.slice(1)).toEqual([
      'FAILURE: The inputs of "create_vm" do not match its definition in Port (the handler module\'s actions): inputs.cpu: required, but missing; inputs.memory: required, but missing; inputs.region: required, but missing',
    ]);
  }, 30_000);

  test("--inputs from a file and inline, merged; --json prints the result object", async () => {
    const file = join(dir, "vm.json");
    writeFileSync(file, JSON.stringify({ cpu: 2, memory: 4, region: "us-east-1" }));
    const { code, stdout } = await cli(["invoke", "create_vm", "--inputs", `@${file}`, "--inputs", '{"region":"eu-west-1"}', "--json"]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { status: string; runId: string; externalRunId: string; logs: string[]; entities: unknown[] };
    const vm = `vm-${result.runId.slice(2)}`;
    expect(result).toMatchObject({
      status: "SUCCESS",
      externalRunId: vm,
      logs: ["Creating a 2 vCPU / 4 GiB VM in eu-west-1"],
      entities: [{ blueprint: "vm", identifier: vm, properties: { cpu_cores: 2, memory_size: 4, region: "eu-west-1" } }],
    });
  }, 30_000);

  test("HANDLERS names the module when --handlers does not; --secret: the handler gets the clear value, the output never shows it", async () => {
    const module = join(dir, "login-handlers.ts");
    writeFileSync(
      module,
      `export default { runs: { login: async (run) => { await run.log(JSON.stringify(run.inputs)); return { summary: run.inputs.token === ${JSON.stringify(SECRET)} ? "clear value seen" : "not seen" }; } } };\n`,
    );
    const args = ["invoke", "login", "--inputs", JSON.stringify({ token: SECRET, user: "lee" }), "--secret", "token"];
    const [readable, json] = await Promise.all([cli(args, { HANDLERS: module }), cli([...args, "--json"], { HANDLERS: module })]);
    expect(readable.code).toBe(0);
    expect(readable.lines.slice(1)).toEqual(['  log     {"token":"[secret input token]","user":"lee"}', "SUCCESS: clear value seen"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: "SUCCESS", logs: ['{"token":"[secret input token]","user":"lee"}'] });
    expect(readable.stdout + json.stdout).not.toContain(SECRET);
  }, 30_000);

  test("what it cannot run: one line naming the fix, exit 2", async () => {
    const cases: [string[], string][] = [
      [
        ["invoke", "deploy", "--inputs", '{"version":'],
        `--inputs is not valid JSON (JSON Parse error: Unexpected EOF); give an object, e.g. --inputs '{"version":"1.2.3"}'`,
      ],
      [["invoke", "deploy", "--inputs", "[1,2]"], `--inputs must be a JSON object of the inputs, e.g. --inputs '{"version":"1.2.3"}'`],
      [["invoke", "deploy", "--inputs", "@no/such/inputs.json"], "--inputs @no/such/inputs.json: no such file; give the path of a JSON file after @"],
      [
        ["invoke", "deploy", "--handlers", "no/such/handlers.ts"],
        "--handlers: no file at no/such/handlers.ts; give the path of your handler module with --handlers (or set HANDLERS)",
      ],
      [
        ["invoke", "deplyo"],
        `no handler for action "deplyo" in src/examples/handlers.ts (it has "deploy", "check_health", "create_vm"); add runs["deplyo"] or invoke one of those`,
      ],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    expect(results.map((r) => [r.code, r.lines])).toEqual(cases.map(([, line]) => [2, [line]]));
  }, 30_000);

  test("through the package script: npm run cli -- invoke", async () => {
    const { code, lines } = await cli(["run", "-s", "cli", "--", "invoke", "check_health", "--entity", "checkout"], {}, ["npm"]);
    expect(code).toBe(0);
    expect(lines.slice(1)).toEqual(["  log     Checking checkout", "SUCCESS: checkout is healthy"]);
  }, 30_000);
});
