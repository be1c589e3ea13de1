import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ChangeDetail, RunDetail } from "../../src/targets/eventbridge/event.ts";
import { loadRoutesFile } from "../../src/targets/routes.ts";
import { eventBridgeEnv, eventBridgeTargets, keyOf, startEventBridgeServer, type EventBridgeServer } from "../support/eventbridge-server.ts";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";

let server: EventBridgeServer | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  server?.stop();
  h = server = undefined;
});

const examplePath = fileURLToPath(new URL("../../src/examples/routes.json", import.meta.url));
/** A change-log message as parsed: an entity update, so its diff has an entity before and after. */
interface ChangeFixture {
  [key: string]: unknown;
  diff: { before: Record<string, unknown>; after: Record<string, unknown> };
}
const changeFixture = JSON.parse(readFileSync(new URL("../../src/messages/fixtures/changes/entity-update.json", import.meta.url), "utf8")) as ChangeFixture;

/** The fixture's entity update, re-homed on another blueprint. */
function entityUpdate(blueprint: string, identifier: string) {
  const change = structuredClone(changeFixture);
  change.context = { entity: identifier, blueprint };
  for (const side of [change.diff.before, change.diff.after]) Object.assign(side, { identifier, blueprint });
  return change;
}

test("the example routes file alone (no handlers) sends every create_vm run and every microservice change to the bus", async () => {
  const eb = startEventBridgeServer();
  server = eb;
  const routes = await loadRoutesFile(examplePath, { readText: (path) => Bun.file(path).text(), parseYaml: (text) => Bun.YAML.parse(text) });
  // UNHANDLED_RUNS=fail: this deployment is the topic's only consumer, so an unrouted run is its to fail.
  const harness = await createHarness({ routes, env: { ...eventBridgeEnv(eb), UNHANDLED_RUNS: "fail" }, targets: eventBridgeTargets() });
  h = harness;

  const runs = ["r_route_1", "r_route_2"].map((id) => JSON.stringify(runMessage(id, "create_vm", { inputs: { cpu: 2, memory: 4, region: "eu-west-1" } })));
  expect((await harness.post("/sink/runs", `${runs.join("\n")}\n${JSON.stringify(runMessage("r_unrouted", "deploy"))}`)).status).toBe(200);
  const changes = [entityUpdate("microservice", "checkout"), entityUpdate("vm", "vm-1")];
  expect((await harness.post("/sink/changes", changes.map((c) => JSON.stringify(c)).join("\n"))).status).toBe(200);

  await harness.waitUntil(() => eb.published.length === 3, "two runs and one change on the bus");
  await harness.waitForTerminal(["r_unrouted"]);
  // The vm change matches no route: left alone, never stored.
  await harness.waitUntil(async () => (await harness.ledger.counts()).doneWork === 4, "the three runs and the routed change to finish");

  // Runs: on the example's bus, deferred to the consumer (the run stays IN_PROGRESS, the log names the event).
  const runEvents = eb.published.filter((e) => e.DetailType === "port.run.create_vm");
  expect(runEvents.map(keyOf).sort()).toEqual(["r_route_1", "r_route_2"]);
  for (const event of runEvents) {
    expect(event).toMatchObject({ EventBusName: "platform-events", Source: "portside" });
    expect((event.detail as unknown as RunDetail).statusReportedBy).toBe("consumer");
    const runId = keyOf(event) as string;
    expect(harness.emulator.state.runs.get(runId)?.status).toBe("IN_PROGRESS");
    expect(harness.emulator.state.logsFor(runId)).toEqual([`Published to EventBridge bus platform-events as event ${event.eventId}`]);
  }

  // Changes: only the microservice one matched.
  const changeEvents = eb.published.filter((e) => e.DetailType?.startsWith("port.change."));
  expect(changeEvents.map((e) => e.DetailType)).toEqual(["port.change.entity.microservice.UPDATE"]);
  const detail = changeEvents[0]?.detail as unknown as ChangeDetail;
  expect(detail).toMatchObject({
    version: 1,
    kind: "change",
    change: { action: "UPDATE", resourceType: "entity", blueprint: "microservice", identifier: "checkout" },
    raw: changes[0],
  });
  expect(detail.idempotencyKey).toBe(detail.change.digest);

  // An action with neither handler nor route fails, naming the routes file.
  expect(harness.emulator.state.terminalStatus("r_unrouted")).toBe("FAILURE");
  expect(harness.emulator.state.runs.get("r_unrouted")?.summary).toContain(`No handler or route for action "deploy"`);
  expect(harness.emulator.state.runs.get("r_unrouted")?.summary).toContain(examplePath);
});

test("a run routed to EventBridge is published with its secret inputs as they arrived: portside never decrypts them, so cannot fail on them", async () => {
  const eb = startEventBridgeServer();
  server = eb;
  const routes = await loadRoutesFile(examplePath, { readText: (path) => Bun.file(path).text(), parseYaml: (text) => Bun.YAML.parse(text) });
  // The harness's client secret is too short to decrypt anything, and these values are no ciphertext anyway.
  const harness = await createHarness({ routes, env: eventBridgeEnv(eb), targets: eventBridgeTargets() });
  h = harness;
  const secretRun = (id: string, pw: unknown) => {
    const message = runMessage(id, "create_vm", { inputs: { cpu: 2, pw } });
    return JSON.stringify({ ...message, payload: { ...message.payload, censoredProperties: ["pw"] } });
  };
  await harness.post("/sink/runs", [secretRun("r_route_secret", "bm90IGNpcGhlcnRleHQ="), secretRun("r_route_secret_object", { nested: true })].join("\n"));
  await harness.waitUntil(() => eb.published.length === 2 || harness.emulator.state.ended("r_route_secret"), "both runs on the bus", 4_000);
  expect(harness.emulator.state.runs.get("r_route_secret")?.summary).toBeUndefined();
  const published = Object.fromEntries(eb.published.map((e) => [keyOf(e), (e.detail as unknown as RunDetail).run.inputs]));
  expect(published).toEqual({ r_route_secret: { cpu: 2, pw: "bm90IGNpcGhlcnRleHQ=" }, r_route_secret_object: { cpu: 2, pw: { nested: true } } });
  for (const id of ["r_route_secret", "r_route_secret_object"]) expect(harness.emulator.state.runs.get(id)?.status).toBe("IN_PROGRESS");
});
