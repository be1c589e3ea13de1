import { relative } from "node:path";
import { afterEach, expect, test } from "bun:test";
import { ADMIN_TOKEN, createHarness, runMessage, type Harness } from "../support/harness.ts";

let h: Harness;
afterEach(async () => h?.stop());

const endpoints = (h: Harness, runId: string) => h.emulator.state.callsFor(runId).map((c) => c.endpoint);

test("success: logs and entity links reach Port before the terminal status, in two calls besides the entity", async () => {
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async (run) => {
          await run.log(`deploying ${run.inputs.version}`);
          await run.upsertEntity("deployment", { identifier: "d-1", properties: { version: run.inputs.version } });
          await run.log("done");
          return { summary: "Deployed 1.0.0", link: "https://ci.example.com/1", externalRunId: "ci-1", statusLabel: "Deployed" };
        },
      },
    },
  });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_ok", "deploy", { entity: "checkout" })));
  await h.waitForTerminal(["r_ok"]);
  expect(endpoints(h, "r_ok")).toEqual(["upsertEntity", "postLog", "patchRun"]);
  expect(h.emulator.state.logsFor("r_ok")).toEqual(["deploying 1.0.0\ndone"]);
  const run = h.emulator.state.runs.get("r_ok");
  expect(run).toMatchObject({ status: "SUCCESS", summary: "Deployed 1.0.0", link: "https://ci.example.com/1", externalRunId: "ci-1", statusLabel: "Deployed" });
  expect(h.emulator.state.logsFor("r_ok").join("\n")).toContain("deploying 1.0.0");
  expect(run?.linkedEntities).toEqual([{ blueprint: "deployment", identifier: "d-1" }]);
});

test("a handler that only returns costs exactly one Port call", async () => {
  h = await createHarness({ handlers: { runs: { deploy: () => ({ summary: "ok" }) } } });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_one")));
  await h.waitForTerminal(["r_one"]);
  expect(endpoints(h, "r_one")).toEqual(["patchRun"]);
});

test("a thrown error → FAILURE carrying its message", async () => {
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async () => {
          throw new Error("cluster unreachable");
        },
      },
    },
  });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_fail")));
  await h.waitForTerminal(["r_fail"]);
  expect(h.emulator.state.terminalStatus("r_fail")).toBe("FAILURE");
  expect(h.emulator.state.runs.get("r_fail")?.summary).toBe('Handler for "deploy" failed: cluster unreachable');
});

test("a handler past its time limit → FAILURE saying it timed out, and its signal is aborted", async () => {
  let aborted = false;
  h = await createHarness({
    handlers: {
      runs: {
        deploy: {
          timeoutMs: 50,
          handle: (run) =>
            new Promise((resolve) => {
              run.signal.addEventListener("abort", () => {
                aborted = true;
                resolve({ summary: "too late" });
              });
            }),
        },
      },
    },
  });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_slow")));
  await h.waitForTerminal(["r_slow"]);
  expect(h.emulator.state.terminalStatus("r_slow")).toBe("FAILURE");
  expect(h.emulator.state.runs.get("r_slow")?.summary).toBe('Handler for "deploy" timed out after 50 ms');
  expect(aborted).toBe(true);
});

test("a handler that goes on after its time limit writes nothing more to Port: its later calls are dropped, said once in the log", async () => {
  let lateCalls = 0;
  h = await createHarness({
    handlers: {
      runs: {
        deploy: {
          timeoutMs: 50,
          // Ignores its signal, as careless code does, and keeps writing once its run has ended.
          handle: async (run) => {
            await run.log("starting");
            await Bun.sleep(150);
            for (let i = 0; i < 150; i++) {
              await run.log(`late line ${i}`);
              lateCalls++;
            }
            await run.upsertEntity("service", { identifier: "late-entity" });
            lateCalls++;
          },
        },
      },
    },
  });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_late")));
  await h.waitForTerminal(["r_late"]);
  await h.waitUntil(() => lateCalls === 151, "the handler's late calls");
  // The buffer's flush threshold (100 calls) passed, and a flush interval too: anything queued would be out by now.
  await Bun.sleep(1_200);
  expect(h.emulator.state.terminalStatus("r_late")).toBe("FAILURE");
  expect(endpoints(h, "r_late")).toEqual(["postLog", "patchRun"]);
  expect(await h.ledger.counts()).toMatchObject({ pendingReports: 0 });
  const late = h.logs.filter((l) => l.includes('"event":"run.call_after_end"'));
  expect(late).toHaveLength(1);
  expect(late[0]).not.toContain("late line");
});

