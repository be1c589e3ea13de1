/**
 * CPU cost of one run's trip through the SQLite ledger, call by call, without HTTP or Port:
 * `bun test/bench/ledger-cycle.ts [rounds]`. Keeps a backlog of 5,000 runs, then repeats: accept 128 runs
 * (one commit), claim 128, finish them each with a terminal report, claim those reports, settle them
 * delivered. Random run ids, as Port's are; WAL and synchronous=FULL as in production. Prints
 * microseconds of CPU (user + system) per run for each call, measured around each awaited step.
 *
 * `--changes` does the same for changes fanned out to a target: each in a lane of its own entity (as
 * with ORDER_BY=entity), a 1.5 KB body, and no reports (a change reports nothing to Port).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteLedger } from "../../src/ledger/sqlite.ts";

const dir = mkdtempSync(join(tmpdir(), "portside-ledger-cycle-"));
const ledger = createSqliteLedger({ path: join(dir, "ledger.sqlite") });
const changes = process.argv.includes("--changes");
const body = JSON.stringify({ action: "bench", padding: "x".repeat(changes ? 1_500 : 500) });
const GROUP = 128;
const ROUNDS = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 300);
const cpu: Record<string, number> = {};
let n = 0;
const runId = () => `r_${Math.random().toString(36).slice(2)}${n++}`;
const records = (count: number) =>
  Array.from({ length: count }, () => {
    const id = runId();
    return changes
      ? { key: `change:${id}`, kind: "change" as const, body, source: "bench", lane: `change:entity:microservice/${id}` }
      : { key: `run:${id}`, kind: "run" as const, body, source: "bench", lane: null };
  });
async function step<T>(name: string, work: () => Promise<T>): Promise<T> {
  const before = process.cpuUsage();
  const result = await work();
  const used = process.cpuUsage(before);
  cpu[name] = (cpu[name] ?? 0) + used.user + used.system;
  return result;
}

for (let i = 0; i < 5_000; i += 100) await ledger.commit({ records: records(100), deadLetters: [], reports: [] }, Date.now());
for (let round = 0; round < ROUNDS; round++) {
  await step("commit", () => ledger.commit({ records: records(GROUP), deadLetters: [], reports: [] }, Date.now()));
  const items = await step("claimWork", () => ledger.claimWork({ owner: "bench", limit: GROUP, leaseMs: 60_000, now: Date.now() }));
  await step("finishWork", () =>
    Promise.all(
      items.map((item) =>
        ledger.finishWork(item.key, "bench", changes ? [] : [{ runId: item.key.slice(4), call: { kind: "update", patch: { status: "SUCCESS" } } }], Date.now()),
      ),
    ),
  );
  if (changes) continue;
  const reports = await step("claimReports", async () =>
    (await Promise.all([0, 1].map(() => ledger.claimReports({ owner: "bench", limit: 6_400, limitRuns: 64, leaseMs: 120_000, now: Date.now() })))).flat(),
  );
  await step("settleReport", () => Promise.all(reports.map((r) => ledger.settleReport(r.id, { type: "delivered" }, Date.now()))));
}
await ledger.close();
rmSync(dir, { recursive: true, force: true });
const runs = ROUNDS * GROUP;
let total = 0;
for (const [name, us] of Object.entries(cpu)) {
  total += us;
  console.log(`${name.padEnd(13)} ${(us / runs).toFixed(1).padStart(6)} µs CPU per ${changes ? "change" : "run"}`);
}
console.log(`${"total".padEnd(13)} ${(total / runs).toFixed(1).padStart(6)} µs CPU per ${changes ? "change" : "run"}`);
