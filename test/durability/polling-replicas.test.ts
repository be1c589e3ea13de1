import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { declareAction, triggerAction } from "../../src/emulator/port-emulator-actions.ts";
import { queueNodeRun } from "../../src/emulator/port-emulator-polling.ts";
import { ORG, SINK_TOKEN } from "../support/harness.ts";
import { redisLedgerLookup, startPollingPort, startWebhookReceiver } from "../support/polling-port.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";
import { readExecutions } from "../support/recording-handlers.ts";
import { getRedis } from "../support/redis.ts";

/**
 * Two portside processes polling Port for one organisation, sharing a Redis ledger, while runs keep
 * coming: Port hands each run to one claimer, each replica claims a share, acknowledges only what the
 * shared ledger holds, and every run is executed once (by whichever replica's executor takes it) and
 * reported once.
 */
const RUNS = 2_000;
const NODE_RUNS = 100;
const ADMIN_TOKEN = "polling-admin-token-0123456789";
const dir = mkdtempSync(join(tmpdir(), "portside-polling-replicas-"));
const port = startPollingPort();
const { emulator } = port;
const receiver = startWebhookReceiver();
const replicas: PortsideProcess[] = [];
let closeLookup: (() => Promise<void>) | undefined;

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.crash()));
  await closeLookup?.();
  port.stop();
  receiver.stop();
  rmSync(dir, { recursive: true, force: true });
});

test(`two replicas polling one organisation on a Redis ledger, ${RUNS} runs and ${NODE_RUNS} node runs: each claimed by one, acknowledged once recorded, executed once, each replica a share`, async () => {
  const redis = await getRedis();
  const db = 1 + Math.floor(Math.random() * 14);
  const ledgerUrl = `${redis.url}/${db}`;
  const client = new Redis(ledgerUrl);
  await client.flushdb();
  await client.quit();
  const { lookup, close } = redisLedgerLookup(ledgerUrl);
  closeLookup = close;
  port.ledgerHolds = lookup;
  declareAction(emulator.state, { identifier: "deploy", invocationMethod: { type: "WEBHOOK", url: `${receiver.url}/never-called`, agent: true } });

  const execLog = join(dir, "executions.log");
  const env = emulatorEnv(port.port, ORG, SINK_TOKEN, {
    PORT_POLLING: "true",
    POLLING_INTERVAL_MS: "100",
    POLLING_BATCH: "50",
    LEDGER: ledgerUrl,
    EXEC_LOG: execLog,
    HANDLER_DELAY_MS: "5",
    ADMIN_TOKEN,
  });
  replicas.push(...(await Promise.all([startPortside(env), startPortside(env)])));
  const stats = async (r: PortsideProcess) => {
    const res = await fetch(`${r.url}/admin/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return ((await res.json()) as { ingresses: { polling: { status: string; claimed: number; acknowledged: number } } }).ingresses.polling;
  };
  // Both polling before the runs come, so each meets them.
  const deadline = Date.now() + 20_000;
  while ((await Promise.all(replicas.map(stats))).some((s) => s.status !== "polling") && Date.now() < deadline) await Bun.sleep(50);

  // Port queues runs as people trigger them: 100 runs and 5 node runs every 50 ms.
  const runIds = Array.from({ length: RUNS }, (_, i) => `r_preplica_${i}`);
  const nodeIds = Array.from({ length: NODE_RUNS }, (_, i) => `wfnr_preplica_${i}`);
  for (let wave = 0; wave < RUNS / 100; wave++) {
    for (const id of runIds.slice(wave * 100, wave * 100 + 100)) triggerAction(emulator.state, Date.now, "deploy", { properties: {}, id });
    for (const id of nodeIds.slice(wave * 5, wave * 5 + 5))
      queueNodeRun(emulator.state, { type: "WEBHOOK", url: `${receiver.url}/node`, agent: true, synchronized: true }, id);
    await Bun.sleep(50);
  }
  const all = [...runIds, ...nodeIds];
  const until = Date.now() + 60_000;
  while (all.some((id) => !emulator.state.ended(id)) && Date.now() < until) await Bun.sleep(50);
  expect(all.filter((id) => !emulator.state.ended(id))).toEqual([]);

  // Port handed each run to one claimer once; each was acknowledged once, only once the shared ledger held it.
  expect(all.filter((id) => port.claimed.get(id) !== 1)).toEqual([]);
  expect(all.filter((id) => port.acked.get(id) !== 1)).toEqual([]);
  expect(port.acksChecked).toBeGreaterThan(NODE_RUNS);
  expect(port.ackedUncommitted).toEqual([]);

  // Each replica claimed a share, and between them every run (nothing claimed twice, nothing missed).
  const claimedBy = await Promise.all(replicas.map(stats));
  console.log(`polling replicas: claimed per replica ${claimedBy.map((s) => s.claimed).join(", ")}`);
  expect(claimedBy.reduce((n, s) => n + s.claimed, 0)).toBe(all.length);
  for (const s of claimedBy) expect(s).toMatchObject({ status: "polling", acknowledged: s.claimed });
  for (const s of claimedBy) expect(s.claimed).toBeGreaterThanOrEqual(all.length / 10);

  // Executed once, reported once, SUCCESS; both replicas' executors ran a share.
  const lines = readFileSync(execLog, "utf8");
  const { starts } = readExecutions(lines);
  expect(starts.size).toBe(RUNS);
  expect([...starts.values()].filter((n) => n !== 1)).toEqual([]);
  const terminalPatches = (id: string) =>
    emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun" && c.status < 300 && (c.body as { status?: string }).status);
  expect(runIds.filter((id) => terminalPatches(id).length !== 1 || emulator.state.terminalStatus(id) !== "SUCCESS")).toEqual([]);
  const byPid = new Map<string, number>();
  for (const line of lines.split("\n"))
    if (line.startsWith("start ")) byPid.set(line.split(" ")[2] as string, (byPid.get(line.split(" ")[2] as string) ?? 0) + 1);
  console.log(`polling replicas: executions per process ${JSON.stringify(Object.fromEntries(byPid))}`);
  expect([...byPid.keys()].sort()).toEqual(replicas.map((r) => String(r.proc.pid)).sort());
  for (const n of byPid.values()) expect(n).toBeGreaterThanOrEqual(RUNS / 10);

  // Node runs: forwarded once each, COMPLETED once.
  expect([...receiver.received.keys()].sort()).toEqual([...nodeIds].sort());
  expect([...receiver.received.values()].filter((n) => n !== 1)).toEqual([]);
  const completions = (id: string) =>
    emulator.state.callsFor(id).filter((c) => c.endpoint === "patchNodeRun" && c.status < 300 && (c.body as { status?: string }).status === "COMPLETED");
  expect(nodeIds.filter((id) => completions(id).length !== 1)).toEqual([]);
  // The replicas share one Port token through Redis.
  expect(emulator.state.calls.filter((c) => c.status === 401)).toEqual([]);
}, 120_000);
