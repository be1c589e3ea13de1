import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PortEmulator } from "../../src/emulator/port-emulator.ts";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createSqliteLedger } from "../../src/ledger/sqlite.ts";
import type { EventBridgeRunner } from "../../src/targets/eventbridge/runner.ts";
import { eventBridge } from "../../src/targets/eventbridge/target.ts";
import {
  eventBridgeEnv,
  eventBridgeTargets,
  keyOf,
  startEventBridgeServer,
  type EventBridgeServer,
  type ReceivedEntry,
} from "../support/eventbridge-server.ts";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "portside-eventbridge-restart-"));
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0)) await step();
});
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const boot = (server: EventBridgeServer, ledger: Ledger, emulator?: PortEmulator): Promise<Harness> =>
  createHarness({
    handlers: { runs: { create_vm: eventBridge() } },
    env: eventBridgeEnv(server),
    targets: eventBridgeTargets(),
    ledger,
    leaseMs: 300,
    ...(emulator ? { emulator } : {}),
  });

test("a restart while an entry is being retried loses nothing: the next start re-claims the run and publishes it", async () => {
  const path = join(dir, "ledger.sqlite");
  const ours = (e: ReceivedEntry) => keyOf(e) === "r_restart";

  // First process: EventBridge throttles the entry for as long as this process lives. (Each process gets
  // its own test endpoint, so a call the dying process had in flight cannot be confused with the next one's.)
  const throttling = startEventBridgeServer();
  throttling.throttleEntries(Infinity, ours);
  const firstLedger = createSqliteLedger({ path });
  cleanup.push(
    () => throttling.stop(),
    () => firstLedger.close(),
  );
  const first = await boot(throttling, firstLedger);
  expect((await first.post("/sink/runs", JSON.stringify(runMessage("r_restart", "create_vm")))).status).toBe(200);
  await first.waitUntil(() => throttling.triesOf(ours) >= 3, "a few throttled tries");

  // It dies mid-retry: no more tries, no report, no lease renewal. Nothing reached Port.
  (first.targets.eventbridge as EventBridgeRunner).close();
  await first.service.stop(0);
  expect(first.emulator.state.terminalStatus("r_restart")).toBeUndefined();
  expect(throttling.published).toEqual([]);

  // A new process opens the same ledger file; EventBridge has recovered.
  const healthy = startEventBridgeServer();
  const second = await boot(healthy, createSqliteLedger({ path }), first.emulator); // the same Port, which knows the run
  cleanup.push(
    () => second.stop(),
    () => healthy.stop(),
  );
  await second.waitForTerminal(["r_restart"]);

  expect(second.emulator.state.terminalStatus("r_restart")).toBe("SUCCESS");
  expect(healthy.published.map(keyOf)).toEqual(["r_restart"]);
  const started = second.logs
    .map((l) => JSON.parse(l) as { event: string; runId?: string; attempt?: number })
    .find((l) => l.event === "run.started" && l.runId === "r_restart");
  expect(started?.attempt).toBe(2);
  expect(await second.ledger.counts()).toMatchObject({ pendingWork: 0, runningWork: 0, doneWork: 1, deadLetters: 0 });
});
