import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/entry/cli.ts";
import { EMULATOR_CREDENTIALS } from "../../src/entry/demo.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { freePort } from "../support/net.ts";

/**
 * Every way start-up can fail ends as one line that names what to fix, exit code 2, no stack trace and no
 * secret; the start line says truthfully who may call /sink and /admin; the CLI answers --help and fails
 * in one line.
 */
const repo = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "portside-startup-"));
// The start asks Port for a token: a Port emulator that takes these credentials stands in for Port.
const port = createPortEmulator({ clientId: "id", clientSecret: "startup-client-secret" });
const portServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: port.app.fetch });
afterAll(() => {
  portServer.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const base = {
  ORG_ID: "org_startup",
  SINK_TOKEN: "startup-sink-token-0123456789",
  PORT_API_URL: `http://127.0.0.1:${portServer.port}`,
  PORT_CLIENT_ID: "id",
  PORT_CLIENT_SECRET: "startup-client-secret",
  HOST: "127.0.0.1",
  LEDGER: "memory",
};

/** Runs `bun src/entry/main.ts` until it exits (or `untilLine` appears, then stops it). */
async function start(env: Record<string, string>, untilLine?: RegExp): Promise<{ code: number | null; output: string }> {
  const proc = Bun.spawn([process.execPath, "src/entry/main.ts"], {
    cwd: repo,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: String(await freePort()), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const reader = stream.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      output += new TextDecoder().decode(r.value);
      if (untilLine?.test(output)) proc.kill("SIGTERM");
    }
  };
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  await Promise.all([read(proc.stdout), read(proc.stderr), proc.exited]);
  clearTimeout(timer);
  return { code: proc.exitCode, output };
}

/** Starts portside open, and asks its Port emulator (at the url of its start line) for the actions it serves. */
async function emulatorActions(env: Record<string, string>): Promise<{ file: string; identifiers: string[] }> {
  const proc = Bun.spawn([process.execPath, "src/entry/main.ts"], {
    cwd: repo,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: String(await freePort()), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  try {
    // Warnings (the emulator's line among them) go to stderr, by then written: it comes before the listening line.
    const reader = proc.stdout.getReader();
    let output = "";
    while (!output.includes("portside.listening")) {
      const r = await reader.read();
      if (r.done) throw new Error(`portside exited before listening:\n${output}`);
      output += new TextDecoder().decode(r.value);
    }
    const warnings = proc.stderr.getReader();
    let errors = "";
    while (!errors.includes("portside.port_emulator")) {
      const r = await warnings.read();
      if (r.done) throw new Error(`no portside.port_emulator line:\n${errors}`);
      errors += new TextDecoder().decode(r.value);
    }
    const line = JSON.parse(errors.split("\n").find((l) => l.includes("portside.port_emulator")) ?? "{}") as { url: string; actions: string };
    const token = (await (await fetch(`${line.url}/v1/auth/access_token`, { method: "POST", body: JSON.stringify(EMULATOR_CREDENTIALS) })).json()) as {
      accessToken: string;
    };
    const answer = await fetch(`${line.url}/v1/actions?version=v2`, { headers: { authorization: `Bearer ${token.accessToken}` } });
    const { actions } = (await answer.json()) as { actions: { identifier: string }[] };
    return { file: line.actions, identifiers: actions.map((a) => a.identifier) };
  } finally {
    clearTimeout(timer);
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

/** One JSON line, exit 2, the message containing `expected`, no stack frames, none of `secrets`. */
function expectOneLineFailure(result: { code: number | null; output: string }, expected: string, secrets: string[] = []) {
  expect(result.code).toBe(2);
  const lines = result.output.trim().split("\n");
  const last = JSON.parse(lines.at(-1) ?? "{}") as { event?: string; message?: string };
  expect(last.event).toBe("portside.cannot_start");
  expect(last.message).toContain(expected);
  expect(result.output).not.toMatch(/\n\s+at /);
  expect(result.output).not.toContain("Unhandled error event");
  for (const secret of secrets) expect(result.output).not.toContain(secret);
}

/** Exit code 2 and, as the last line, exactly `message`; nothing of `hidden` anywhere. */
function expectExactFailure(result: { code: number | null; output: string }, message: string, hidden: string[] = []) {
  expectOneLineFailure(result, message, hidden);
  const last = JSON.parse(result.output.trim().split("\n").at(-1) ?? "{}") as { message?: string };
  expect(last.message).toBe(message);
}

describe("start-up failures", () => {
  test("a malformed Redis URL: one line, the password redacted", async () => {
    expectOneLineFailure(await start({ ...base, LEDGER: "redis://user:PASSWORD-123@" }), "LEDGER:", ["PASSWORD-123"]);
  });

  test("Redis unreachable at start: one line naming LEDGER", async () => {
    const port = await freePort();
    expectOneLineFailure(await start({ ...base, LEDGER: `redis://:PASSWORD-456@127.0.0.1:${port}` }), "the Redis ledger at redis://[redacted]@127.0.0.1", [
      "PASSWORD-456",
    ]);
  });

  test("the listen port in use: one line naming PORT", async () => {
    const port = await freePort();
    const holder = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response("busy") });
    try {
      expectOneLineFailure(await start({ ...base, PORT: String(port) }), `PORT: 127.0.0.1:${port} is already in use`);
    } finally {
      holder.stop(true);
    }
  });

  test("a handler module with a syntax error: the compiler's message with file:line", async () => {
    const path = join(dir, "broken-handlers.ts");
    writeFileSync(path, 'export default {\n  runs: {\n    deploy: async () => { return { summary: "x" ;; } },\n  },\n};\n');
    expectOneLineFailure(await start({ ...base, HANDLERS: path }), `${path}:3:`);
  });

  describe("a handler module that does not load: HANDLERS: <file>:<line>:<column>: <what the runtime said>", () => {
    test("one syntax error (Bun's lone BuildMessage, no AggregateError around it)", async () => {
      const path = join(dir, "one-syntax-error.ts");
      writeFileSync(path, "export default {\n  runs: {\n    deploy: async () => {\n      const x = { a: : 1 };\n      return x;\n    },\n  },\n};\n");
      expectExactFailure(await start({ ...base, HANDLERS: path }), `portside cannot start: HANDLERS: ${path}:4:22: Unexpected :`);
    });

    test("a throw at the module's top level, and one in a module it imports", async () => {
      const path = join(dir, "throws-at-import.ts");
      writeFileSync(path, 'const region = "eu";\n\nthrow new Error("no settings for " + region);\nexport default { runs: {} };\n');
      expectExactFailure(await start({ ...base, HANDLERS: path }), `portside cannot start: HANDLERS: ${path}:3:11: no settings for eu`);

      const helper = join(dir, "settings.ts");
      writeFileSync(helper, 'export function settings(): string {\n  throw new TypeError("SETTINGS_FILE is not set");\n}\n');
      const importer = join(dir, "imports-a-throw.ts");
      writeFileSync(
        importer,
        'import { settings } from "./settings.ts";\n\nconst s = settings();\nexport default { runs: { deploy: () => ({ summary: s }) } };\n',
      );
      expectExactFailure(await start({ ...base, HANDLERS: importer }), `portside cannot start: HANDLERS: ${helper}:2:13: SETTINGS_FILE is not set`);
    });

    test("a missing import: a module that is not there, and a name a module does not export", async () => {
      const path = join(dir, "imports-nothing.ts");
      writeFileSync(path, 'import { deploy } from "./nowhere.ts";\nexport default { runs: { deploy } };\n');
      expectExactFailure(
        await start({ ...base, HANDLERS: path }),
        `portside cannot start: HANDLERS: ${path}:1:24: Cannot find module './nowhere.ts' imported from ${path}`,
      );

      const helper = join(dir, "helpers.ts");
      writeFileSync(helper, "export const deployed = 1;\n");
      const importer = join(dir, "imports-a-missing-name.ts");
      writeFileSync(
        importer,
        '// the handlers\nimport { deployed, undeploy } from "./helpers.ts";\nexport default { runs: { deploy: () => ({ summary: String(deployed) }), undeploy } };\n',
      );
      expectExactFailure(
        await start({ ...base, HANDLERS: importer }),
        `portside cannot start: HANDLERS: ${importer}:2:20: Export named 'undeploy' not found in module '${helper}'.`,
      );
    });
  });

  test("a routes file that is not valid: one line naming the file and the path in it", async () => {
    const path = join(dir, "routes.json");
    writeFileSync(path, JSON.stringify({ runs: { create_vm: { status: "eventually" } } }));
    expectOneLineFailure(await start({ ...base, ROUTES: path }), `${path}: $.runs.create_vm.status`);
  });

  test("a routes file and no AWS region: one line naming AWS_REGION (not a failure at the first routed run); with a region, or a profile's, it starts", async () => {
    const path = join(dir, "good-routes.json");
    writeFileSync(path, JSON.stringify({ runs: { create_vm: { bus: "platform-events" } } }));
    // No AWS profile either: a HOME without ~/.aws.
    const home = join(dir, "home-without-aws");
    mkdirSync(home, { recursive: true });
    expectExactFailure(
      await start({ ...base, ROUTES: path, HOME: home, AWS_DEFAULT_REGION: "eu-west-1" }),
      "portside cannot start: AWS_REGION: is not set (nor in an AWS profile), and ROUTES sends runs and changes to EventBridge; set it to the bus's region. AWS region for EventBridge, e.g. eu-west-1 (default: the AWS SDK's own lookup); credentials come from the SDK's default provider chain.",
    );
    expect((await start({ ...base, ROUTES: path, HOME: home, AWS_REGION: "eu-west-1" }, /portside\.listening/)).output).toContain("portside.listening");
    const profiled = join(dir, "home-with-aws-profile");
    mkdirSync(join(profiled, ".aws"), { recursive: true });
    writeFileSync(join(profiled, ".aws", "config"), "[default]\nregion = eu-central-1\n");
    expect((await start({ ...base, ROUTES: path, HOME: profiled }, /portside\.listening/)).output).toContain("portside.listening");
  }, 30_000);

  test("a handler module whose top-level await never settles: one line naming the module, after HANDLERS_IMPORT_TIMEOUT_MS", async () => {
    const path = join(dir, "hanging-handlers.ts");
    writeFileSync(path, "setInterval(() => {}, 1_000);\nawait new Promise(() => {});\nexport default { runs: {} };\n");
    const started = Date.now();
    const result = await start({ ...base, HANDLERS: path, HANDLERS_IMPORT_TIMEOUT_MS: "500" });
    expect(Date.now() - started).toBeLessThan(15_000);
    expectExactFailure(
      result,
      `portside cannot start: HANDLERS: importing ${path} did not finish within 500 ms (a top-level await that never settles?); fix the module, or raise HANDLERS_IMPORT_TIMEOUT_MS if it needs longer to start`,
    );
  });

  describe("URLs portside calls: http(s) only, and plain http only to this machine unless PORTSIDE_ALLOW_HTTP=true", () => {
    const portApi =
      "PORT_API_URL: must be an https:// URL (http:// only to a loopback host such as 127.0.0.1, or with PORTSIDE_ALLOW_HTTP=true). Port API base URL: https://api.port.io (EU, the default), https://api.us.port.io (US); the older https://api.getport.io and https://api.us.getport.io work too.";
    const endpoint =
      "EVENTBRIDGE_ENDPOINT: must be an https:// URL (http:// only to a loopback host such as 127.0.0.1, or with PORTSIDE_ALLOW_HTTP=true). EventBridge endpoint URL for local work, e.g. http://127.0.0.1:4566 (the SDK also reads AWS_ENDPOINT_URL_EVENTBRIDGE).";
    for (const [variable, value, line] of [
      ["PORT_API_URL", "javascript:alert(document.cookie)", portApi],
      ["PORT_API_URL", "file:///etc/passwd", portApi],
      ["PORT_API_URL", "http://port-api.internal.example", portApi],
      ["PORT_API_URL", "not a url at all", portApi],
      ["EVENTBRIDGE_ENDPOINT", "ftp://events.example.com/", endpoint],
      ["EVENTBRIDGE_ENDPOINT", "http://localstack.internal:4566", endpoint],
    ] as const) {
      test(`${variable}=${value}: refused in one line that never shows the value`, async () => {
        const result = await start({ ...base, [variable]: value });
        expectExactFailure(result, `portside cannot start: ${line}`, [value]);
      });
    }

    test("http:// to a loopback host starts; to another host with PORTSIDE_ALLOW_HTTP=true it starts too", async () => {
      const envs: Record<string, string>[] = [
        { PORT_API_URL: "http://127.0.0.1:5050", EVENTBRIDGE_ENDPOINT: "http://localhost:4566" },
        { PORT_API_URL: "http://[::1]:5050" },
        { PORT_API_URL: "http://port-emulator:5050", EVENTBRIDGE_ENDPOINT: "http://localstack:4566", PORTSIDE_ALLOW_HTTP: "true" },
      ];
      for (const env of envs) {
        const { output } = await start({ ...base, ...env }, /portside\.listening/);
        expect(output).toContain("portside.listening");
      }
    });
  });

  test("a bad setting: one line naming the variable", async () => {
    expectOneLineFailure(await start({ ...base, CONCURRENCY: "many" }), "CONCURRENCY: must be a whole number");
  });

  test("three bad settings: three lines in one start, each naming the variable and the fix, none the value; exit 2", async () => {
    const { ORG_ID: _, ...withoutOrg } = base;
    const result = await start({ ...withoutOrg, CONCURRENCY: "many-hunter2", ACK_MODE: "later-hunter2" });
    expect(result.code).toBe(2);
    const lines = result.output
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { level: string; event: string; message: string });
    expect(lines.map((line) => [line.level, line.event])).toEqual(Array(3).fill(["error", "portside.cannot_start"]));
    expect(lines.map((line) => line.message)).toEqual([
      "portside cannot start: ORG_ID: is not set. your Port organisation id (org_…); records of any other organisation are parked (open mode without Port credentials, `portside dev` among them, defaults to org_portside_dev).",
      "portside cannot start: CONCURRENCY: must be a whole number. how many handlers run at once (default 16); work waiting on EventBridge takes no slot.",
      "portside cannot start: ACK_MODE: must be durable or sync. `durable` (default: ack once recorded) or `sync` (ack once the handlers finished).",
    ]);
    expect(result.output).not.toContain("hunter2");
  });

  test("open mode's PORT_EMULATOR_ACTIONS naming a file of definitions the emulator cannot take: one line naming the file, the action and the field", async () => {
    const path = join(dir, "bad-actions.json");
    writeFileSync(path, JSON.stringify([{ identifier: "deploy", trigger: { type: "self-service", operation: "SOON" }, invocationMethod: { type: "KAFKA" } }]));
    const { PORT_CLIENT_ID: _id, PORT_CLIENT_SECRET: _secret, ...open } = base;
    expectExactFailure(
      await start({ ...open, PORTSIDE_OPEN: "true", PORT_EMULATOR_ACTIONS: path }),
      `portside cannot start: PORT_EMULATOR_ACTIONS: ${path}: action "deploy": trigger.operation: expected one of "CREATE", "DAY-2", "DELETE", got a string; fix the file, or unset PORT_EMULATOR_ACTIONS for the example actions`,
    );
  });
});

describe("the start line", () => {
  test("open mode with a SINK_TOKEN says the sink still requires it", async () => {
    const { output } = await start({ ...base, PORTSIDE_OPEN: "true" }, /portside\.listening/);
    const line = output.split("\n").find((l) => l.includes("portside.open_mode")) ?? "";
    expect(line).toContain("/sink requires SINK_TOKEN");
    expect(line).toContain("/admin accepts requests without a token");
  });

  test("open mode without Port credentials: the emulator serves the action definitions of PORT_EMULATOR_ACTIONS, else the example actions", async () => {
    const { PORT_CLIENT_ID: _id, PORT_CLIENT_SECRET: _secret, ...open } = base;
    const path = join(dir, "one-action.json");
    writeFileSync(
      path,
      JSON.stringify({
        ok: true,
        actions: [{ identifier: "only", trigger: { type: "self-service", operation: "CREATE" }, invocationMethod: { type: "KAFKA" } }],
      }),
    );
    expect(await emulatorActions({ ...open, PORTSIDE_OPEN: "true", PORT_EMULATOR_ACTIONS: path })).toEqual({ file: path, identifiers: ["only"] });
    expect(await emulatorActions({ ...open, PORTSIDE_OPEN: "true" })).toEqual({
      file: `${repo}src/examples/port-actions.json`,
      identifiers: ["check_health", "create_vm", "deploy", "restart_service"],
    });
  }, 30_000);

  test("open mode without ORG_ID or Port credentials starts, for organisation org_portside_dev; with credentials ORG_ID is required", async () => {
    const port = await freePort();
    const { code, output } = await start({ PORTSIDE_OPEN: "true", LEDGER: "memory", PORT: String(port) }, /portside\.listening/);
    expect(code).toBe(0);
    expect(output).not.toContain("cannot_start");
    const { t: _t, ...listening } = JSON.parse(output.split("\n").find((l) => l.includes('"portside.listening"')) ?? "{}") as Record<string, unknown>;
    expect(listening).toEqual({
      level: "info",
      event: "portside.listening",
      url: `http://127.0.0.1:${port}`,
      org: "org_portside_dev",
      runtime: "bun",
      ledger: "memory",
      handlers: "no handler module (set HANDLERS)",
      actions: [],
      ackMode: "durable",
      unhandledRuns: "ignore",
    });
    const { ORG_ID: _org, ...withoutOrg } = base;
    const refused = await start({ ...withoutOrg, PORTSIDE_OPEN: "true", LEDGER: "memory" });
    expect(refused.code).toBe(2);
    expect(
      refused.output
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { message: string }).message),
    ).toEqual([
      "portside cannot start: ORG_ID: is not set. your Port organisation id (org_…); records of any other organisation are parked (open mode without Port credentials, `portside dev` among them, defaults to org_portside_dev).",
    ]);
  });

  test("production says /admin is off without ADMIN_TOKEN, and on with it", async () => {
    const off = await start(base, /portside\.listening/);
    expect(off.output).toContain("/admin is off (set ADMIN_TOKEN to use it)");
    const on = await start({ ...base, ADMIN_TOKEN: "startup-admin-token-0123456789" }, /portside\.listening/);
    expect(on.output).toContain("/admin requires ADMIN_TOKEN");
  });
});

describe("the soft memory limit", () => {
  test("bun src/entry/main.ts applies MEMORY_LIMIT_MB: a limit below what the process needs is collected for, then reported", async () => {
    const { code, output } = await start({ ...base, MEMORY_LIMIT_MB: "1" }, /memory\.over_limit/);
    const line = JSON.parse(output.split("\n").find((l) => l.includes("memory.over_limit")) ?? "{}") as Record<string, unknown>;
    expect(line).toMatchObject({ level: "warn", limitMb: 1 });
    expect(Number(line.residentMb)).toBeGreaterThan(1);
    expect(code).toBe(0); // stopped by SIGTERM as usual
  });

  test("a limit that is not a whole number of MB is refused in one line", async () => {
    expectOneLineFailure(await start({ ...base, MEMORY_LIMIT_MB: "lots" }), "MEMORY_LIMIT_MB: must be a whole number");
  });
});

/** `bun src/entry/<entry> …args` as a process in `cwd`: its exit code and what it wrote where. */
async function command(entry: "cli.ts" | "main.ts", args: string[], cwd: string, env: Record<string, string> = {}) {
  const proc = Bun.spawn([process.execPath, `${repo}src/entry/${entry}`, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  return { code: await proc.exited, stdout, stderr };
}

describe("the portside program", () => {
  const version = (JSON.parse(readFileSync(`${repo}package.json`, "utf8")) as { version: string }).version;

  test("--help, --version and start --help print and exit 0, starting nothing and opening no ledger", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "portside-help-"));
    // The port it would listen on is taken: a start would end "PORT … in use", exit 2, and the taker would see
    // nothing; a dev would also write its ledger under ./.portside.
    let knocked = 0;
    const taker = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => {
        knocked++;
        return new Response("taken");
      },
    });
    try {
      // A configuration that would start (open, the default SQLite ledger under ./.portside) if anything did.
      const env = { PORTSIDE_OPEN: "true", HOST: "127.0.0.1", PORT: String(taker.port) };
      for (const [entry, args, printed] of [
        ["cli.ts", ["--help"], "Usage: portside [options] [command]"],
        ["cli.ts", ["--version"], version],
        ["cli.ts", ["-V"], version],
        ["cli.ts", ["start", "--help"], "Usage: portside start [options]"],
        ["cli.ts", ["help", "start"], "Usage: portside start [options]"],
        ["cli.ts", ["dev", "--help"], "Usage: portside dev [options]"],
        ["cli.ts", ["trigger", "--help"], "Usage: portside trigger [options] <action>"],
        ["main.ts", ["--help"], "Usage: portside start [options]"],
      ] as const) {
        const result = await command(entry, [...args], cwd, env);
        expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: "" });
        expect(result.stdout.split("\n")[0]).toBe(printed);
        if (printed === version) expect(result.stdout).toBe(`${version}\n`);
      }
      expect(readdirSync(cwd)).toEqual([]);
      expect(knocked).toBe(0);
    } finally {
      taker.stop(true);
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 60_000);

  test("an unknown command or a misspelled flag: refused with a suggestion, exit 2, nothing started", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "portside-usage-"));
    try {
      const env = { PORTSIDE_OPEN: "true", PORT: "0" };
      for (const [entry, args, lines] of [
        ["cli.ts", ["strat"], ["error: unknown command 'strat'", "(Did you mean start?)"]],
        ["cli.ts", ["start", "--opne"], ["error: unknown option '--opne'", "(Did you mean --open?)"]],
        // `npm start -- --opne`
        ["main.ts", ["--opne"], ["error: unknown option '--opne'", "(Did you mean --open?)"]],
        ["cli.ts", ["invoke", "deploy", "--entiy", "checkout"], ["error: unknown option '--entiy'", "(Did you mean --entity?)"]],
        ["cli.ts", ["dev", "--handler", "handlers.ts"], ["error: unknown option '--handler'", "(Did you mean --handlers?)"]],
        ["cli.ts", ["trigger", "deploy", "--input", "{}"], ["error: unknown option '--input'", "(Did you mean --inputs?)"]],
        ["cli.ts", ["trigerr", "deploy"], ["error: unknown command 'trigerr'", "(Did you mean trigger?)"]],
      ] as const) {
        const result = await command(entry, [...args], cwd, env);
        expect({ args, code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({
          args,
          code: 2,
          stdout: "",
          stderr: `${lines.join("\n")}\n`,
        });
      }
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("the command line", () => {
  test("--help works for every command; an unknown command is a usage error", async () => {
    for (const argv of [
      ["--help"],
      ["dead-letters", "--help"],
      ["dead-letters", "list", "--help"],
      ["dead-letters", "replay", "--help"],
      ["stats", "--help"],
      ["actions", "pull", "--help"],
      ["actions", "check", "--help"],
    ]) {
      const lines: string[] = [];
      expect(await runCli(argv, {}, (l) => lines.push(l))).toBe(0);
      expect(lines.join("\n")).toContain("Usage:");
    }
    const lines: string[] = [];
    expect(await runCli(["dead-letterz"], {}, (l) => lines.push(l))).toBe(2);
    expect(lines.join("\n")).toContain("unknown command");
  });

  test("portside unreachable: one line saying where it looked, exit code 1", async () => {
    const lines: string[] = [];
    const port = await freePort();
    expect(await runCli(["stats"], { PORTSIDE_URL: `http://127.0.0.1:${port}`, ADMIN_TOKEN: "x".repeat(20) }, (l) => lines.push(l))).toBe(1);
    expect(lines).toEqual([`cannot reach portside at http://127.0.0.1:${port} (ECONNREFUSED); is it running, and is PORTSIDE_URL right?`]);
  });
});
