import { afterEach, describe, expect, test } from "bun:test";
import { declareAction, triggerAction } from "../../src/emulator/port-emulator-actions.ts";
import { createPollingIngress, type PollingIngress } from "../../src/ingress/polling.ts";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { silentLogger } from "../../src/log.ts";
import { createHarness, type Harness } from "../support/harness.ts";
import { ingressContract } from "./contract.ts";

/**
 * Polling Port's API (claim → commit → ack) as a way in: every run once, acknowledged only after the ledger
 * holds it, and the shared ingress contract.
 */
const settings = { intervalMs: 20, batch: 100, nodeRuns: true, maxFailureMs: 60_000 };
const deployAction = { identifier: "deploy", invocationMethod: { type: "WEBHOOK" as const, url: "https://backend.example.com/deploy", agent: true } };

function polling(h: Harness, overrides: Partial<typeof settings> = {}): PollingIngress {
  const ingress = createPollingIngress({
    port: h.service.portClient,
    ingest: h.service.ingest,
    orgId: h.config.orgId,
    settings: { ...settings, ...overrides },
    logger: silentLogger,
    retry: { initialMs: 10, maxMs: 50, factor: 2, maxAttempts: Infinity },
  });
  h.service.attachIngress("polling", ingress);
  return ingress;
}

let h: Harness | undefined;
let ingress: PollingIngress | undefined;
afterEach(async () => {
  await ingress?.stop();
  await h?.stop();
  h = ingress = undefined;
});

describe("polling Port for runs", () => {
  test("250 runs queued at Port: each claimed, recorded, acknowledged and run once, reported once", async () => {
    const started: string[] = [];
    h = await createHarness({ env: { PORT_POLLING: "true" }, handlers: { runs: { deploy: async (run) => void started.push(run.id) } } });
    declareAction(h.emulator.state, deployAction);
    const ids = Array.from(
      { length: 250 },
      (_, i) => triggerAction(h?.emulator.state as never, Date.now, "deploy", { properties: { version: `1.${i}` } })?.id as string,
    );
    ingress = polling(h);
    ingress.start();
    await h.waitForTerminal(ids, 20_000);
    for (const id of ids) expect(h.emulator.state.terminalStatus(id)).toBe("SUCCESS");
    expect(started.sort()).toEqual([...ids].sort());
    expect([...h.emulator.state.runs.values()].filter((r) => ids.includes(r.id) && !r.agentClaim?.acked)).toEqual([]);
    expect(ingress.state()).toMatchObject({ claimed: 250, acknowledged: 250 });
    expect(ingress.ready()).toBe(true);
  });

  test("a run is acknowledged only once the ledger holds it: with the ledger away, nothing is acknowledged, and after it nothing is lost", async () => {
    const inner = createMemoryLedger();
    let down = true;
    const ledger: Ledger = {
      ...inner,
      async commit(batch, now) {
        if (down) throw new Error("ledger unavailable (test)");
        return inner.commit(batch, now);
      },
    };
    h = await createHarness({ ledger, env: { PORT_POLLING: "true" }, handlers: { runs: { deploy: async () => ({ summary: "ok" }) } } });
    h.emulator.state.claimLeaseMs = 200;
    declareAction(h.emulator.state, deployAction);
    const id = triggerAction(h.emulator.state, Date.now, "deploy", { properties: {} })?.id as string;
    ingress = polling(h);
    ingress.start();
    await h.waitUntil(() => (ingress?.state().failures ?? 0) >= 1, "a failed poll");
    expect(h.emulator.state.runs.get(id)?.agentClaim?.acked).toBe(false);
    down = false;
    // Port offers the run again once its claim lapses; then it is recorded, acknowledged and run.
    await h.waitForTerminal([id]);
    expect(h.emulator.state.runs.get(id)?.agentClaim?.acked).toBe(true);
    expect(h.emulator.state.terminalStatus(id)).toBe("SUCCESS");
  });

  test("a claimed run portside cannot read but can name is parked, reported FAILURE and acknowledged, so Port does not offer it again", async () => {
    h = await createHarness({ env: { PORT_POLLING: "true" }, handlers: { runs: { deploy: async () => ({}) } } });
    h.emulator.state.claimLeaseMs = 100;
    declareAction(h.emulator.state, deployAction);
    const run = triggerAction(h.emulator.state, Date.now, "deploy", { properties: {} });
    const id = run?.id as string;
    // What Port hands out for it is no invocation portside can read (headers that are not an object).
    Object.assign(run?.payload ?? {}, { headers: "not headers" });
    ingress = polling(h);
    ingress.start();
    await h.waitForTerminal([id]);
    expect(h.emulator.state.terminalStatus(id)).toBe("FAILURE");
    await h.waitUntil(() => h?.emulator.state.runs.get(id)?.agentClaim?.acked === true, "the parked run acknowledged");
    expect((await h.ledger.listDeadLetters()).map((l) => l.runId)).toEqual([id]);
    await Bun.sleep(300);
    expect(h.emulator.state.calls.filter((c) => c.endpoint === "ackRuns" && JSON.stringify(c.body).includes(id))).toHaveLength(1);
  });

  test("ACK_MODE=sync is the sink's: a polled run is acknowledged once recorded, while its handler still runs", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    h = await createHarness({
      env: { PORT_POLLING: "true", ACK_MODE: "sync" },
      handlers: {
        runs: {
          deploy: async () => {
            started = true;
            await gate;
            return { summary: "ok" };
          },
        },
      },
    });
    declareAction(h.emulator.state, deployAction);
    const id = triggerAction(h.emulator.state, Date.now, "deploy", { properties: {} })?.id as string;
    ingress = polling(h);
    ingress.start();
    await h.waitUntil(() => h?.emulator.state.runs.get(id)?.agentClaim?.acked === true, "the run acknowledged", 3_000);
    expect(started).toBe(true);
    expect(h.emulator.state.terminalStatus(id)).toBeUndefined();
    release();
    await h.waitForTerminal([id]);
  });
});

