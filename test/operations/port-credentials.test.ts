import { afterEach, describe, expect, test } from "bun:test";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { ORG, runMessage } from "../support/harness.ts";
import { freePort } from "../support/net.ts";
import { emulatorEnv, type PortsideProcess, runPortsideToExit, startPortside } from "../support/portside-process.ts";

/**
 * The start asks Port for a token before it serves: credentials Port refuses stop it with one line and exit
 * code 2 (never the client id or the secret in it); Port away or answering 5xx does not, but /readyz answers
 * 503 naming Port auth until Port issues a token in the background.
 */
const SINK_TOKEN = "credentials-sink-token-0123456789";
const WRONG_ID = "wrong-client-id-4711";
const WRONG_SECRET = "wrong-client-secret-0815-zebra";

let portside: PortsideProcess | undefined;
let servers: Array<ReturnType<typeof Bun.serve>> = [];
afterEach(async () => {
  await portside?.stop();
  portside = undefined;
  for (const server of servers) server.stop(true);
  servers = [];
});

function serveEmulator(port = 0) {
  const emulator = createPortEmulator({});
  const server = Bun.serve({ hostname: "127.0.0.1", port, fetch: emulator.app.fetch });
  servers.push(server);
  return { emulator, server };
}

const readiness = async (url: string) => {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as { ok: boolean; reason?: string } };
};

async function waitForReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await fetch(`${url}/readyz`)).status !== 200) {
    if (Date.now() > deadline) throw new Error(`/readyz not 200 within ${timeoutMs} ms: ${JSON.stringify(await readiness(url))}`);
    await Bun.sleep(100);
  }
}

describe("credentials Port refuses", () => {
  test("exit code 2, one line on stderr naming the variables and Port's answer, neither the id nor the secret anywhere, nothing served", async () => {
    const { emulator, server } = serveEmulator();
    const result = await runPortsideToExit(
      emulatorEnv(server.port, ORG, SINK_TOKEN, { PORT_CLIENT_ID: WRONG_ID, PORT_CLIENT_SECRET: WRONG_SECRET, LEDGER: "memory", LOG_LEVEL: "info" }),
    );
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: "error",
      event: "portside.cannot_start",
      message:
        "portside cannot start: Port refused the credentials (401 unauthorized): check PORT_CLIENT_ID and PORT_CLIENT_SECRET (Port → Credentials) and PORT_API_URL (the region)",
    });
    for (const output of [result.stdout, result.stderr]) {
      expect(output).not.toContain(WRONG_ID);
      expect(output).not.toContain(WRONG_SECRET);
      expect(output).not.toContain("portside.listening");
    }
    // Port was asked for a token once, refused it, and was called for nothing else.
    expect(emulator.state.calls.map((c) => `${c.endpoint} ${c.status}`)).toEqual(["token 401"]);
  }, 30_000);

  test("403 (an IP allow-list, a disabled organisation) stops the start the same way", async () => {
    const { emulator, server } = serveEmulator();
    emulator.state.failNext(1, 403, { endpoint: "token" });
    const result = await runPortsideToExit(emulatorEnv(server.port, ORG, SINK_TOKEN, { LEDGER: "memory" }));
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect((JSON.parse(result.stderr) as { message: string }).message).toBe(
      "portside cannot start: Port refused the credentials (403 emulated_failure): check PORT_CLIENT_ID and PORT_CLIENT_SECRET (Port → Credentials) and PORT_API_URL (the region)",
    );
  }, 30_000);
});

