import { afterEach, expect, test } from "bun:test";
import type { ObservedEvents } from "../../src/observe/events.ts";
import { createHarness, type Harness, runMessage } from "../support/harness.ts";

/**
 * What the service's event feed tells of a run (what `portside dev` shows as it happens): accepted with its
 * way in, then the calls to Port recorded for it in the order Port gets them — its entities, its log lines
 * (redacted as Port is told them), and the final status with the summary — and how its handler ended. A run refused at the sink
 * is told by the reports of its refusal.
 */
let harness: Harness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

type Seen = { [K in "runAccepted" | "runReports" | "runEnded"]: { name: K; event: ObservedEvents[K] } }["runAccepted" | "runReports" | "runEnded"];

test("a run: accepted, its entity and log lines in the order Port gets them, then its status and summary", async () => {
  harness = await createHarness({
    handlers: {
      runs: {
        deploy: async (run) => {
          await run.log(`deploying ${String(run.inputs.version)}`);
          await run.upsertEntity("deployment", { identifier: "d-1", properties: {} });
          await run.log("done");
          return { summary: "Deployed" };
        },
      },
    },
  });
  const seen: Seen[] = [];
  for (const name of ["runAccepted", "runReports", "runEnded"] as const) harness.service.feed.on(name, (event) => seen.push({ name, event } as Seen));
  const res = await harness.post("/sink/runs", JSON.stringify(runMessage("r_feed_1", "deploy", { inputs: { version: "1.2.3" } })));
  expect(res.status).toBe(200);
  await harness.waitUntil(() => seen.some((s) => s.name === "runReports" && s.event.calls.some((c) => c.kind === "update")), "the run's final report");

  expect(seen[0]).toEqual({ name: "runAccepted", event: { runId: "r_feed_1", action: "deploy", source: "sink/runs" } });
  const ended = seen.find((s) => s.name === "runEnded");
  expect(ended?.event).toMatchObject({ runId: "r_feed_1", action: "deploy", status: "SUCCESS", summary: "Deployed" });
  const calls = seen.flatMap((s) => (s.name === "runReports" ? s.event.calls : []));
  expect(calls.map((c) => (c.kind === "log" ? `log ${c.message}` : c.kind === "update" ? `update ${c.patch.status} ${c.patch.summary}` : c.kind))).toEqual([
    // In the order they go to Port: entity writes ahead of the log lines recorded with them.
    "entity",
    "log deploying 1.2.3",
    "log done",
    "update SUCCESS Deployed",
  ]);
  // The handler ended before its last reports were recorded: runEnded comes first.
  expect(seen.findIndex((s) => s.name === "runEnded")).toBeLessThan(seen.findLastIndex((s) => s.name === "runReports"));
}, 15_000);

test("a run refused at the sink: no runAccepted, the reports of its refusal", async () => {
  harness = await createHarness({ handlers: { runs: { deploy: async () => ({ summary: "never" }) } } });
  const seen: Seen[] = [];
  for (const name of ["runAccepted", "runReports"] as const) harness.service.feed.on(name, (event) => seen.push({ name, event } as Seen));
  const message = runMessage("r_feed_refused", "deploy");
  (message as { context: { blueprint: unknown } }).context.blueprint = 42;
  expect((await harness.post("/sink/runs", JSON.stringify(message))).status).toBe(200);
  expect(seen.map((s) => s.name)).toEqual(["runReports"]);
  const calls = seen[0]?.name === "runReports" ? seen[0].event.calls : [];
  expect(seen[0]?.event).toMatchObject({ runId: "r_feed_refused" });
  expect(calls.at(-1)).toMatchObject({ kind: "update", patch: { status: "FAILURE" } });
}, 15_000);
