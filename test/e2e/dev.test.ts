import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { freePort } from "../support/net.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";

/**
 * `portside dev` and `portside trigger` as a developer runs them, each a real process: dev in a directory of
 * its own with a copy of a handler module; runs sent with trigger end as the module says; a new version saved
 * is loaded again without a restart (the run in flight finishes on the old code, the next run takes the new);
 * a version that does not compile leaves the old one in place and says where it broke. On a terminal (a
 * pseudo-terminal from Bun.spawn's `terminal` option) the log reads as lines for people and carries each
 * run's log lines; piped, it is JSON.
 */
const repo = new URL("../..", import.meta.url).pathname;
const cli = `${repo}src/entry/cli.ts`;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const version = (name: string) => `export default {
  runs: {
    greet: async (run) => {
      await run.log(\`hello \${run.inputs.name ?? "you"} from ${name}\`);
      if (run.inputs.slow) await new Promise((resolve) => setTimeout(resolve, 2_000));
      return { summary: "${name}" };
    },
    boom: async () => {
      throw new Error("the disk is full");
    },
  },
};
`;

interface Dev {
  url: string;
  dir: string;
  output(): string;
  /** Resolves once the output matches `pattern` `times` times (or throws with the output). */
  waitFor(pattern: RegExp, times?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<number>;
}

let running: Dev | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** `portside dev --handlers handlers.ts` in a new directory holding version A; piped, or on a pseudo-terminal. */
async function startDev(options: { terminal?: boolean; env?: Record<string, string> } = {}): Promise<Dev> {
  const dir = mkdtempSync(join(tmpdir(), "portside-dev-"));
  dirs.push(dir);
  writeFileSync(join(dir, "handlers.ts"), version("A"));
  const port = await freePort();
  let output = "";
  const decoder = new TextDecoder();
  const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: String(port), ...options.env };
  const proc = options.terminal
    ? Bun.spawn([process.execPath, cli, "dev", "--handlers", "handlers.ts"], {
        cwd: dir,
        env,
        terminal: {
          cols: 240,
          rows: 60,
          data: (_terminal, data) => {
            output += decoder.decode(data, { stream: true });
          },
        },
      })
    : Bun.spawn([process.execPath, cli, "dev", "--handlers", "handlers.ts"], { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
  if (!options.terminal)
    for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[])
      void (async () => {
        const reader = stream.getReader();
        const streamDecoder = new TextDecoder();
        for (let r = await reader.read(); !r.done; r = await reader.read()) output += streamDecoder.decode(r.value, { stream: true });
      })();
  const dev: Dev = {
    url: `http://127.0.0.1:${port}`,
    dir,
    output: () => output,
    async waitFor(pattern, times = 1, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      const count = () => output.match(new RegExp(pattern.source, `${pattern.flags.replace("g", "")}g`))?.length ?? 0;
      while (count() < times) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`no ${pattern} (×${times}) in portside dev's output:\n${output}`);
        await Bun.sleep(25);
      }
    },
    async stop() {
      proc.kill("SIGTERM");
      const code = await proc.exited;
      if (options.terminal) proc.terminal?.close();
      return code;
    },
  };
  running = dev;
  await dev.waitFor(options.terminal && options.env?.LOG_FORMAT !== "json" ? /portside dev/ : /"event":"dev\.ready"/);
  return dev;
}

