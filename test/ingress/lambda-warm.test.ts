import { afterAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { getRedis } from "../support/redis.ts";

/**
 * A warm AWS Lambda instance over many invocations (test/support/lambda-warm.ts runs the real entry in a
 * process of its own, which reports its resident size after each invocation): its ledger is purged as the
 * service's is, and a handler that hangs holds up only its own batch.
 */
const repo = new URL("../..", import.meta.url).pathname;
const ORG = "org_warm";
// Port, answering every report at once (a token for the token endpoint).
const port = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (req) => {
    if (new URL(req.url).pathname === "/v1/auth/access_token") return Response.json({ ok: true, accessToken: "t", expiresIn: 3 * 3600 });
    return Response.json({ ok: true }, { status: req.method === "POST" ? 201 : 200 });
  },
});
afterAll(() => port.stop(true));

interface Invocation {
  i: number;
  ok: boolean;
  error?: string;
  rssMb: number;
  heapMb: number;
}

async function warmInstance(invocations: number, runs: number, env: Record<string, string>): Promise<Invocation[]> {
  const child = Bun.spawn([process.execPath, "test/support/lambda-warm.ts", String(invocations), String(runs)], {
    cwd: repo,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      ORG_ID: ORG,
      PORT_API_URL: `http://127.0.0.1:${port.port}`,
      PORT_CLIENT_ID: "id",
      PORT_CLIENT_SECRET: "secret",
      LOG_LEVEL: "error",
      MEMORY_LIMIT_MB: "0",
      ...env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  await child.exited;
  const lines = out.split("\n").filter((line) => line.startsWith("{"));
  if (lines.length === 0) throw new Error(`the warm instance printed nothing:\n${out}\n${err}`);
  return lines.map((line) => JSON.parse(line) as Invocation);
}

const HOURS = 3600_000;

test("a warm instance on the memory ledger forgets what is older than RETENTION_HOURS: memory stays flat over 30,000 runs", async () => {
  const seen = await warmInstance(60, 500, { RETENTION_HOURS: "1", WARM_CLOCK_STEP_MS: String(2 * HOURS) });
  expect(seen.filter((s) => !s.ok)).toEqual([]);
  const [early, late] = [seen[4] as Invocation, seen.at(-1) as Invocation];
  console.log(
    `[memory] warm Lambda, memory ledger, 30,000 runs: resident ${early.rssMb} MB after 2,500 runs → ${late.rssMb} MB; live heap ${early.heapMb} → ${late.heapMb} MB`,
  );
  // Before: the ledger kept every run (~1.7 MB per 1,000): about +45 MB over these 27,500 runs.
  expect(late.heapMb - early.heapMb).toBeLessThan(5);
  expect(late.rssMb - early.rssMb).toBeLessThan(20);
}, 120_000);

test("a warm instance on a Redis ledger purges it: keys stay few over 5,000 runs", async () => {
  const url = `${(await getRedis()).url}/${1 + Math.floor(Math.random() * 14)}`;
  const redis = new Redis(url);
  try {
    await redis.flushdb();
    const seen = await warmInstance(10, 500, { LEDGER: url, RETENTION_HOURS: "1", WARM_CLOCK_STEP_MS: String(2 * HOURS) });
    expect(seen.filter((s) => !s.ok)).toEqual([]);
    const keys = await redis.dbsize();
    const memory = /used_memory:(\d+)/.exec(await redis.info("memory"))?.[1];
    console.log(`[memory] warm Lambda, Redis ledger, 5,000 runs: ${keys} keys left, Redis using ${(Number(memory) / 1024 / 1024).toFixed(1)} MB`);
    // Without the purge every run keeps its keys for good: 3 a run (its work, its report, its report
    // history), 15,000 here. With it only the last invocation's 500 runs are left (~1,500).
    expect(keys).toBeLessThan(1_700);
  } finally {
    await redis.flushdb();
    await redis.quit();
  }
}, 120_000);

test("a handler that hangs fails only its own invocation: every later one finishes, with memory flat", async () => {
  const seen = await warmInstance(10, 400, { WARM_HANG: "1", WARM_REMAINING_MS: "3000" });
  const [hung, ...later] = seen;
  expect(hung).toMatchObject({ i: -1, ok: false });
  // Before: each later invocation waited for the hung handler and threw ("1 handlers running, … undelivered").
  expect(later.filter((s) => !s.ok)).toEqual([]);
  expect(hung?.error).toMatch(/\(1 of its records unfinished/);
  expect(later).toHaveLength(10);
  const [early, late] = [later[1] as Invocation, later.at(-1) as Invocation];
  console.log(
    `[memory] warm Lambda with a hung handler, 4,000 runs after it: resident ${early.rssMb} → ${late.rssMb} MB; live heap ${early.heapMb} → ${late.heapMb} MB`,
  );
  // Runs are remembered for RETENTION_HOURS (~1.7 MB per 1,000): what grows is that and nothing of the hung run's.
  expect(late.rssMb - early.rssMb).toBeLessThan(25);
}, 120_000);
