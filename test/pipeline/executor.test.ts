import { afterEach, expect, test } from "bun:test";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { readBody } from "../../src/messages/index.ts";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";

let harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses) await h.stop().catch(() => undefined);
  harnesses = [];
});
const make = async (...args: Parameters<typeof createHarness>) => {
  const h = await createHarness(...args);
  harnesses.push(h);
  return h;
};

test("ACK_MODE=sync answers only after the handler finished", async () => {
  let finished = false;
  const h = await make({
    env: { ACK_MODE: "sync" },
    handlers: {
      runs: {
        deploy: async () => {
          await Bun.sleep(50);
          finished = true;
        },
      },
    },
  });
  const res = await h.post("/sink/runs", JSON.stringify(runMessage("r_sync")));
  expect(finished).toBe(true);
  expect(await res.json()).toMatchObject({ accepted: 1 });
});

test("ACK_MODE=durable answers before the handler finished", async () => {
  let finished = false;
  const h = await make({
    handlers: {
      runs: {
        deploy: async () => {
          await Bun.sleep(50);
          finished = true;
        },
      },
    },
  });
  const res = await h.post("/sink/runs", JSON.stringify(runMessage("r_durable")));
  expect(res.status).toBe(200);
  expect(finished).toBe(false);
  await h.waitForTerminal(["r_durable"]);
});

test("no more than CONCURRENCY handlers run at once", async () => {
  let running = 0;
  let peak = 0;
  const h = await make({
    env: { CONCURRENCY: "3" },
    handlers: {
      runs: {
        deploy: async () => {
          peak = Math.max(peak, ++running);
          await Bun.sleep(10);
          running--;
        },
      },
    },
  });
  const ids = Array.from({ length: 12 }, (_, i) => `r_conc_${i}`);
  await h.post("/sink/runs", ids.map((id) => JSON.stringify(runMessage(id))).join("\n"));
  await h.waitForTerminal(ids);
  expect(peak).toBe(3);
});

test("runs on one entity run one at a time, in the order they were accepted; other entities in parallel", async () => {
  const events: string[] = [];
  const h = await make({
    handlers: {
      runs: {
        deploy: async (run) => {
          events.push(`start ${run.id}`);
          await Bun.sleep(run.entity?.identifier === "svc-a" ? 15 : 1);
          events.push(`end ${run.id}`);
        },
      },
    },
  });
  const onA = ["r_a1", "r_a2", "r_a3", "r_a4"];
  const body = [...onA.map((id) => runMessage(id, "deploy", { entity: "svc-a" })), runMessage("r_b1", "deploy", { entity: "svc-b" })]
    .map((m) => JSON.stringify(m))
    .join("\n");
  await h.post("/sink/runs", body);
  await h.waitForTerminal([...onA, "r_b1"]);
  const onlyA = events.filter((e) => onA.some((id) => e.endsWith(id)));
  expect(onlyA).toEqual(onA.flatMap((id) => [`start ${id}`, `end ${id}`]));
  // svc-b did not wait behind svc-a's lane.
  expect(events.indexOf("end r_b1")).toBeLessThan(events.indexOf("end r_a1"));
});

test("interrupted run: FAILURE saying so, or run again when the handler says re-running is safe", async () => {
  const ledger = createMemoryLedger();
  const hang = () => new Promise<never>(() => {});
  // The first process claims both runs and "dies" mid-handler (its executor stops; the leases run out).
  const first = await make({ ledger, leaseMs: 100, owner: "first", handlers: { runs: { deploy: hang, migrate: { rerunOnInterrupt: true, handle: hang } } } });
  await first.post("/sink/runs", [runMessage("r_unsafe", "deploy"), runMessage("r_safe", "migrate")].map((m) => JSON.stringify(m)).join("\n"));
  await first.waitUntil(() => first.service.executor.active === 2, "both runs to start");
  harnesses = harnesses.filter((h) => h !== first);
  await first.service.stop(0);

  const attempts: number[] = [];
  const second = await make({
    ledger,
    emulator: first.emulator, // the same Port, which knows the runs
    leaseMs: 100,
    owner: "second",
    handlers: {
      runs: { deploy: () => ({ summary: "should not run" }), migrate: { rerunOnInterrupt: true, handle: (run) => void attempts.push(run.attempt) } },
    },
  });
  await second.waitForTerminal(["r_unsafe", "r_safe"]);
  expect(second.emulator.state.terminalStatus("r_unsafe")).toBe("FAILURE");
  expect(second.emulator.state.runs.get("r_unsafe")?.summary).toContain("re-trigger the action from Port");
  expect(second.emulator.state.terminalStatus("r_safe")).toBe("SUCCESS");
  expect(attempts).toEqual([2]);
});

test("stopping lets a running handler finish within the grace time, and takes no new requests", async () => {
  let finished = false;
  const h = await make({
    handlers: {
      runs: {
        deploy: async () => {
          await Bun.sleep(100);
          finished = true;
        },
      },
    },
  });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_grace")));
  await h.waitUntil(() => h.service.executor.active === 1, "the handler to start");
  const stopped = h.service.stop(5_000);
  const refused = await h.post("/sink/runs", JSON.stringify(runMessage("r_late")));
  expect(refused.status).toBe(503);
  expect(refused.headers.get("retry-after")).toBe("5");
  expect(await stopped).toEqual({ unfinished: 0 });
  expect(finished).toBe(true);
  expect((await h.ledger.counts()).doneWork).toBe(1);
});

test("runToIdle: a service that was never started ingests, runs and reports everything due, then returns", async () => {
  const ran: string[] = [];
  const h = await make({ start: false, handlers: { runs: { deploy: async (run) => void ran.push(run.id) } } });
  const ids = Array.from({ length: 40 }, (_, i) => `r_idle_${i}`);
  for (const id of ids) h.emulator.state.declareRun(id); // ingested directly, not through h.post, which would declare them
  const summary = await h.service.ingest("run", readBody(ids.map((id) => JSON.stringify(runMessage(id))).join("\n")), "test");
  expect(summary).toMatchObject({ records: 40, accepted: 40 });
  await h.service.runToIdle();
  // Nothing waits for a timer: when runToIdle returns, every run ran once and Port has its status.
  expect(ran.sort()).toEqual([...ids].sort());
  for (const id of ids) expect(h.emulator.state.terminalStatus(id)).toBe("SUCCESS");
  expect(await h.ledger.counts()).toMatchObject({ pendingWork: 0, runningWork: 0, pendingReports: 0 });
});

test("a claim still on its way when stop() is called is handed back: no handler starts after stop returned", async () => {
  const inner = createMemoryLedger();
  const slowClaims: Ledger = {
    ...inner,
    async claimWork(options) {
      const items = await inner.claimWork(options);
      await Bun.sleep(100); // a slow round trip
      return items;
    },
  };
  const events: string[] = [];
  const h = await make({ ledger: slowClaims, handlers: { runs: { deploy: async () => void events.push("handler started") } } });
  await h.post("/sink/runs", JSON.stringify(runMessage("r_in_flight")));
  await Bun.sleep(20);
  const { unfinished } = await h.service.stop(5_000);
  events.push(`stop returned (unfinished=${unfinished})`);
  await Bun.sleep(300);
  expect(events).toEqual(["stop returned (unfinished=0)"]);
  // Handed back as it was: the next claim is its first attempt.
  const [item] = await inner.claimWork({ owner: "next", limit: 1, leaseMs: 1_000, now: Date.now() });
  expect(item).toMatchObject({ key: "run:r_in_flight", attempt: 1 });
});
