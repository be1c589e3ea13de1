import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteLedger } from "../../src/ledger/sqlite.ts";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";

/**
 * Contract 2 and 5 on the Port side: while Port fails every call, then rate-limits with Retry-After,
 * then recovers, the outbox (a real SQLite file) keeps every report and delivers all of them, in order
 * per run: entity links and logs before the terminal status.
 */
let h: Harness;
const dir = mkdtempSync(join(tmpdir(), "portside-outage-"));
afterEach(async () => {
  await h?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a Port outage, then 429 with Retry-After, then recovery: every report delivered, in order per run", async () => {
  h = await createHarness({
    ledger: createSqliteLedger({ path: join(dir, "ledger.sqlite") }),
    handlers: {
      runs: {
        deploy: async (run) => {
          await run.log(`step 1 of ${run.id}`);
          await run.upsertEntity("deployment", { identifier: `d-${run.id}` });
          await run.log(`step 2 of ${run.id}`);
          return { summary: `done ${run.id}`, link: `https://ci.example.com/${run.id}` };
        },
      },
    },
  });
  const state = h.emulator.state;
  state.failNext(150, 503); // every call fails, token requests included
  const ids = Array.from({ length: 40 }, (_, i) => `r_outage_${i}`);
  const res = await h.post("/sink/runs", ids.map((id) => JSON.stringify(runMessage(id, "deploy", { entity: `svc-${id}` }))).join("\n"));
  expect(await res.json()).toMatchObject({ accepted: 40 });

  // The outage is consumed by retries; then Port rate-limits for a while, asking for 1 s.
  await h.waitUntil(() => state.faults.length === 0, "the outage to be retried through", 30_000);
  state.rateLimitNext(30, 1);
  await h.waitForTerminal(ids, 60_000);

  const answered = state.calls.filter((c) => c.status === 503 || c.status === 429);
  expect(answered.filter((c) => c.status === 503)).toHaveLength(150);
  expect(answered.filter((c) => c.status === 429)).toHaveLength(30);
  for (const id of ids) {
    const delivered = state
      .callsFor(id)
      .filter((c) => c.status < 300)
      .map((c) => c.endpoint);
    // Order per run: the entity link and the (joined) logs, then the terminal status — each once.
    expect(delivered).toEqual(["upsertEntity", "postLog", "patchRun"]);
    expect(state.logsFor(id)).toEqual([`step 1 of ${id}\nstep 2 of ${id}`]);
    expect(state.runs.get(id)).toMatchObject({
      status: "SUCCESS",
      summary: `done ${id}`,
      linkedEntities: [{ blueprint: "deployment", identifier: `d-${id}` }],
    });
  }
  const counts = await h.ledger.counts();
  expect(counts.pendingReports).toBe(0);
  expect(counts.failedReports).toBe(0);
}, 90_000);