/** `portside trigger …` as a process: its exit code and its lines. */
async function trigger(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([process.execPath, cli, "trigger", ...args], {
    cwd: repo,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, lines: stdout.split("\n").filter(Boolean), stderr };
}

/** The run id trigger's first line names, checked against the line it must be. */
function sentLine(lines: string[], action: string, url: string): string {
  const runId = /^\S+: run (r_[0-9a-f]{16}) sent to /.exec(lines[0] ?? "")?.[1] ?? "";
  expect(lines[0]).toBe(`${action}: run ${runId} sent to ${url} (organisation org_portside_dev; Port is the local emulator)`);
  return runId;
}

describe("portside dev", () => {
  test("runs end as the module says; a saved version is loaded again without a restart, a broken one is refused; JSON lines when piped", async () => {
    const dev = await startDev();

    // Version A.
    const first = await trigger(["greet", "--inputs", '{"name":"Lee"}', "--url", dev.url]);
    const firstId = sentLine(first.lines, "greet", dev.url);
    expect(first).toEqual({
      code: 0,
      lines: [first.lines[0] as string, "  log     hello Lee from A", "SUCCESS: A", `  console ${dev.url}/console/runs/${firstId}`],
      stderr: "",
    });

    // A run in flight on version A while version B is saved: it finishes on A, the next run takes B.
    const slow = trigger(["greet", "--inputs", '{"slow":true}', "--url", dev.url]);
    await dev.waitFor(/"event":"run\.started"/, 2);
    writeFileSync(join(dev.dir, "handlers.ts"), version("B"));
    await dev.waitFor(/"event":"dev\.reloaded"/);
    const next = await trigger(["greet", "--url", dev.url]);
    expect(next.code).toBe(0);
    expect(next.lines.slice(1, 3)).toEqual(["  log     hello you from B", "SUCCESS: B"]);
    const inFlight = await slow;
    expect(inFlight.code).toBe(0);
    expect(inFlight.lines.slice(1, 3)).toEqual(["  log     hello you from A", "SUCCESS: A"]);

    // A version that does not compile: an error line naming the file, line and column; B stays.
    writeFileSync(join(dev.dir, "handlers.ts"), 'export default { runs: { greet: async () => ({ summary: "C" ;; }) } };\n');
    await dev.waitFor(/"event":"dev\.reload_failed"/);
    const failed = JSON.parse(
      dev
        .output()
        .split("\n")
        .find((line) => line.includes('"event":"dev.reload_failed"')) ?? "{}",
    ) as Record<string, string>;
    expect(failed).toMatchObject({ level: "error", handlers: "handlers.ts" });
    expect(failed.error).toMatch(new RegExp(`^HANDLERS: ${join(dev.dir, "handlers.ts").replaceAll(".", "\\.")}:1:\\d+: `));
    const kept = await trigger(["greet", "--url", dev.url]);
    expect(kept.lines.slice(1, 3)).toEqual(["  log     hello you from B", "SUCCESS: B"]);

    // A handler that throws: FAILURE, exit 1.
    const boom = await trigger(["boom", "--url", dev.url]);
    const boomId = sentLine(boom.lines, "boom", dev.url);
    expect(boom).toEqual({
      code: 1,
      lines: [boom.lines[0] as string, 'FAILURE: Handler for "boom" failed: the disk is full', `  console ${dev.url}/console/runs/${boomId}`],
      stderr: "",
    });

    // The same ledger all along (its own file under .portside), holding every run.
    const story = (await (await fetch(`${dev.url}/admin/runs/${firstId}`)).json()) as { phase: string; summary: string };
    expect(story).toMatchObject({ phase: "SUCCESS", summary: "A" });
    expect(existsSync(join(dev.dir, ".portside", "dev.sqlite"))).toBe(true);

    // Piped: JSON lines, each run's log lines among them.
    await dev.waitFor(/"event":"dev\.run_ended"/, 5);
    const lines = dev
      .output()
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.filter((l) => l.event === "dev.run_log" && l.runId === firstId).map((l) => l.message)).toEqual(["hello Lee from A"]);
    expect(lines.find((l) => l.event === "dev.run_ended" && l.runId === firstId)).toMatchObject({ action: "greet", status: "SUCCESS", summary: "A" });

    // A version with one more action: the console's form and GET /admin/local offer it at once, and a run of
    // it sent from the form ends as the new code says.
    writeFileSync(
      join(dev.dir, "handlers.ts"),
      version("D").replace("  runs: {\n", '  runs: {\n    wave: async (run) => ({ summary: "waved at " + run.entity?.identifier }),\n'),
    );
    await dev.waitFor(/"event":"dev\.reloaded"/, 2);
    expect(((await (await fetch(`${dev.url}/admin/local`)).json()) as { actions: string[] }).actions).toEqual(["wave", "greet", "boom"]);
    const form = await (await fetch(`${dev.url}/console/send`)).text();
    expect([...form.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1])).toEqual(["wave", "greet", "boom"]);
    const sent = await fetch(`${dev.url}/console/send`, {
      method: "POST",
      redirect: "manual",
      headers: { origin: dev.url, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ action: "wave", inputs: "{}", entity: "checkout" }).toString(),
    });
    expect(sent.status).toBe(303);
    const waveId = /^\/console\/runs\/(r_[0-9a-f]{16})$/.exec(sent.headers.get("location") ?? "")?.[1];
    expect(waveId).toBeDefined();
    expect(await (await fetch(`${dev.url}/admin/runs/${waveId}`)).json()).toMatchObject({
      action: "wave",
      source: "console",
      phase: "SUCCESS",
      summary: "waved at checkout",
    });
    expect(await dev.stop()).toBe(0);
  }, 90_000);

  test("on a terminal: lines for people, the run's log lines among them, and where the console is and how to trigger", async () => {
    const dev = await startDev({ terminal: true });
    const sent = await trigger(["greet", "--inputs", '{"name":"Lee"}', "--url", dev.url]);
    expect(sent.code).toBe(0);
    const runId = sentLine(sent.lines, "greet", dev.url);
    await dev.waitFor(new RegExp(`${runId}.*SUCCESS`));
    // ANSI colours and the terminal's carriage returns aside.
    const lines = Bun.stripANSI(dev.output()).replaceAll("\r", "").split("\n");
    expect(lines).toContain(`  console   ${dev.url}/console (runs, and a form to send one)`);
    expect(lines).toContain(`  trigger   npm run -s cli -- trigger greet --inputs '<JSON>' [--entity <id>] --url ${dev.url}`);
    const run = lines.filter((line) => line.includes(runId)).map((line) => line.replace(/^\d\d:\d\d:\d\d /, ""));
    expect(run.map((line) => line.replace(/ \(\d+ ms\)$/, ""))).toEqual([
      `greet ${runId}  received from sink/runs`,
      `greet ${runId}  log  hello Lee from A`,
      `greet ${runId}  SUCCESS  A`,
    ]);
    expect(lines.filter((line) => line.startsWith("{"))).toEqual([]);
    expect(await dev.stop()).toBe(0);
  }, 60_000);

  test("on a terminal with LOG_FORMAT=json: JSON lines, the run's log lines among them", async () => {
    const dev = await startDev({ terminal: true, env: { LOG_FORMAT: "json" } });
    const sent = await trigger(["greet", "--inputs", '{"name":"Kim"}', "--url", dev.url]);
    expect(sent.code).toBe(0);
    const runId = sentLine(sent.lines, "greet", dev.url);
    await dev.waitFor(new RegExp(`"event":"dev\\.run_ended".*"runId":"${runId}"`));
    const lines = dev.output().replaceAll("\r", "").split("\n").filter(Boolean);
    // Every line is one JSON object (no colours, nothing for people).
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.find((l) => l.event === "dev.ready")).toMatchObject({ level: "info", url: dev.url, actions: ["greet", "boom"] });
    expect(parsed.filter((l) => l.event === "dev.run_log" && l.runId === runId).map((l) => l.message)).toEqual(["hello Kim from A"]);
    expect(parsed.find((l) => l.event === "dev.run_ended" && l.runId === runId)).toMatchObject({ action: "greet", status: "SUCCESS", summary: "A" });
    expect(await dev.stop()).toBe(0);
  }, 60_000);
});