test("an action with no handler is left to other consumers by default: not executed, not reported, counted, logged once", async () => {
  h = await createHarness({ handlers: { runs: { deploy: () => undefined } } });
  const res = await h.post(
    "/sink/runs",
    [runMessage("r_other_1", "someone_elses"), runMessage("r_other_2", "someone_elses"), runMessage("r_mine")].map((m) => JSON.stringify(m)).join("\n"),
  );
  expect(await res.json()).toEqual({ records: 3, accepted: 1, duplicate: 0, parked: 0, ignored: 2 });
  await h.waitForTerminal(["r_mine"]);
  expect(h.emulator.state.callsFor("r_other_1")).toEqual([]);
  expect(h.emulator.state.callsFor("r_other_2")).toEqual([]);
  expect(h.service.stats().ignoredBy).toEqual({ unhandled_action: 2 });
  expect(h.logs.filter((line) => line.includes('"ingest.unhandled_run"') && line.includes("someone_elses"))).toHaveLength(1);
  expect((await h.ledger.counts()).doneWork).toBe(1);
});

test("UNHANDLED_RUNS=fail: an action with no handler → FAILURE naming the action and the module", async () => {
  h = await createHarness({ handlers: { runs: { deploy: () => undefined } }, env: { UNHANDLED_RUNS: "fail" } });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_none", "destroy_everything")));
  await h.waitForTerminal(["r_none"]);
  expect(h.emulator.state.terminalStatus("r_none")).toBe("FAILURE");
  expect(h.emulator.state.runs.get("r_none")?.summary).toBe(
    'No handler for action "destroy_everything" in test-handlers.ts. Add runs["destroy_everything"] to its default export.',
  );
  expect(endpoints(h, "r_none")).toEqual(["patchRun"]);
});

test("a returned { status: 'FAILURE' } fails the run without throwing", async () => {
  h = await createHarness({ handlers: { runs: { deploy: () => ({ status: "FAILURE", summary: "quota exceeded" }) } } });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_soft")));
  await h.waitForTerminal(["r_soft"]);
  expect(h.emulator.state.runs.get("r_soft")).toMatchObject({ status: "FAILURE", summary: "quota exceeded" });
});

test("change handlers run for matching changes only", async () => {
  const seen: string[] = [];
  h = await createHarness({
    handlers: {
      changes: [
        { match: { blueprint: "vm", action: "UPDATE" }, handle: (c) => void seen.push(`vm:${c.identifier}`) },
        { match: { resourceType: "run" }, handle: (c) => void seen.push(`run:${c.runId}`) },
      ],
    },
  });
  const change = (blueprint: string, identifier: string, action = "UPDATE") => ({
    action,
    resourceType: "entity",
    status: "SUCCESS",
    trigger: { by: { orgId: "org_sYG4DOJZNGy8bYnt", userId: "u" }, origin: "API", at: "2026-03-01T10:00:00.000Z" },
    context: { entity: identifier, blueprint },
    diff: { before: { identifier }, after: { identifier } },
  });
  const body = [change("vm", "vm-1"), change("microservice", "svc"), change("vm", "vm-2", "DELETE"), change("vm", "vm-1")]
    .map((c) => JSON.stringify(c))
    .join("\n");
  const res = await h.post("/sink/changes", body);
  // The fourth record is byte-identical to the first: a redelivery. Changes no rule matches are left alone, never stored.
  expect(await res.json()).toEqual({ records: 4, accepted: 1, duplicate: 1, parked: 0, ignored: 2 });
  await h.waitUntil(async () => (await h.ledger.counts()).doneWork === 1, "the matching change done");
  expect(seen).toEqual(["vm:vm-1"]);
});

test("a thrown error keeps its stack for operators (the log line, the run's story, the console), and Port gets the message only", async () => {
  const { default: handlers } = await import("../support/throwing-handlers.ts");
  h = await createHarness({ handlers });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_stack")));
  await h.waitForTerminal(["r_stack"]);
  // Relative to the working directory, as stacks are shown (the tests run from the repository).
  const file = relative(process.cwd(), new URL("../support/throwing-handlers.ts", import.meta.url).pathname);
  const reason = 'Handler for "deploy" failed: cluster 1.0.0 unreachable';

  // portside's log line for the failed run: the reason, and the frames (the helper's throw, then the handler's call).
  const line = JSON.parse(h.logs.find((l) => l.includes('"event":"run.failed"')) ?? "{}") as { reason?: string; stack?: string };
  expect(line.reason).toBe(reason);
  expect(line.stack?.split("\n")).toEqual([expect.stringContaining(`${file}:6:`), expect.stringContaining(`${file}:12:`)]);
  expect(line.stack).not.toContain("unreachable");

  // The run's story (the ledger keeps it), and the console's run page; a list carries none.
  const story = (await (await h.admin("/runs/r_stack")).json()) as { summary: string; stack: string };
  expect(story).toMatchObject({ summary: reason, stack: line.stack });
  const list = (await (await h.admin("/runs")).json()) as { items: { runId: string; stack: string | null }[] };
  expect(list.items.find((r) => r.runId === "r_stack")?.stack).toBeNull();
  const page = await (await h.service.app.request("/console/runs/r_stack", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  expect(page).toContain(`<pre id="run-stack">at callClusterApi (${file}:6:`);

  // Port: the message only, in every call.
  expect(h.emulator.state.runs.get("r_stack")?.summary).toBe(reason);
  expect(JSON.stringify(h.emulator.state.calls)).not.toContain("throwing-handlers");
});
