import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteLedger } from "../../src/ledger/sqlite.ts";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";

/** Contract 1: connectors are at-least-once and resend whole batches, in any order. */
let h: Harness;
const dir = mkdtempSync(join(tmpdir(), "portside-redelivery-"));
afterEach(async () => {
  await h?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("every batch delivered twice, out of order and concurrently: each run executed once, reported once", async () => {
  const executed = new Map<string, number>();
  h = await createHarness({
    ledger: createSqliteLedger({ path: join(dir, "ledger.sqlite") }),
    handlers: {
      runs: {
        deploy: async (run) => {
          executed.set(run.id, (executed.get(run.id) ?? 0) + 1);
          await Bun.sleep(Math.random() * 3);
          return { summary: "ok" };
        },
      },
    },
  });
  const ids = Array.from({ length: 500 }, (_, i) => `r_twice_${i}`);
  const batches: string[] = [];
  for (let i = 0; i < ids.length; i += 20)
    batches.push(
      ids
        .slice(i, i + 20)
        .map((id) => JSON.stringify(runMessage(id)))
        .join("\n"),
    );
  // Each batch twice, shuffled (a seeded shuffle keeps failures reproducible).
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const deliveries = [...batches, ...batches]
    .map((b) => ({ b, k: random() }))
    .sort((x, y) => x.k - y.k)
    .map((x) => x.b);

  const replies: Array<Record<string, number>> = [];
  let next = 0;
  const sender = async () => {
    while (next < deliveries.length) {
      const res = await h.post("/sink/runs", deliveries[next++] as string);
      expect(res.status).toBe(200);
      replies.push((await res.json()) as Record<string, number>);
    }
  };
  await Promise.all([sender(), sender(), sender(), sender()]);
  await h.waitForTerminal(ids, 30_000);

  expect(replies.reduce((n, r) => n + (r.accepted ?? 0), 0)).toBe(500);
  expect(replies.reduce((n, r) => n + (r.duplicate ?? 0), 0)).toBe(500);
  expect([...executed.values()].every((n) => n === 1)).toBe(true);
  expect(executed.size).toBe(500);
  for (const id of ids) expect(h.emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun")).toHaveLength(1);
}, 60_000);
