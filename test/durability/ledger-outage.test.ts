import { afterAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createRedisLedger } from "../../src/ledger/redis.ts";
import { createSqliteLedger } from "../../src/ledger/sqlite.ts";
import { createHarness, type Harness, runMessage } from "../support/harness.ts";
import { freePort } from "../support/net.ts";

/**
 * The ledger goes away while handlers are finishing: SQLite locked by another process, Redis stopped and
 * started again. Handlers that succeeded are reported SUCCESS with their logs and entity links — their
 * result waits in memory and is written once the ledger is back — never as "portside stopped". The
 * leases (2 s here) run out during the outage, as they would in a longer one.
 */
const dir = mkdtempSync(join(tmpdir(), "portside-outage-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ids = Array.from({ length: 12 }, (_, i) => `r_outage_${i}`);

/** A harness whose handlers log, link an entity, and wait at a gate the test opens during the outage. */
async function gatedHarness(ledger: Ledger): Promise<{ h: Harness; started: Set<string>; open: () => void }> {
  let open = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  const started = new Set<string>();
  const h = await createHarness({
    ledger,
    leaseMs: 2_000,
    handlers: {
      runs: {
        deploy: async (run) => {
          started.add(run.id);
          await run.log(`deploying ${run.id}`);
          await gate;
          await run.upsertEntity("deployment", { identifier: `d-${run.id}` });
          await run.log(`deployed ${run.id}`);
          return { summary: `done ${run.id}` };
        },
      },
    },
  });
  return { h, started, open };
}

async function expectAllSucceeded(h: Harness) {
  await h.waitForTerminal(ids, 60_000);
  for (const id of ids) {
    expect([id, h.emulator.state.runs.get(id)?.status, h.emulator.state.runs.get(id)?.summary]).toEqual([id, "SUCCESS", `done ${id}`]);
    expect(h.emulator.state.logsFor(id).join("\n")).toBe(`deploying ${id}\ndeployed ${id}`);
    expect(h.emulator.state.runs.get(id)?.linkedEntities).toEqual([{ blueprint: "deployment", identifier: `d-${id}` }]);
  }
  // The outage was met (a finish was retried), and nothing was reported as interrupted.
  expect(h.logs.some((line) => line.includes('"executor.finish_retry"'))).toBe(true);
  expect(h.logs.filter((line) => line.includes("run.interrupted"))).toEqual([]);
}

test("SQLite locked by another process while handlers finish: every run SUCCESS with its logs", async () => {
  const path = join(dir, "ledger.sqlite");
  const { h, started, open } = await gatedHarness(createSqliteLedger({ path }));
  try {
    await h.post("/sink/runs", ids.map((id) => JSON.stringify(runMessage(id))).join("\n"));
    await h.waitUntil(() => started.size === ids.length, "every handler to start");
    // Another process holds the write lock for 8 s (longer than busy_timeout, so writes fail and are retried).
    const holder = spawn(
      process.execPath,
      [
        "-e",
        `const { Database } = require("bun:sqlite"); const db = new Database(${JSON.stringify(path)}); db.run("PRAGMA busy_timeout = 10000"); db.run("BEGIN EXCLUSIVE"); console.log("locked"); setTimeout(() => { db.run("COMMIT"); db.close(); }, 8000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve) => holder.stdout?.once("data", () => resolve()));
    open();
    await new Promise((resolve) => holder.once("exit", resolve));
    await expectAllSucceeded(h);
  } finally {
    await h.stop();
  }
}, 90_000);

test("Redis stopped and started again while handlers finish: every run SUCCESS with its logs", async () => {
  const binary = Bun.which("redis-server");
  if (!binary) throw new Error("redis-server is not on PATH: this test stops and restarts its own server (npm test's prerequisites install it)");
  const port = await freePort();
  const data = mkdtempSync(join(dir, "redis-"));
  // appendfsync always, as production needs for "ack means safe": the restart keeps every acknowledged write.
  const startRedis = async () => {
    const child = spawn(
      binary,
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", data, "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
      { stdio: "ignore" },
    );
    for (let i = 0; i < 100; i++) {
      const answered = await fetch(`http://127.0.0.1:${port}`).then(
        () => true,
        (error: { code?: string }) => error.code !== "ConnectionRefused",
      );
      if (answered) return child;
      await Bun.sleep(50);
    }
    throw new Error("redis-server did not start");
  };
  let redis = await startRedis();
  const { h, started, open } = await gatedHarness(createRedisLedger({ url: `redis://127.0.0.1:${port}` }));
  try {
    await h.post("/sink/runs", ids.map((id) => JSON.stringify(runMessage(id))).join("\n"));
    await h.waitUntil(() => started.size === ids.length, "every handler to start");
    redis.kill("SIGTERM");
    await new Promise((resolve) => redis.once("exit", resolve));
    open();
    await Bun.sleep(5_000); // longer than the leases
    redis = await startRedis();
    await expectAllSucceeded(h);
  } finally {
    await h.stop();
    redis.kill("SIGKILL");
  }
}, 90_000);
