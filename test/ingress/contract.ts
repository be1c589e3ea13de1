import { afterEach, describe, expect, test } from "bun:test";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { createHarness, type Harness, runMessage } from "../support/harness.ts";

/**
 * The one behaviour every ingress shares (as `test/ledger/contract.ts` is for ledgers): whatever the
 * transport, a batch is acknowledged only after the ledger committed every record of it; poison is parked
 * and never blocks the batch; a redelivered batch is counted duplicate and runs nothing twice; with the
 * ledger unavailable nothing is acknowledged, and the resend after it returns is. Each ingress supplies
 * how to deliver one batch of record values and how its sender learns of the ack.
 */
export interface IngressUnderTest {
  /**
   * Delivers `values` as one batch on the runs topic; `acked` is what the sender learns (a 2xx, committed
   * offsets). An ingress whose sender learns of an ack only by waiting (Kafka) waits a bounded time.
   */
  deliver(values: string[]): Promise<{ acked: boolean }>;
  close?(): Promise<void>;
}

export function ingressContract(
  name: string,
  make: (h: Harness) => IngressUnderTest | Promise<IngressUnderTest>,
  /** Settings the way in needs to be on (PORT_WEBHOOKS…). */
  env: Record<string, string> = {},
): void {
  describe(`${name} ingress contract`, () => {
    let h: Harness | undefined;
    let ingress: IngressUnderTest | undefined;
    afterEach(async () => {
      await ingress?.close?.();
      await h?.stop();
      h = ingress = undefined;
    });

    /** A harness over a ledger that can be taken down, recording when each commit completed. */
    async function setup() {
      const inner = createMemoryLedger();
      const state = { down: false, committedAt: [] as number[] };
      const ledger: Ledger = {
        ...inner,
        async commit(batch, now) {
          if (state.down) throw new Error("ledger unavailable (test)");
          const result = await inner.commit(batch, now);
          state.committedAt.push(performance.now());
          return result;
        },
      };
      const executed: string[] = [];
      h = await createHarness({ ledger, env, handlers: { runs: { deploy: async (run) => void executed.push(run.id) } } });
      ingress = await make(h);
      return { h, ingress, state, executed };
    }

    test("a batch is acknowledged only once every record of it is committed", async () => {
      const { h, ingress, state } = await setup();
      const ids = ["r_c_1", "r_c_2", "r_c_3"];
      const { acked } = await ingress.deliver(ids.map((id) => JSON.stringify(runMessage(id))));
      const ackedAt = performance.now();
      expect(acked).toBe(true);
      expect(state.committedAt.length).toBeGreaterThan(0);
      expect(Math.max(...state.committedAt)).toBeLessThanOrEqual(ackedAt);
      const counts = await h.ledger.counts();
      expect(counts.pendingWork + counts.runningWork + counts.doneWork).toBe(3);
      await h.waitForTerminal(ids);
    }, 30_000);

    test("poison is parked and the rest of the batch is accepted", async () => {
      const { h, ingress } = await setup();
      const { acked } = await ingress.deliver([
        JSON.stringify(runMessage("r_c_ok")),
        '{"not json": }',
        JSON.stringify({ ...runMessage("r_c_bad"), payload: 7 }),
      ]);
      expect(acked).toBe(true);
      await h.waitForTerminal(["r_c_ok", "r_c_bad"]);
      expect(h.emulator.state.terminalStatus("r_c_ok")).toBe("SUCCESS");
      expect(h.emulator.state.terminalStatus("r_c_bad")).toBe("FAILURE");
      expect((await h.ledger.listDeadLetters()).map((l) => l.runId)).toEqual([null, "r_c_bad"]);
    }, 30_000);

    test("a redelivered batch is counted duplicate and runs nothing twice", async () => {
      const { h, ingress, executed } = await setup();
      const batch = ["r_c_dup_1", "r_c_dup_2"].map((id) => JSON.stringify(runMessage(id)));
      expect((await ingress.deliver(batch)).acked).toBe(true);
      expect((await ingress.deliver(batch)).acked).toBe(true);
      await h.waitForTerminal(["r_c_dup_1", "r_c_dup_2"]);
      await Bun.sleep(50);
      expect(executed.sort()).toEqual(["r_c_dup_1", "r_c_dup_2"]);
      expect(h.service.stats().duplicate).toBe(2);
    }, 30_000);

    test("with the ledger unavailable nothing is acknowledged; the resend afterwards is", async () => {
      const { h, ingress, state } = await setup();
      const batch = [JSON.stringify(runMessage("r_c_down"))];
      state.down = true;
      expect((await ingress.deliver(batch)).acked).toBe(false);
      state.down = false;
      expect((await ingress.deliver(batch)).acked).toBe(true);
      await h.waitForTerminal(["r_c_down"]);
      expect(h.emulator.state.terminalStatus("r_c_down")).toBe("SUCCESS");
    }, 30_000);
  });
}