describe("portside trigger", () => {
  const emulator = createPortEmulator({});
  const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  let portside: PortsideProcess | undefined;
  afterAll(() => emulatorServer.stop(true));
  afterEach(async () => {
    await portside?.stop();
    portside = undefined;
  });

  test("refuses, exit 2, a portside that is not open, or one that reports to Port", async () => {
    portside = await startPortside(emulatorEnv(emulatorServer.port, "org_trigger", "trigger-sink-token-0123456789", { LEDGER: "memory" }));
    expect(await trigger(["deploy", "--url", portside.url])).toEqual({
      code: 2,
      lines: [
        `portside at ${portside.url} is not in open mode: trigger sends runs only to a local portside (\`npm run -s cli -- dev\`, or \`npm run -s cli -- start --open\` without Port credentials); in production, trigger the action in Port`,
      ],
      stderr: "",
    });
    await portside.stop();
    portside = await startPortside(
      emulatorEnv(emulatorServer.port, "org_trigger", "trigger-sink-token-0123456789", { LEDGER: "memory", PORTSIDE_OPEN: "true" }),
    );
    expect(await trigger(["deploy", "--url", portside.url])).toEqual({
      code: 2,
      lines: [
        `portside at ${portside.url} reports to Port (it has Port credentials), which would refuse the reports of a run it never issued; trigger the action in Port, or use \`npm run -s cli -- dev\``,
      ],
      stderr: "",
    });
  }, 60_000);

  test("builds Port's run message for the portside's organisation, posts it to /sink/runs with SINK_TOKEN, prints the run's story", async () => {
    // A stand-in portside that records what trigger sends and tells the story of the run it was sent.
    type Message = Record<string, unknown> & { context: { runId: string; entity: string | null }; trigger: { at: string } };
    const posted: { message: Message; authorization: string | null; contentType: string | null }[] = [];
    const stories = new Map<string, unknown>();
    const standIn = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/admin/local") return Response.json({ orgId: "org_stand_in", portEmulator: true, actions: ["deploy"] });
        if (path === "/sink/runs" && req.method === "POST") {
          const message = (await req.json()) as Message;
          posted.push({ message, authorization: req.headers.get("authorization"), contentType: req.headers.get("content-type") });
          const events = message.context.entity
            ? [
                { at: 1, what: "received", detail: "from sink/runs" },
                { at: 2, what: "log", detail: `Deploying ${message.context.entity}` },
                { at: 3, what: "entity", detail: "deployment/checkout-1-2-3" },
              ]
            : [];
          stories.set(message.context.runId, {
            runId: message.context.runId,
            action: "deploy",
            source: "sink/runs",
            requestId: null,
            phase: message.context.entity ? "SUCCESS" : "FAILURE",
            attempts: 1,
            receivedAt: 1,
            startedAt: 2,
            endedAt: 3,
            summary: message.context.entity ? "Deployed" : "no service to deploy",
            report: null,
            stack: null,
            events,
          });
          return Response.json({ accepted: 1, parked: 0, ignored: 0 });
        }
        const story = stories.get(path.replace("/admin/runs/", ""));
        return story ? Response.json(story) : Response.json({ error: "no_run" }, { status: 404 });
      },
    });
    const url = `http://127.0.0.1:${standIn.port}`;
    const dir = mkdtempSync(join(tmpdir(), "portside-trigger-"));
    dirs.push(dir);
    writeFileSync(join(dir, "more.json"), JSON.stringify({ environment: "production", replicas: 3 }));
    try {
      const day2 = await trigger(
        ["deploy", "--inputs", '{"version":"1.2.3"}', "--inputs", `@${join(dir, "more.json")}`, "--entity", "checkout", "--url", url],
        {
          SINK_TOKEN: "trigger-stand-in-sink-token",
        },
      );
      const runId = posted[0]?.message.context.runId ?? "";
      expect(runId).toMatch(/^r_[0-9a-f]{16}$/);
      expect(day2).toEqual({
        code: 0,
        lines: [
          `deploy: run ${runId} sent to ${url} (organisation org_stand_in; Port is the local emulator)`,
          "  log     Deploying checkout",
          "  entity  deployment/checkout-1-2-3",
          "SUCCESS: Deployed",
          `  console ${url}/console/runs/${runId}`,
        ],
        stderr: "",
      });
      expect(posted[0] as unknown).toEqual({
        authorization: "Bearer trigger-stand-in-sink-token",
        contentType: "application/json",
        message: {
          action: "deploy",
          resourceType: "run",
          status: "TRIGGERED",
          trigger: { by: { orgId: "org_stand_in", userId: null, user: { email: "developer@example.com" } }, origin: "UI", at: expect.any(String) },
          context: { entity: "checkout", blueprint: null, runId },
          payload: {
            entity: { identifier: "checkout", properties: {} },
            action: { invocationMethod: { type: "KAFKA" }, trigger: "DAY-2" },
            properties: { version: "1.2.3", environment: "production", replicas: 3 },
          },
        },
      });
      const at = posted[0]?.message.trigger.at ?? "";
      expect(Math.abs(Date.parse(at) - Date.now())).toBeLessThan(30_000);

      // No --entity: a CREATE; no SINK_TOKEN: no authorization. A FAILURE exits 1.
      const create = await trigger(["deploy", "--url", url]);
      const createId = posted[1]?.message.context.runId ?? "";
      expect(create).toEqual({
        code: 1,
        lines: [
          `deploy: run ${createId} sent to ${url} (organisation org_stand_in; Port is the local emulator)`,
          "FAILURE: no service to deploy",
          `  console ${url}/console/runs/${createId}`,
        ],
        stderr: "",
      });
      expect(posted[1]?.authorization).toBeNull();
      expect(posted[1]?.message).toMatchObject({
        context: { entity: null, runId: createId },
        payload: { entity: null, action: { trigger: "CREATE" }, properties: {} },
      });
      expect(createId).not.toBe(runId);
    } finally {
      standIn.stop(true);
    }
  }, 30_000);

  test("a run sent to a portside started open without ORG_ID runs the handler on the entity and prints its story", async () => {
    portside = await startPortside({ PORTSIDE_OPEN: "true", HANDLERS: "src/examples/handlers.ts", LEDGER: "memory" });
    const sent = await trigger(["deploy", "--inputs", '{"version":"1.2.3","environment":"production"}', "--entity", "checkout", "--url", portside.url]);
    const runId = sentLine(sent.lines, "deploy", portside.url);
    expect({ code: sent.code, stderr: sent.stderr, end: sent.lines.slice(-2) }).toEqual({
      code: 0,
      stderr: "",
      end: ["SUCCESS: Deployed checkout 1.2.3 to production", `  console ${portside.url}/console/runs/${runId}`],
    });
    // The log lines in the order the handler wrote them; the entity where its report fell among them.
    const told = sent.lines.slice(1, -2);
    expect(told.filter((line) => line.startsWith("  log "))).toEqual([
      "  log     Deploying checkout 1.2.3 to production",
      "  log     Deployment of checkout 1.2.3 finished",
    ]);
    expect(told.filter((line) => !line.startsWith("  log "))).toEqual(["  entity  deployment/checkout-1-2-3-production"]);
  }, 30_000);

  test("bad --inputs and nothing listening: one line, exit 2", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    // The parser's words, never the value it choked on.
    expect(await trigger(["deploy", "--inputs", '{"password": hunter2}', "--url", url])).toEqual({
      code: 2,
      lines: [`--inputs is not valid JSON (JSON Parse error: Unexpected identifier); give an object, e.g. --inputs '{"version":"1.2.3"}'`],
      stderr: "",
    });
    expect(await trigger(["deploy", "--url", url])).toEqual({
      code: 2,
      lines: [`cannot reach portside at ${url} (ECONNREFUSED); is it running, and is PORTSIDE_URL right?`],
      stderr: "",
    });
  }, 30_000);
});
