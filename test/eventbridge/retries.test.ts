import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { eventBridge } from "../../src/targets/eventbridge/target.ts";
import { eventBridgeEnv, eventBridgeTargets, keyOf, startEventBridgeServer, type EventBridgeServer } from "../support/eventbridge-server.ts";
import { createHarness, runMessage, type Harness, type HarnessOptions } from "../support/harness.ts";

let server: EventBridgeServer | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  server?.stop();
  h = server = undefined;
});

async function start(handlers: HarnessOptions["handlers"]) {
  server = startEventBridgeServer();
  h = await createHarness({ handlers, env: eventBridgeEnv(server), targets: eventBridgeTargets() });
  return { server, h };
}

const pair = (a: string, b: string) => `[${JSON.stringify(runMessage(a, "create_vm"))},${JSON.stringify(runMessage(b, "create_vm"))}]`;

test("an entry answered ThrottlingException is sent again, alone, until it is published", async () => {
  const { server, h } = await start({ runs: { create_vm: eventBridge() } });
  server.throttleEntries(3, (e) => keyOf(e) === "r_throttled");

  await h.post("/sink/runs", pair("r_throttled", "r_fine"));
  await h.waitForTerminal(["r_throttled", "r_fine"]);

  expect(h.emulator.state.terminalStatus("r_throttled")).toBe("SUCCESS");
  expect(h.emulator.state.terminalStatus("r_fine")).toBe("SUCCESS");
  expect(server.triesOf((e) => keyOf(e) === "r_throttled")).toBe(4);
  expect(server.triesOf((e) => keyOf(e) === "r_fine")).toBe(1);
  // The retries carried only the throttled entry; each run was published once.
  expect(server.calls.map((c) => c.results.map((r) => (r === "ThrottlingException" ? r : "ok")).sort())).toEqual([
    ["ThrottlingException", "ok"],
    ["ThrottlingException"],
    ["ThrottlingException"],
    ["ok"],
  ]);
  expect(server.published.map(keyOf).sort()).toEqual(["r_fine", "r_throttled"]);
  expect(await h.ledger.listDeadLetters()).toEqual([]);
});

test("a permanent entry error (MalformedDetail) is parked with AWS's code and message, not retried; the run fails saying so", async () => {
  const { server, h } = await start({ runs: { create_vm: eventBridge() } });
  server.rejectEntries("MalformedDetail", "Detail is malformed.", (e) => keyOf(e) === "r_malformed");

  await h.post("/sink/runs", pair("r_malformed", "r_good"));
  await h.waitForTerminal(["r_malformed", "r_good"]);

  expect(h.emulator.state.terminalStatus("r_good")).toBe("SUCCESS");
  expect(h.emulator.state.terminalStatus("r_malformed")).toBe("FAILURE");
  expect(h.emulator.state.runs.get("r_malformed")?.summary).toBe(
    'Handler for "create_vm" failed: EventBridge bus portside-test rejected the event: MalformedDetail: Detail is malformed.',
  );
  expect(server.triesOf((e) => keyOf(e) === "r_malformed")).toBe(1);

  const letters = await h.ledger.listDeadLetters();
  expect(letters).toHaveLength(1);
  expect(letters[0]).toMatchObject({
    kind: "run",
    runId: "r_malformed",
    reason: "EventBridge bus portside-test rejected the event: MalformedDetail: Detail is malformed.",
  });
  expect(JSON.parse((await h.ledger.getDeadLetter(letters[0]?.id ?? ""))?.raw ?? "null")).toEqual(runMessage("r_malformed", "create_vm"));
});

test("a change EventBridge refuses is parked once, with its source and the record, and reports nothing to Port", async () => {
  const { server, h } = await start({ changes: [{ match: { blueprint: "vm" }, to: eventBridge() }] });
  server.rejectEntries("InvalidArgument", "Parameter Resources is not valid.", () => true);
  const record = readFileSync(new URL("../../src/messages/fixtures/changes/entity-update.json", import.meta.url), "utf8").trim();

  await h.post("/sink/changes", record);
  await h.waitUntil(async () => (await h.ledger.listDeadLetters()).length > 0, "the change to be parked");
  await h.waitUntil(async () => (await h.ledger.counts()).pendingWork + (await h.ledger.counts()).runningWork === 0, "the change to finish");

  const letters = await h.ledger.listDeadLetters();
  expect(letters).toHaveLength(1);
  expect(letters[0]).toMatchObject({ kind: "change", source: "sink/changes" });
  expect(JSON.parse((await h.ledger.getDeadLetter(letters[0]?.id ?? ""))?.raw ?? "null")).toEqual(JSON.parse(record));
  expect(letters[0]?.reason).toContain("InvalidArgument: Parameter Resources is not valid.");
  expect(h.emulator.state.calls.filter((c) => c.endpoint !== "token")).toEqual([]);
});

test("a whole PutEvents call answered 500 is retried until it goes through", async () => {
  const { server, h } = await start({ runs: { create_vm: eventBridge() } });
  server.failNextCalls(2, 500);

  await h.post("/sink/runs", JSON.stringify(runMessage("r_500", "create_vm")));
  await h.waitForTerminal(["r_500"]);

  expect(h.emulator.state.terminalStatus("r_500")).toBe("SUCCESS");
  expect(server.calls.map((c) => c.status)).toEqual([500, 500, 200]);
  expect(server.published.map(keyOf)).toEqual(["r_500"]);
});
