import { afterEach, expect, test } from "bun:test";
import type { Ledger, PendingReport } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { createHarness, type Harness, runMessage } from "../support/harness.ts";

/**
 * A finished run's reports go from the executor's finish straight to the reporter of the same process,
 * claimed in the finish (`Ledger.finishWorkAndClaim`): no wake-up and no claim of the outbox between the
 * handler's end and the call to Port. Where that cannot be (a store without the call, reports queued
 * behind earlier ones), the outbox's claim delivers them, as before.
 */
let harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses) await h.stop().catch(() => undefined);
  harnesses = [];
});

/** A memory ledger that says which runs' reports each claim of the outbox handed out. */
function watched(ledger: Ledger): { ledger: Ledger; claimedFromOutbox: string[] } {
  const claimedFromOutbox: string[] = [];
  return {
    claimedFromOutbox,
    ledger: {
      ...ledger,
      async claimReports(opts) {
        const reports: PendingReport[] = await ledger.claimReports(opts);
        for (const r of reports) claimedFromOutbox.push(r.runId);
        return reports;
      },
    },
  };
}

const handlers = {
  runs: {
    deploy: async (run: { log(message: string): void }) => {
      run.log("deploying");
      return { status: "SUCCESS" as const, summary: "deployed" };
    },
  },
};

test("a run's log and status reach Port from its finish: the outbox is never claimed for them", async () => {
  const store = watched(createMemoryLedger());
  const h = await createHarness({ handlers, ledger: store.ledger });
  harnesses.push(h);
  const ids = ["r_handoff_1", "r_handoff_2", "r_handoff_3"];
  const res = await h.post("/sink/runs", JSON.stringify(ids.map((id) => runMessage(id))));
  expect(res.status).toBe(200);
  await h.waitForTerminal(ids);
  for (const id of ids) {
    expect(h.emulator.state.terminalStatus(id)).toBe("SUCCESS");
    expect(h.emulator.state.callsFor(id).map((c) => c.endpoint)).toEqual(["postLog", "patchRun"]);
  }
  expect(store.claimedFromOutbox).toEqual([]);
  expect(await h.ledger.counts()).toMatchObject({ pendingReports: 0, runningWork: 0 });
});

test("a store without the call: the same run's reports are claimed from the outbox and reach Port the same", async () => {
  const { finishWorkAndClaim: _left, ...plain } = createMemoryLedger();
  const store = watched(plain);
  const h = await createHarness({ handlers, ledger: store.ledger });
  harnesses.push(h);
  await h.post("/sink/runs", JSON.stringify(runMessage("r_plain")));
  await h.waitForTerminal(["r_plain"]);
  expect(h.emulator.state.callsFor("r_plain").map((c) => c.endpoint)).toEqual(["postLog", "patchRun"]);
  expect(store.claimedFromOutbox).toEqual(["r_plain", "r_plain"]);
});
