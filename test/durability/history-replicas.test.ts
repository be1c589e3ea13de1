import { afterAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { runCli } from "../../src/entry/cli.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { ORG, runMessage, SINK_TOKEN } from "../support/harness.ts";
import { deliverBatch, emulatorEnv, startPortside, type PortsideProcess } from "../support/portside-process.ts";
import { getRedis } from "../support/redis.ts";

/**
 * The run history is the ledger's: two replicas on one Redis ledger, each fed a share of the runs, both
 * show every run (JSON, console and CLI) — and after both restart, still all of them.
 */
const ADMIN = "history-admin-token-0123456789";
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
const replicas: PortsideProcess[] = [];
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  emulatorServer.stop(true);
});

test("two replicas on Redis, runs spread between them: each shows all of them, before and after a restart of both", async () => {
  const redis = await getRedis();
  const db = 1 + Math.floor(Math.random() * 14);
  const client = new Redis(`${redis.url}/${db}`);
  await client.flushdb();
  await client.quit();
  const env = emulatorEnv(emulatorServer.port, ORG, SINK_TOKEN, { LEDGER: `${redis.url}/${db}`, ADMIN_TOKEN: ADMIN });
  replicas.push(await startPortside(env), await startPortside(env));

  const ids = Array.from({ length: 40 }, (_, i) => `r_history_${String(i).padStart(2, "0")}`);
  for (const id of ids) emulator.state.declareRun(id);
  await Promise.all(ids.map((id, i) => deliverBatch(() => (replicas[i % 2] as PortsideProcess).url, "/sink/runs", JSON.stringify(runMessage(id)), SINK_TOKEN)));
  const deadline = Date.now() + 30_000;
  while (ids.some((id) => !emulator.state.terminalStatus(id)) && Date.now() < deadline) await Bun.sleep(50);

  const admin = { authorization: `Bearer ${ADMIN}` };
  async function seenBy(replica: PortsideProcess) {
    const list = (await (await fetch(`${replica.url}/admin/runs?limit=100`, { headers: admin })).json()) as { items: { runId: string; phase: string }[] };
    const page = await (await fetch(`${replica.url}/console`, { headers: admin })).text();
    const lines: string[] = [];
    expect(await runCli(["runs", "list", "--limit", "100"], { PORTSIDE_URL: replica.url, ADMIN_TOKEN: ADMIN }, (l) => lines.push(l))).toBe(0);
    const story = (await (await fetch(`${replica.url}/admin/runs/${ids[0]}`, { headers: admin })).json()) as { phase: string; events: { what: string }[] };
    return {
      json: list.items.map((r) => `${r.runId} ${r.phase}`).sort(),
      console: ids.filter((id) => page.includes(`/console/runs/${id}"`)),
      cli: lines.map((l) => l.split(/\s+/)[0]).sort(),
      story: [story.phase, story.events.map((e) => e.what).join(" ")],
    };
  }
  const expected = {
    json: ids.map((id) => `${id} SUCCESS`),
    console: ids,
    cli: ids,
    story: ["SUCCESS", "received started ended port log port"],
  };
  for (const replica of replicas) expect(await seenBy(replica)).toEqual(expected);

  // Both restart: nothing about the runs was only in their memory.
  for (const replica of replicas.splice(0)) await replica.stop();
  replicas.push(await startPortside(env), await startPortside(env));
  for (const replica of replicas) expect(await seenBy(replica)).toEqual(expected);
}, 120_000);
