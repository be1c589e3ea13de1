import { afterEach, expect, test } from "bun:test";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";

/**
 * Entity writes from handlers: upsert, update, delete and bulk upsert reach Port ahead of the run's logs and
 * status, in the order the handler made them, linked to the run; bad arguments fail the handler naming the
 * field; entities Port refuses inside a bulk write are said in the run's log.
 */
let h: Harness;
afterEach(async () => h?.stop());

test("every kind of entity write goes out before the logs and the status, in the handler's order; 45 entities are 3 bulk calls", async () => {
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async (run) => {
          await run.log("start");
          await run.upsertEntity("service", { identifier: "svc", relations: { team: "platform" } }, { createMissingRelatedEntities: true });
          await run.updateEntity("service", "svc", { title: "Service", properties: { tier: 1 } });
          await run.upsertEntities(
            "deployment",
            Array.from({ length: 45 }, (_, i) => ({ identifier: `d-${i}` })),
          );
          await run.deleteEntity("deployment", "d-0", { deleteDependents: true });
          await run.log("end");
          return { summary: "done" };
        },
      },
    },
  });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_ents")));
  await h.waitForTerminal(["r_ents"]);
  const state = h.emulator.state;
  expect(state.callsFor("r_ents").map((c) => `${c.endpoint} ${c.status}`)).toEqual([
    "upsertEntity 201",
    "updateEntity 200",
    "upsertEntities 200",
    "upsertEntities 200",
    "upsertEntities 200",
    "deleteEntity 200",
    "postLog 201",
    "patchRun 200",
  ]);
  const bulks = state.callsFor("r_ents").filter((c) => c.endpoint === "upsertEntities");
  expect(bulks.map((c) => (c.body as { entities: unknown[] }).entities.length)).toEqual([20, 20, 5]);
  expect(state.callsFor("r_ents")[0]?.query).toMatchObject({ create_missing_related_entities: "true", run_id: "r_ents" });
  expect(state.callsFor("r_ents")[5]?.query).toMatchObject({ delete_dependents: "true", run_id: "r_ents" });
  expect(state.entity("service", "svc")).toMatchObject({ title: "Service", properties: { tier: 1 } });
  expect(state.entity("deployment", "d-0")).toBeUndefined();
  expect(state.entity("deployment", "d-44")).toBeDefined();
  expect(state.logsFor("r_ents")).toEqual(["start\nend"]);
  expect(state.terminalStatus("r_ents")).toBe("SUCCESS");
});

test("entities Port refuses inside a bulk write are said in the run's log; the rest are written", async () => {
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async (run) => {
          await run.upsertEntities("deployment", [{ identifier: "good" }, { identifier: "bad", properties: { replicas: "three" } }]);
          return { summary: "done" };
        },
      },
    },
  });
  h.emulator.state.declareBlueprint({ identifier: "deployment", properties: { replicas: { type: "number" } } });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_partial")));
  await h.waitForTerminal(["r_partial"]);
  const [line] = h.emulator.state.logsFor("r_partial");
  expect(line).toStartWith("Port refused 1 of 2 deployment entities in a bulk write: bad (422 invalid_request)");
  expect(h.emulator.state.entity("deployment", "good")).toBeDefined();
  expect((await h.ledger.counts()).failedReports).toBe(1);
  expect(h.logs.some((l) => l.includes("port.report.failed") && l.includes("in a bulk write"))).toBe(true);
});

test("bad arguments fail the handler with a TypeError naming the field, never the value", async () => {
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async (run) => {
          await run.updateEntity("service", "has a space and hunter2", { title: "x" });
        },
      },
    },
  });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_badargs")));
  await h.waitForTerminal(["r_badargs"]);
  const summary = h.emulator.state.runs.get("r_badargs")?.summary ?? "";
  expect(summary).toStartWith('Handler for "deploy" failed: updateEntity: identifier: must be letters, digits');
  expect(summary).not.toContain("hunter2");
  expect(h.emulator.state.callsFor("r_badargs").map((c) => c.endpoint)).toEqual(["patchRun"]);
});
