import { afterEach, expect, test } from "bun:test";
import type { PortEmulator } from "../../src/emulator/port-emulator.ts";
import type { RunDetail } from "../../src/targets/eventbridge/event.ts";
import { eventBridge } from "../../src/targets/eventbridge/target.ts";
import { eventBridgeEnv, eventBridgeTargets, startEventBridgeServer, type EventBridgeServer } from "../support/eventbridge-server.ts";
import { createHarness, ORG, runMessage, type Harness } from "../support/harness.ts";

let server: EventBridgeServer | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  server?.stop();
  h = server = undefined;
});

test('status "published" (default): SUCCESS once EventBridge took the event, with a log line naming the bus and event id', async () => {
  const eb = startEventBridgeServer();
  server = eb;
  h = await createHarness({
    handlers: { runs: { create_vm: eventBridge({ bus: "platform-events" }) } },
    env: eventBridgeEnv(eb),
    targets: eventBridgeTargets(),
  });
  const message = runMessage("r_published", "create_vm", { inputs: { cpu: 2, memory: 4, region: "eu-west-1" } });

  await h.post("/sink/runs", JSON.stringify(message));
  await h.waitForTerminal(["r_published"]);

  const [event] = eb.published;
  const line = `Published to EventBridge bus platform-events as event ${event?.eventId}`;
  expect(h.emulator.state.runs.get("r_published")).toMatchObject({ status: "SUCCESS", summary: line });
  expect(h.emulator.state.logsFor("r_published")).toEqual([line]);

  // The event shape consumers rely on (README.md beside the EventBridge target).
  expect(event).toMatchObject({
    EventBusName: "platform-events",
    Source: "portside",
    DetailType: "port.run.create_vm",
    Time: Date.parse("2026-08-02T08:12:44.010Z") / 1000,
  });
  expect(event?.Resources).toBeUndefined();
  const detail = event?.detail as unknown as RunDetail;
  expect(detail).toMatchObject({ version: 1, kind: "run", idempotencyKey: "r_published", statusReportedBy: "portside", raw: message });
  expect(detail.run).toMatchObject({
    id: "r_published",
    action: "create_vm",
    operation: "CREATE",
    inputs: { cpu: 2, memory: 4, region: "eu-west-1" },
    orgId: ORG,
    user: { email: "lee@example.com" },
  });
  expect("raw" in detail.run).toBe(false);
});

test('status "deferred": the run stays IN_PROGRESS with the log line, and the downstream consumer reports the status', async () => {
  const eb = startEventBridgeServer();
  server = eb;
  const harness = await createHarness({
    handlers: { runs: { create_vm: eventBridge({ status: "deferred" }) } },
    env: eventBridgeEnv(eb),
    targets: eventBridgeTargets(),
  });
  h = harness;

  await harness.post("/sink/runs", JSON.stringify(runMessage("r_deferred", "create_vm")));
  await harness.waitUntil(() => harness.emulator.state.logsFor("r_deferred").length > 0, "the publish log line in Port");
  await harness.waitUntil(async () => (await harness.ledger.counts()).doneWork === 1, "the work item to finish");

  const [event] = eb.published;
  expect(h.emulator.state.logsFor("r_deferred")).toEqual([`Published to EventBridge bus portside-test as event ${event?.eventId}`]);
  expect(h.emulator.state.terminalStatus("r_deferred")).toBeUndefined();
  expect(h.emulator.state.runs.get("r_deferred")?.status).toBe("IN_PROGRESS");
  expect(h.emulator.state.callsFor("r_deferred").map((c) => c.endpoint)).toEqual(["postLog"]);
  const detail = event?.detail as unknown as RunDetail;
  expect(detail.statusReportedBy).toBe("consumer");

  // The consumer (a Lambda on the bus, see README.md) finishes the run in Port.
  await consumerReportsBack(h.emulator, detail);
  expect(h.emulator.state.runs.get("r_deferred")).toMatchObject({ status: "SUCCESS", summary: "VM created by the platform team's Lambda" });
});

/** What the README's downstream Lambda does, against the emulator: token, then PATCH the run. */
async function consumerReportsBack(emulator: PortEmulator, detail: RunDetail) {
  const json = { "content-type": "application/json" };
  const tokenRes = await emulator.app.request("/v1/auth/access_token", {
    method: "POST",
    headers: json,
    body: JSON.stringify({ clientId: "emulator-client-id", clientSecret: "emulator-client-secret" }),
  });
  const { accessToken } = (await tokenRes.json()) as { accessToken: string };
  const res = await emulator.app.request(`/v1/actions/runs/${detail.idempotencyKey}`, {
    method: "PATCH",
    headers: { ...json, authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({ status: "SUCCESS", summary: "VM created by the platform team's Lambda" }),
  });
  expect(res.status).toBe(200);
}
