import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { createHarness, type Harness, ORG, runMessage } from "../support/harness.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";

/**
 * One JSON line per event, also for what nothing caught; and an id of portside's own for each sink
 * request, answered as X-Request-Id, logged, and kept with the runs it brought.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("request ids", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  test("each sink request gets one (a sender's X-Request-Id is not repeated), logged with its parked records, kept with its runs", async () => {
    h = await createHarness({ handlers: { runs: { deploy: async () => ({ summary: "ok" }) } } });
    const res = await h.post("/sink/runs", `${JSON.stringify(runMessage("r_req_1"))}\n{"bad": }`, { headers: { "x-request-id": "sender-chosen-id" } });
    expect(res.status).toBe(200);
    const id = res.headers.get("x-request-id") ?? "";
    expect(id).toMatch(UUID);
    const again = await h.post("/sink/runs", JSON.stringify(runMessage("r_req_2")));
    expect(again.headers.get("x-request-id")).not.toBe(id);
    expect((await h.service.history.get("r_req_1"))?.requestId).toBe(id);
    const parked = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === "ingest.parked");
    expect(parked).toMatchObject({ source: "sink/runs", requestId: id, parked: 1 });
    expect(h.logs.join("\n")).not.toContain("sender-chosen-id");
  });
});

describe("what nothing caught", () => {
  const emulator = createPortEmulator({});
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  let portside: PortsideProcess | undefined;
  afterAll(async () => {
    await portside?.crash();
    server.stop(true);
  });

  test("a stray rejection is one JSON line and portside goes on; an uncaught exception is one JSON line and exit code 1", async () => {
    portside = await startPortside(
      emulatorEnv(server.port, ORG, "stray-sink-token-0123456789", { HANDLERS: "test/support/stray-handlers.ts", LEDGER: "memory", LOG_LEVEL: "info" }),
    );
    const post = (id: string, action: string) => {
      emulator.state.declareRun(id);
      return fetch(`${portside?.url}/sink/runs`, {
        method: "POST",
        body: JSON.stringify(runMessage(id, action)),
        headers: { authorization: "Bearer stray-sink-token-0123456789" },
      });
    };
    const lines = () =>
      (portside?.output.join("") ?? "")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);

    expect((await post("r_stray_leak", "leak")).status).toBe(200);
    const deadline = Date.now() + 10_000;
    while (!lines().some((l) => l.event === "process.unhandled_rejection") && Date.now() < deadline) await Bun.sleep(20);
    expect(lines().find((l) => l.event === "process.unhandled_rejection")).toMatchObject({ level: "error", error: "a stray promise" });
    expect((await fetch(`${portside.url}/healthz`)).status).toBe(200);

    expect((await post("r_stray_bomb", "bomb")).status).toBe(200);
    expect(await portside.proc.exited).toBe(1);
    expect(lines().at(-1)).toMatchObject({ level: "error", event: "process.uncaught_exception", error: "boom, later" });
    // Every line it wrote, start-up included, was one JSON object (JSON.parse above threw otherwise).
    expect(lines().some((l) => l.event === "portside.listening")).toBe(true);
  }, 60_000);
});

describe("start-up lines in Port's agent's place", () => {
  const emulator = createPortEmulator({});
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  let portside: PortsideProcess | undefined;
  afterAll(async () => {
    await portside?.stop();
    server.stop(true);
  });

  test("started with the agent's variables and no HANDLERS: what was taken, and that the agent's runs are forwarded (not left to others)", async () => {
    portside = await startPortside({
      PORT_ORG_ID: ORG,
      PORT_API_BASE_URL: `http://127.0.0.1:${server.port}`,
      PORT_CLIENT_ID: "emulator-client-id",
      PORT_CLIENT_SECRET: "emulator-client-secret",
      STREAMER_NAME: "POLLING",
      LEDGER: "memory",
      LOG_LEVEL: "info",
    });
    const read = () =>
      (portside?.output.join("") ?? "")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    // /healthz answers before the start-up's last line is written.
    const deadline = Date.now() + 10_000;
    while (!read().some((l) => l.event === "portside.listening") && Date.now() < deadline) await Bun.sleep(20);
    const lines = read();
    expect(lines.find((l) => l.event === "portside.agent_environment")).toMatchObject({
      taken: ["PORT_ORG_ID → ORG_ID", "PORT_API_BASE_URL → PORT_API_URL", "STREAMER_NAME → PORT_POLLING"],
    });
    expect(lines.find((l) => l.event === "portside.no_handlers")).toMatchObject({
      level: "warn",
      message:
        "HANDLERS is not set: runs for Port's execution agent are forwarded as the agent forwards them; other runs are left to other consumers of the topic (UNHANDLED_RUNS=ignore).",
    });
    expect(lines.find((l) => l.event === "portside.listening")).toMatchObject({ polling: true, executionAgent: true });
  }, 60_000);
});
