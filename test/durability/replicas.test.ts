import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { ORG, runMessage, SINK_TOKEN } from "../support/harness.ts";
import { deliverBatch, emulatorEnv, startPortside, type PortsideProcess } from "../support/portside-process.ts";
import { readExecutions } from "../support/recording-handlers.ts";
import { getRedis } from "../support/redis.ts";

/**
 * Two portside processes behind one (imagined) load balancer, sharing a Redis ledger. The balancer
 * alternates batches between them, and then every batch is resent to the other one (as when a connector's
 * request times out at one replica and is resent to the other): both replicas execute a share of the runs,
 * and each run is executed once and reported once.
 */
const dir = mkdtempSync(join(tmpdir(), "portside-replicas-"));
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
const replicas: PortsideProcess[] = [];
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  emulatorServer.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

test("two replicas on one Redis ledger, batches balanced and then resent to the other: both execute, each run once", async () => {
  const redis = await getRedis();
  const db = 1 + Math.floor(Math.random() * 14);
  const client = new Redis(`${redis.url}/${db}`);
  await client.flushdb();
  await client.quit();
  const execLog = join(dir, "executions.log");
  const env = emulatorEnv(emulatorServer.port, ORG, SINK_TOKEN, { LEDGER: `${redis.url}/${db}`, EXEC_LOG: execLog, HANDLER_DELAY_MS: "5" });
  replicas.push(await startPortside(env), await startPortside(env));

  const ids = Array.from({ length: 1_000 }, (_, i) => `r_replica_${i}`);
  // Port has a run before it publishes its message; the emulator answers 404 for runs it was never told of.
  for (const id of ids) emulator.state.declareRun(id);
  const batches: string[] = [];
  for (let i = 0; i < ids.length; i += 50)
    batches.push(
      ids
        .slice(i, i + 50)
        .map((id) => JSON.stringify(runMessage(id)))
        .join("\n"),
    );
  const replica = (i: number) => replicas[i % 2] as PortsideProcess;
  const first = await Promise.all(batches.map((body, i) => deliverBatch(() => replica(i).url, "/sink/runs", body, SINK_TOKEN)));
  const resent = await Promise.all(batches.map((body, i) => deliverBatch(() => replica(i + 1).url, "/sink/runs", body, SINK_TOKEN)));
  expect(first.reduce((n, r) => n + (r.reply.accepted ?? 0), 0)).toBe(1_000);
  expect(resent.reduce((n, r) => n + (r.reply.duplicate ?? 0), 0)).toBe(1_000);

  const deadline = Date.now() + 60_000;
  while (ids.some((id) => !emulator.state.terminalStatus(id)) && Date.now() < deadline) await Bun.sleep(50);
  expect(ids.filter((id) => emulator.state.terminalStatus(id) !== "SUCCESS")).toEqual([]);

  const lines = readFileSync(execLog, "utf8");
  const { starts } = readExecutions(lines);
  expect([...starts.values()].filter((n) => n !== 1)).toEqual([]);
  expect(starts.size).toBe(1_000);
  for (const id of ids) expect(emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun")).toHaveLength(1);
  // The replicas share one Port token through Redis (one fetch per deployment, not per replica): no call
  // was refused for its token, and the token endpoint was hardly used.
  expect(emulator.state.calls.filter((c) => c.status === 401)).toEqual([]);
  expect(emulator.state.count("token")).toBeLessThanOrEqual(4);
  // Both replicas did work: each executed a real share (claims race, so the split is not exact).
  const byPid = new Map<string, number>();
  for (const line of lines.trim().split("\n"))
    if (line.startsWith("start ")) byPid.set(line.split(" ")[2] as string, (byPid.get(line.split(" ")[2] as string) ?? 0) + 1);
  console.log(`replicas: executions per process ${JSON.stringify(Object.fromEntries(byPid))}`);
  const pids = replicas.map((r) => String(r.proc.pid));
  for (const pid of pids) expect([pid, (byPid.get(pid) ?? 0) >= 100]).toEqual([pid, true]);
  expect([...byPid.keys()].sort()).toEqual([...pids].sort());
}, 120_000);
