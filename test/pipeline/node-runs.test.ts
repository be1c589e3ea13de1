import { afterEach, expect, test } from "bun:test";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";

/**
 * Workflow node runs (`wfnr_…`) arrive on the same topic and reach the same handlers, but Port takes their
 * reports at /v1/workflows/nodes/runs/{id}: a COMPLETED status with a result, and leveled log lines. Nothing
 * of theirs may go to /v1/actions/runs.
 */
let h: Harness;
afterEach(async () => h?.stop());

const paths = (h: Harness, runId: string) =>
  h.emulator.state.callsFor(runId).map((c) => `${c.method} ${c.path}${c.query.run_id ? `?run_id=${c.query.run_id}` : ""}`);

test("a node run's logs and status go to the workflow endpoints; its summary and link become log lines", async () => {
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async (run) => {
          await run.log(`deploying ${run.inputs.version}`);
          await run.upsertEntity("deployment", { identifier: "d-1" });
          return { summary: "Deployed 1.0.0", link: "https://ci.example.com/1", statusLabel: "Deployed" };
        },
      },
    },
  });
  await h.post("/sink/runs", JSON.stringify(runMessage("wfnr_ok", "deploy")));
  await h.waitForTerminal(["wfnr_ok"]);
  const node = h.emulator.state.nodeRuns.get("wfnr_ok");
  expect(node).toMatchObject({ status: "COMPLETED", result: "SUCCESS" });
  expect(node?.logs.map(({ level, message }) => `${level} ${message}`)).toEqual([
    "INFO deploying 1.0.0",
    "INFO Deployed 1.0.0",
    "INFO Link: https://ci.example.com/1",
  ]);
  // The entity is written, but not linked: Port's entity endpoints take action run ids only.
  expect(h.emulator.state.entity("deployment", "d-1")).toBeDefined();
  expect(h.emulator.state.calls.filter((c) => c.endpoint === "upsertEntity").map((c) => c.query)).toEqual([{ upsert: "true", merge: "true" }]);
  expect(paths(h, "wfnr_ok")).toEqual(["POST /v1/workflows/nodes/runs/wfnr_ok/logs", "PATCH /v1/workflows/nodes/runs/wfnr_ok"]);
  expect(h.emulator.state.calls.filter((c) => c.path.startsWith("/v1/actions/runs"))).toEqual([]);
  expect(h.emulator.state.runs.has("wfnr_ok")).toBe(false);
});

test("a failing node run: FAILED, its reason an ERROR line before the status", async () => {
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async () => {
          throw new Error("cluster unreachable");
        },
      },
    },
  });
  await h.post("/sink/runs", JSON.stringify(runMessage("wfnr_fail", "deploy")));
  await h.waitForTerminal(["wfnr_fail"]);
  const node = h.emulator.state.nodeRuns.get("wfnr_fail");
  expect(node).toMatchObject({ status: "COMPLETED", result: "FAILED" });
  expect(node?.logs.map(({ level, message }) => `${level} ${message}`)).toEqual(['ERROR Handler for "deploy" failed: cluster unreachable']);
  expect(h.emulator.state.callsFor("wfnr_fail").map((c) => c.endpoint)).toEqual(["postNodeLog", "patchNodeRun"]);
});

test("a broken node run message is parked and its node run FAILED with the reason", async () => {
  h = await createHarness({ handlers: { runs: { deploy: () => undefined } } });
  const poison = { ...runMessage("wfnr_bad", "deploy"), payload: { properties: "not an object" } };
  const res = await h.post("/sink/runs", JSON.stringify(poison));
  expect(await res.json()).toMatchObject({ parked: 1 });
  await h.waitForTerminal(["wfnr_bad"]);
  const node = h.emulator.state.nodeRuns.get("wfnr_bad");
  expect(node).toMatchObject({ status: "COMPLETED", result: "FAILED" });
  expect(node?.logs.map((l) => l.level)).toEqual(["INFO", "ERROR"]);
  expect(node?.logs[1]?.message).toContain("payload.properties");
});