describe("credentials Port stops taking after the start", () => {
  test("a run that finishes then lists as SUCCESS · report pending (401), in /admin/runs and the console, never as a plain SUCCESS", async () => {
    const { emulator, server } = serveEmulator();
    const admin = "credentials-admin-token-0123456789";
    const started = await startPortside(emulatorEnv(server.port, ORG, SINK_TOKEN, { LEDGER: "memory", ADMIN_TOKEN: admin }));
    portside = started;
    await waitForReady(started.url, 10_000);
    // The secret is rotated in Port: the token is gone and no new one is issued.
    emulator.state.revokeTokens();
    emulator.state.failNext(1_000_000, 401, { endpoint: "token" });
    emulator.state.declareRun("r_rotated");
    const body = JSON.stringify(runMessage("r_rotated", "deploy"));
    const sink = await fetch(`${started.url}/sink/runs`, { method: "POST", body, headers: { authorization: `Bearer ${SINK_TOKEN}` } });
    expect(sink.status).toBe(200);

    const headers = { authorization: `Bearer ${admin}` };
    const story = async () => (await (await fetch(`${started.url}/admin/runs/r_rotated`, { headers })).json()) as Record<string, unknown>;
    const deadline = Date.now() + 15_000;
    while (((await story()).report as { reason?: string } | null)?.reason == null) {
      if (Date.now() > deadline) throw new Error(`no report reason: ${JSON.stringify(await story())}`);
      await Bun.sleep(100);
    }
    expect(await story()).toMatchObject({
      phase: "SUCCESS",
      // The handler's log line goes to Port first, and Port refuses it: the status waits behind it.
      report: { state: "pending", reason: expect.stringMatching(/^behind the run's logs: Port answered 401 emulated_failure: /) },
    });
    const list = (await (await fetch(`${started.url}/admin/runs`, { headers })).json()) as { items: Array<Record<string, unknown>> };
    expect(list.items.find((r) => r.runId === "r_rotated")).toMatchObject({
      phase: "SUCCESS",
      report: { state: "pending", reason: expect.stringMatching(/^behind the run's logs: Port answered 401 emulated_failure: /) },
    });
    const pending = '<span class="SUCCESS">SUCCESS</span> · <span class="report-pending">report pending (401 emulated_failure)</span>';
    expect(await (await fetch(`${started.url}/console`, { headers })).text()).toContain(pending);
    const page = await (await fetch(`${started.url}/console/runs/r_rotated`, { headers })).text();
    expect(page).toContain(pending);
    expect(page).toContain('<td id="run-report">status not delivered yet, behind the run&#39;s logs: Port answered 401 emulated_failure: ');
    expect(emulator.state.terminalStatus("r_rotated")).toBeUndefined();
  }, 40_000);
});

describe("Port away at start", () => {
  test("nothing listening at PORT_API_URL: portside serves, /readyz 503 naming Port auth; Port comes up: ready", async () => {
    const apiPort = await freePort();
    portside = await startPortside(emulatorEnv(apiPort, ORG, SINK_TOKEN, { LEDGER: "memory" }));
    expect((await fetch(`${portside.url}/healthz`)).status).toBe(200);
    const unready = await readiness(portside.url);
    expect(unready.status).toBe(503);
    expect(unready.body.ok).toBe(false);
    expect(unready.body.reason).toStartWith("port auth: no access token from Port yet (");
    expect(unready.body.reason).toEndWith("); trying again");
    const waiting = portside.output
      .join("")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((l) => l.event === "port.auth_waiting");
    expect(waiting).toMatchObject({ level: "warn", message: expect.stringContaining("serving, with /readyz at 503 until Port issues one") });

    const { emulator } = serveEmulator(apiPort);
    await waitForReady(portside.url, 20_000);
    expect(await readiness(portside.url)).toEqual({ status: 200, body: { ok: true } });
    expect(emulator.state.calls.filter((c) => c.endpoint === "token").map((c) => c.status)).toContain(200);
    expect(portside.output.join("")).not.toContain("emulator-client-secret");
  }, 40_000);

  test("Port answering 503: /readyz 503 with Port's answer; Port recovers: ready", async () => {
    const { emulator, server } = serveEmulator();
    emulator.state.failNext(1_000_000, 503, { endpoint: "token" });
    portside = await startPortside(emulatorEnv(server.port, ORG, SINK_TOKEN, { LEDGER: "memory" }));
    expect(await readiness(portside.url)).toEqual({
      status: 503,
      body: { ok: false, reason: "port auth: no access token from Port yet (Port answered 503 emulated_failure); trying again" },
    });
    emulator.state.faults.splice(0);
    await waitForReady(portside.url, 20_000);
    expect(emulator.state.calls.filter((c) => c.endpoint === "token").at(-1)?.status).toBe(200);
  }, 40_000);
});