ingressContract("polling", async (harness) => {
  declareAction(harness.emulator.state, deployAction);
  harness.emulator.state.claimLeaseMs = 100;
  const ingress = polling(harness);
  ingress.start();
  return {
    async deliver(values) {
      // Each record as Port queues it for an agent: the run, with its inputs; delivered again, it is offered again.
      const ids: string[] = [];
      for (const value of values) {
        let message: { context?: { runId?: string }; payload?: unknown };
        try {
          message = JSON.parse(value);
        } catch {
          // What Port's claim answer could hold that is no run at all.
          harness.emulator.state.strayClaims.push({ garbage: value.length });
          continue;
        }
        const id = message.context?.runId as string;
        const known = harness.emulator.state.runs.get(id)?.agentClaim;
        if (known?.acked) {
          // Delivered again: Port offers it again, as after a crash between the record and the ack.
          Object.assign(known, { acked: false, claimedUntilMs: null, offeredAgain: true });
          ids.push(id);
          continue;
        }
        const payload = message.payload as { properties?: Record<string, unknown> } | number;
        const run = triggerAction(harness.emulator.state, Date.now, "deploy", {
          id,
          properties: typeof payload === "object" ? (payload.properties ?? {}) : {},
        });
        // A run Port hands over without the action it is for: it cannot be run, and Port is told why.
        if (run && typeof payload !== "object") (run as { action?: unknown }).action = { title: "no identifier" };
        if (run) ids.push(run.id);
      }
      const deadline = Date.now() + 3_000;
      const acked = () => ids.every((id) => harness.emulator.state.runs.get(id)?.agentClaim?.acked);
      while (!acked() && Date.now() < deadline) await Bun.sleep(10);
      return { acked: acked() };
    },
    close: () => ingress.stop(),
  };
});
