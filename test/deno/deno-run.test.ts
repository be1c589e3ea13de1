import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { keyOf, startEventBridgeServer } from "../support/eventbridge-server.ts";
import { ORG, runMessage, SINK_TOKEN } from "../support/harness.ts";
import { freePort, waitForHttp } from "../support/net.ts";
import { portWebhookBody, signWebhook } from "../support/port-webhook.ts";
import { getRedis } from "../support/redis.ts";

/**
 * `deno run src/entry/deno.ts` does what `npm start` does: portside on Deno 2 (from the `deno` npm package) as a
 * real process, over real sockets — the SQLite ledger on node:sqlite (durable across a restart), the Redis
 * ledger, a YAML routes file publishing to the PutEvents test server, open mode with the Port emulator,
 * and the same one-line configuration errors as on Bun.
 */
const repo = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "portside-deno-"));
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
const eventBridge = startEventBridgeServer();
const running = new Set<DenoPortside>();

afterAll(async () => {
  await Promise.all([...running].map((p) => p.stop()));
  emulatorServer.stop(true);
  eventBridge.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface DenoPortside {
  url: string;
  output: () => string;
  stop(): Promise<number>;
}

const baseEnv = () => ({
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "/tmp",
  DENO_NO_UPDATE_CHECK: "1",
  NO_COLOR: "1",
  HOST: "127.0.0.1",
});

/** Port's side for a production start: the emulator with its credentials. */
const portEnv = () => ({
  ORG_ID: ORG,
  SINK_TOKEN,
  PORT_API_URL: `http://127.0.0.1:${emulatorServer.port}`,
  PORT_CLIENT_ID: "emulator-client-id",
  PORT_CLIENT_SECRET: "emulator-client-secret",
});

const denoArgs = ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-write", "--allow-sys", "src/entry/deno.ts"];

async function startDeno(env: Record<string, string>, flags: string[] = []): Promise<DenoPortside> {
  const port = await freePort();
  const child = Bun.spawn([`${repo}node_modules/.bin/deno`, ...denoArgs, ...flags], {
    cwd: repo,
    env: { ...baseEnv(), PORT: String(port), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const chunks: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    void (async () => {
      const reader = stream.getReader();
      const decoder = new TextDecoder();
      for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(decoder.decode(r.value));
    })();
  }
  const portside: DenoPortside = {
    url: `http://127.0.0.1:${port}`,
    output: () => chunks.join(""),
    async stop() {
      running.delete(portside);
      child.kill("SIGTERM");
      return child.exited;
    },
  };
  running.add(portside);
  await waitForHttp(`${portside.url}/healthz`, 60_000).catch((error) => {
    throw new Error(`Deno did not start: ${error}\n${portside.output()}`);
  });
  return portside;
}

async function post(portside: DenoPortside, body: unknown, token: string | null = SINK_TOKEN) {
  const res = await fetch(`${portside.url}/sink/runs`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, reply: (await res.json()) as Record<string, unknown> };
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

describe("portside on Deno", () => {
  test("a run posted to portside on Deno, on the Redis ledger, completes at the Port emulator", async () => {
    const redis = await getRedis();
    const client = new Redis(`${redis.url}/15`);
    await client.flushdb();
    await client.quit();
    const portside = await startDeno({ ...portEnv(), HANDLERS: "test/deno/handlers.ts", LEDGER: `${redis.url}/15` });
    emulator.state.declareRun("r_deno");
    expect(await post(portside, runMessage("r_deno", "deploy"))).toMatchObject({ status: 200, reply: { accepted: 1 } });
    await until(() => emulator.state.terminalStatus("r_deno") !== undefined, "r_deno to end");
    expect(emulator.state.terminalStatus("r_deno")).toBe("SUCCESS");
    expect(emulator.state.runs.get("r_deno")?.summary).toBe("ran on deno");
    expect(emulator.state.logsFor("r_deno").join("\n")).toContain("hello from deno");
    expect(portside.output()).toContain('"runtime":"deno","ledger":"redis"');
    expect(await portside.stop()).toBe(0);
  }, 90_000);

  test("Port's signed webhook on Deno: WEBHOOK_ALLOW reads Deno's remote address, the run is recorded (202) and completes", async () => {
    const portside = await startDeno({
      ...portEnv(),
      HANDLERS: "test/deno/handlers.ts",
      LEDGER: "memory",
      PORT_WEBHOOKS: "true",
      WEBHOOK_ALLOW: "127.0.0.1/32",
    });
    emulator.state.declareRun("r_deno_hook");
    const body = portWebhookBody("r_deno_hook");
    const res = await fetch(`${portside.url}/webhooks/port/deploy`, { method: "POST", body, headers: signWebhook(body) });
    expect([res.status, await res.json()]).toEqual([202, { status: "accepted", runId: "r_deno_hook" }]);
    await until(() => emulator.state.terminalStatus("r_deno_hook") !== undefined, "r_deno_hook to end");
    expect(emulator.state.runs.get("r_deno_hook")?.summary).toBe("ran on deno");
    const forged = await fetch(`${portside.url}/webhooks/port/deploy`, { method: "POST", body, headers: signWebhook(body, { secret: "not-it" }) });
    expect(forged.status).toBe(401);
    expect(await portside.stop()).toBe(0);
  }, 90_000);

  test("the SQLite ledger (node:sqlite) and a YAML routes file: a routed run is published to EventBridge; after a restart it is a duplicate", async () => {
    const ledger = join(dir, "state", "ledger.sqlite");
    const routes = join(dir, "routes.yaml");
    writeFileSync(routes, ["runs:", "  publish_vm:", "    detailType: port.run.publish_vm", "    bus: platform-events", ""].join("\n"));
    const env = {
      ...portEnv(),
      LEDGER: `sqlite:${ledger}`,
      ROUTES: routes,
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKIDPORTSIDETEST",
      AWS_SECRET_ACCESS_KEY: "portside-test-secret",
      EVENTBRIDGE_ENDPOINT: eventBridge.url,
      EVENTBRIDGE_PUT_EVENTS_PER_SECOND: "1000",
    };
    const first = await startDeno(env);
    emulator.state.declareRun("r_deno_routed");
    expect(await post(first, runMessage("r_deno_routed", "publish_vm"))).toMatchObject({ status: 200, reply: { accepted: 1 } });
    await until(() => emulator.state.terminalStatus("r_deno_routed") !== undefined, "the routed run to end");
    expect(emulator.state.terminalStatus("r_deno_routed")).toBe("SUCCESS");
    const published = eventBridge.published.filter((e) => keyOf(e) === "r_deno_routed");
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ DetailType: "port.run.publish_vm", EventBusName: "platform-events" });
    expect(first.output()).toContain('"runtime":"deno","ledger":"sqlite"');
    expect(await first.stop()).toBe(0);
    expect(existsSync(ledger)).toBe(true);

    // The ledger is on disk: the same run again, after a restart, is recognised and not published twice.
    const second = await startDeno(env);
    expect(await post(second, runMessage("r_deno_routed", "publish_vm"))).toMatchObject({ status: 200, reply: { accepted: 0, duplicate: 1 } });
    await Bun.sleep(300);
    expect(eventBridge.published.filter((e) => keyOf(e) === "r_deno_routed")).toHaveLength(1);
    expect(await second.stop()).toBe(0);
  }, 120_000);

  test("open mode: no token and no Port credentials; runs are reported to the in-process Port emulator", async () => {
    const portside = await startDeno({ ORG_ID: ORG, HANDLERS: "test/deno/handlers.ts", LEDGER: "memory" }, ["--open"]);
    expect(await post(portside, runMessage("r_deno_open", "deploy"), null)).toMatchObject({ status: 200, reply: { accepted: 1 } });
    const emulatorUrl = /"event":"portside\.port_emulator","url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(portside.output())?.[1];
    expect(emulatorUrl).toBeDefined();
    let run: { status?: string; summary?: string } | undefined;
    await until(async () => {
      const { runs } = (await (await fetch(`${emulatorUrl}/emulator/runs`)).json()) as { runs: { id: string; status: string; summary?: string }[] };
      run = runs.find((r) => r.id === "r_deno_open");
      return run?.status === "SUCCESS";
    }, "the run to reach SUCCESS at the emulator");
    expect(run?.summary).toBe("ran on deno");
    expect(portside.output()).toContain("Started OPEN for local use");
    expect(await portside.stop()).toBe(0);
  }, 90_000);

  test("configuration errors are the same one line and exit code 2 as on Bun", async () => {
    const cases: Record<string, string>[] = [
      { ORG_ID: ORG },
      { ...portEnv(), LEDGER: "postgres://nowhere" },
      { ...portEnv(), KAFKA_BROKERS: "kafka:9092", KAFKA_GROUP_ID: "someone-else" },
    ];
    for (const env of cases) {
      const run = async (command: string[]) => {
        const child = Bun.spawn(command, { cwd: repo, env: { ...baseEnv(), PORT: "0", ...env }, stdout: "pipe", stderr: "pipe" });
        const stderr = await new Response(child.stderr).text();
        const line = stderr.split("\n").find((l) => l.includes("portside.cannot_start"));
        return { code: await child.exited, message: line ? (JSON.parse(line) as { message: string }).message : stderr };
      };
      const [onDeno, onBun] = await Promise.all([run([`${repo}node_modules/.bin/deno`, ...denoArgs]), run(["bun", "src/entry/main.ts"])]);
      expect(onDeno.code).toBe(2);
      expect(onDeno).toEqual(onBun);
      expect(onDeno.message).toMatch(/^portside cannot start: (SINK_TOKEN|LEDGER|KAFKA_GROUP_ID): /);
    }
  }, 90_000);

  test("a handler module that does not load names its file, line and column, in Deno's words", async () => {
    const files: Record<string, string> = {
      "syntax.ts": "export default {\n  runs: {\n    deploy: async () => {\n      const x = { a: : 1 };\n      return x;\n    },\n  },\n};\n",
      "throws.ts": 'const region = "eu";\n\nthrow new Error("no settings for " + region);\nexport default { runs: {} };\n',
      "missing.ts": 'import { deploy } from "./nowhere.ts";\nexport default { runs: { deploy } };\n',
    };
    const expected: Record<string, string> = {
      "syntax.ts": ":4:22: SyntaxError: Expression expected",
      "throws.ts": ":3:7: no settings for eu",
      "missing.ts": `:1:24: Module not found "file://${dir}/nowhere.ts".`,
    };
    for (const [name, text] of Object.entries(files)) {
      const path = join(dir, name);
      writeFileSync(path, text);
      const child = Bun.spawn([`${repo}node_modules/.bin/deno`, ...denoArgs], {
        cwd: repo,
        env: { ...baseEnv(), PORT: "0", ...portEnv(), LEDGER: "memory", HANDLERS: path },
        stdout: "pipe",
        stderr: "pipe",
      });
      const stderr = await new Response(child.stderr).text();
      expect(await child.exited).toBe(2);
      const line = stderr.trim().split("\n").at(-1) ?? "";
      expect((JSON.parse(line) as { message: string }).message).toBe(`portside cannot start: HANDLERS: ${path}${expected[name]}`);
    }
  }, 90_000);
});
