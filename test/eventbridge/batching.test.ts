import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseRun } from "../../src/messages/index.ts";
import { runEvent } from "../../src/targets/eventbridge/event.ts";
import { eventBridge } from "../../src/targets/eventbridge/target.ts";
import { eventBridgeEnv, eventBridgeTargets, keyOf, startEventBridgeServer, type EventBridgeServer } from "../support/eventbridge-server.ts";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";

let server: EventBridgeServer | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  server?.stop();
  h = server = undefined;
});

const handlers = { runs: { create_vm: eventBridge() } };
const batchBody = (ids: string[], extra: Parameters<typeof runMessage>[2] = {}) =>
  `[${ids.map((id) => JSON.stringify(runMessage(id, "create_vm", extra))).join(",")}]`;

test("25 runs arriving together are published in PutEvents calls of 10, 10 and 5", async () => {
  server = startEventBridgeServer();
  h = await createHarness({ handlers, env: eventBridgeEnv(server, { CONCURRENCY: "25" }), targets: eventBridgeTargets({ lingerMs: 200 }) });
  const ids = Array.from({ length: 25 }, (_, i) => `r_batch_${String(i).padStart(2, "0")}`);

  expect((await h.post("/sink/runs", batchBody(ids))).status).toBe(200);
  await h.waitForTerminal(ids);

  expect(server.batchSizes()).toEqual([10, 10, 5]);
  expect(server.published.map(keyOf).sort()).toEqual(ids);
  for (const id of ids) expect(h.emulator.state.terminalStatus(id)).toBe("SUCCESS");
});

test("the request size limit splits a batch before 10 entries", async () => {
  // Five runs of the same size, with a limit that holds two of them: 2 + 2 + 1.
  const ids = ["r_size_1", "r_size_2", "r_size_3", "r_size_4", "r_size_5"];
  const parsed = parseRun(runMessage(ids[0] as string, "create_vm"));
  if (!parsed.ok) throw new Error(parsed.reason);
  const one = runEvent(parsed.run, {}, { bus: "portside-test", source: "portside" }).bytes;
  const limit = Math.floor(one * 2.5);
  // The server enforces the same limit, so wrong arithmetic in portside would fail the calls.
  server = startEventBridgeServer({ maxRequestBytes: limit });
  h = await createHarness({
    handlers,
    env: eventBridgeEnv(server, { EVENTBRIDGE_MAX_REQUEST_BYTES: String(limit) }),
    targets: eventBridgeTargets({ lingerMs: 200 }),
  });

  await h.post("/sink/runs", batchBody(ids));
  await h.waitForTerminal(ids);

  expect(server.batchSizes()).toEqual([2, 2, 1]);
  expect(server.calls.every((c) => c.status === 200)).toBe(true);
  for (const id of ids) expect(h.emulator.state.terminalStatus(id)).toBe("SUCCESS");
});

test("a record too large for one entry is parked with the reason and fails in Port; nothing is truncated or sent", async () => {
  server = startEventBridgeServer();
  h = await createHarness({ handlers, env: eventBridgeEnv(server), targets: eventBridgeTargets() });
  const big = runMessage("r_huge", "create_vm", { inputs: { cloudInit: "x".repeat(300 * 1024) } });

  await h.post("/sink/runs", `[${JSON.stringify(big)},${JSON.stringify(runMessage("r_small", "create_vm"))}]`);
  await h.waitForTerminal(["r_huge", "r_small"]);

  expect(h.emulator.state.terminalStatus("r_small")).toBe("SUCCESS");
  expect(h.emulator.state.terminalStatus("r_huge")).toBe("FAILURE");
  const summary = h.emulator.state.runs.get("r_huge")?.summary ?? "";
  expect(summary).toContain("over the 262144-byte PutEvents limit (EVENTBRIDGE_MAX_REQUEST_BYTES)");
  expect(server.triesOf((e) => keyOf(e) === "r_huge")).toBe(0);

  const letters = await h.ledger.listDeadLetters();
  expect(letters).toHaveLength(1);
  expect(letters[0]).toMatchObject({ kind: "run", runId: "r_huge", source: "eventbridge" });
  expect(letters[0]?.reason).toContain("does not truncate");
  expect(JSON.parse((await h.ledger.getDeadLetter(letters[0]?.id ?? ""))?.raw ?? "null")).toEqual(big);
});

test("work waiting on EventBridge holds no handler slot: with CONCURRENCY=1, 25 changes share calls of 10; local handlers still run one at a time", async () => {
  server = startEventBridgeServer();
  let running = 0;
  let most = 0;
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async () => {
          most = Math.max(most, ++running);
          await Bun.sleep(30);
          running--;
        },
      },
      changes: [{ to: eventBridge() }],
    },
    env: eventBridgeEnv(server, { CONCURRENCY: "1" }),
    targets: eventBridgeTargets({ lingerMs: 200 }),
  });
  const template = JSON.parse(readFileSync(new URL("../../src/messages/fixtures/changes/entity-update.json", import.meta.url), "utf8"));
  const changes = Array.from({ length: 25 }, (_, i) => JSON.stringify({ ...template, context: { entity: `vm-${i}`, blueprint: "vm" } }));
  const runs = ["r_local_1", "r_local_2", "r_local_3"];

  const [changesSent, runsSent] = await Promise.all([
    h.post("/sink/changes", changes.join("\n")),
    h.post("/sink/runs", `[${runs.map((id) => JSON.stringify(runMessage(id, "deploy"))).join(",")}]`),
  ]);
  expect([changesSent.status, runsSent.status]).toEqual([200, 200]);
  await h.waitUntil(() => server?.published.length === 25, "every change to be published");
  await h.waitForTerminal(runs);

  // Each change waiting for its own call would have made 25 calls of one entry.
  expect(server.batchSizes()).toEqual([10, 10, 5]);
  expect(most).toBe(1);
});

test("changes bound only for EventBridge flow while slow handlers hold every slot; a run claimed with them waits untouched for a slot", async () => {
  server = startEventBridgeServer();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const started: string[] = [];
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async (run) => {
          started.push(run.id);
          await gate;
        },
      },
      changes: [{ to: eventBridge() }],
    },
    env: eventBridgeEnv(server, { CONCURRENCY: "1" }),
    targets: eventBridgeTargets({ lingerMs: 20 }),
  });
  const template = JSON.parse(readFileSync(new URL("../../src/messages/fixtures/changes/entity-update.json", import.meta.url), "utf8"));
  const changes = (from: number) =>
    Array.from({ length: 25 }, (_, i) => JSON.stringify({ ...template, context: { entity: `vm-${from + i}`, blueprint: "vm" } }));

  await h.post("/sink/runs", JSON.stringify(runMessage("r_holds_slot", "deploy")));
  await h.waitUntil(() => started.length === 1, "the first run to take the only slot");
  // Accepted in this order: 25 changes, a run, 25 changes.
  await h.post("/sink/changes", changes(0).join("\n"));
  await h.post("/sink/runs", JSON.stringify(runMessage("r_waits", "deploy")));
  await h.post("/sink/changes", changes(25).join("\n"));
  await h.waitUntil(() => server?.published.length === 50, "all 50 changes to be published while the slot is taken");
  expect(started).toEqual(["r_holds_slot"]);

  release();
  await h.waitForTerminal(["r_holds_slot", "r_waits"]);
  // Handed back unstarted, it ran as a first attempt (a later one would have failed as interrupted).
  expect(started).toEqual(["r_holds_slot", "r_waits"]);
  expect(h.emulator.state.terminalStatus("r_waits")).toBe("SUCCESS");
});
