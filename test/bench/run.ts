/**
 * `bun run bench` — portside's benchmark. One run measures, side by side on this machine:
 *   1 ack throughput through /sink/runs (JSON array and newline bodies) against a parse+validate baseline
 *   2 completed runs/s, sustained: ack → handler → terminal status at the Port emulator
 *   3 ack latency per 100-record batch at half the maximum ack rate
 *   4 through Kafka: real broker → real Connect worker → portside → emulator; produce → handler start
 *   5 peak RSS of portside during 2
 *   6 scaling: Redis ledger with 1 and 2 replicas against SQLite
 *   7 a 429 window: Port refuses every call for a while under steady load; Port calls per second during
 *     the window, and how long the reports held back take to reach Port once it is over
 *   8 /healthz latency while one hostile body (200,000 tiny bad records; unbalanced brackets) is handled
 *   9 catalog changes fanned out to EventBridge: changes/s end to end (SQLite, Redis), call fill, a lone change
 *  10 scaling: changes/s and runs/s against CONCURRENCY and the batch size, with portside's CPU
 *  11 the other ways in: polling Port in place of its execution agent (runs/s, Port calls per run by
 *     endpoint), with a handler and forwarded as the agent forwards, and Port's signed webhooks against
 *     single-record sink requests (runs/s acknowledged, latency to the answer, portside CPU per run)
 *  12 the change burst of 9 against a hand-made durable forwarder (test/bench/fanout-baseline.ts), alternating,
 *     with the CPU each spends per 10,000 changes
 * and prints a table; the full mode also writes BENCHMARKS.md at the repository root.
 *
 *   bun run bench              full (60 s sustained run; ~8 min with Kafka start)
 *   bun run bench --short      CI (a few minutes): same phases, shorter; prints figures, writes no file
 *   options: --only=1,2,4,7 (phases; default all, 1–12), --out=<file>, --profile=1,2,9,12 (a CPU profile of portside during 2; for
 *            1, 9 and 12, of a load of its own after the figure, so the figure itself is not profiled),
 *            --no-kafka, --concurrency=<n>
 * Every process (emulator, baseline, portside, load generators, producer) is its own; everything is on
 * loopback. Nothing here asserts on speed: the figures are printed, and targets are reported as met or not.
 */
import { execSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readConnectorFile, registerConnector } from "../../connectors/register.ts";
import { createTopics } from "../support/kafka.ts";
import { fanoutPhases } from "./fanout.ts";
import { summariseProfile } from "./profile.ts";
import { healthDuringHostileBody, manyBadRecords, strayBrackets } from "./stall.ts";
import { waysInPhase } from "./ways-in.ts";
import { procMemory, repo, runLoad, startPortside, startRedis, startScript, stopAll, track, type Proc, type PortsideProc } from "./procs.ts";

const { values: flags } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    short: { type: "boolean" },
    only: { type: "string" },
    out: { type: "string" },
    profile: { type: "string" },
    "no-kafka": { type: "boolean" },
    concurrency: { type: "string" },
    "bun-flags": { type: "string" },
  },
});
const short = flags.short === true;
/** Phases to take a CPU profile of portside in (`--profile=1,2,9`). */
const profiled = new Set((flags.profile ?? "").split(",").filter(Boolean).map(Number));
const phases = new Set((flags.only ?? "1,2,3,4,5,6,7,8,9,10,11,12").split(",").map((s) => Number(s.trim())));
if (phases.has(5)) phases.add(2);
if (phases.has(3)) phases.add(1);
const outFile = flags.out ?? (short || flags.only ? null : join(repo, "BENCHMARKS.md"));
const command = `bun run bench${Bun.argv.slice(2).length ? ` ${Bun.argv.slice(2).join(" ")}` : ""}`;

const S = short
  ? {
      ackMs: 4_000,
      ackWarmMs: 1_000,
      sustainMs: 12_000,
      sustainWarmMs: 3_000,
      latencyMs: 5_000,
      latencyWarmMs: 1_000,
      kafkaBurst: 20_000,
      kafkaPacedMs: 10_000,
      scaleAckMs: 4_000,
      scaleSustainMs: 8_000,
      rateWarmMs: 3_000,
      // Long enough that the calls already in flight when the window opens do not decide the figure alone.
      rateWindowMs: 20_000,
    }
  : {
      ackMs: 15_000,
      ackWarmMs: 2_000,
      sustainMs: 60_000,
      sustainWarmMs: 5_000,
      latencyMs: 20_000,
      latencyWarmMs: 2_000,
      kafkaBurst: 100_000,
      kafkaPacedMs: 30_000,
      scaleAckMs: 10_000,
      scaleSustainMs: 20_000,
      rateWarmMs: 5_000,
      rateWindowMs: 30_000,
    };
const BATCH = 100;
const ACK_CONNECTIONS = 8;
const SUSTAIN_CONNECTIONS = 4;
/** Phase 7's steady load: 20 requests of 10 runs a second. */
const RATE_WINDOW_LOAD = { batch: 10, batchesPerSec: 20 };
const MAX_BACKLOG = 10_000;
const CONCURRENCY = flags.concurrency ?? "256";
/** Flags for the portside processes' bun, e.g. `--bun-flags=--smol` (none by default: as `bun src/entry/main.ts`). */
const BUN_FLAGS = (flags["bun-flags"] ?? "").split(" ").filter(Boolean);
const KAFKA_PARTITIONS = 3;
const ORG = `org_bench_${randomBytes(3).toString("hex")}`;
/** The emulator's client secret: portside's PORT_CLIENT_SECRET, and what Port signs its webhooks with. */
const CLIENT_SECRET = "emulator-client-secret";
const TOKEN = `bench_${randomBytes(16).toString("hex")}`;
const work = mkdtempSync(join(tmpdir(), "portside-bench-"));

const log = (line: string) => console.log(`[bench] ${line}`);
const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "n/a";
const mb = (bytes: number) => bytes / (1024 * 1024);

// ----------------------------------------------------------------------------------------------- results
interface Row {
  id: string;
  measurement: string;
  value: string;
  target: string;
  verdict: string;
}
const rows: Row[] = [];
const details: string[] = [];
const started = new Date();
function row(id: string, measurement: string, value: string, target = "", met?: boolean, gap?: string) {
  const verdict = met === undefined ? "" : met ? "met" : `MISSED${gap ? ` (${gap})` : ""}`;
  rows.push({ id, measurement, value, target, verdict });
  log(`${id} ${measurement}: ${value}${target ? `  [target ${target}${verdict ? `: ${verdict}` : ""}]` : ""}`);
}

// ---------------------------------------------------------------------------------------------- helpers
const procs: Proc[] = [];
let emulator: Proc;
async function emulatorStats(): Promise<{
  calls: Record<string, number>;
  terminal: number;
  success: number;
  failure: number;
  refused: number;
  lastTerminalAt: number;
  window: { startAt: number; endAt: number; calls: number; refused: number };
}> {
  return (await (await fetch(`${emulator.url}/__bench/stats`)).json()) as never;
}
const resetEmulator = async () => void (await fetch(`${emulator.url}/__bench/reset`, { method: "POST" }));

let ledgerSeq = 0;
function sqliteLedger(): string {
  const dir = join(work, `ledger-${++ledgerSeq}`);
  mkdirSync(dir, { recursive: true });
  return `sqlite:${join(dir, "ledger.sqlite")}`;
}

/** What every portside of the benchmark is given: the organisation, the sink token, the Port emulator. */
const baseEnv = () => ({
  ORG_ID: ORG,
  SINK_TOKEN: TOKEN,
  PORT_API_URL: emulator.url,
  PORT_CLIENT_ID: "emulator-client-id",
  PORT_CLIENT_SECRET: CLIENT_SECRET,
});

async function portside(ledger: string, extra: Record<string, string> = {}, cpuProfDir?: string): Promise<PortsideProc> {
  return startPortside({
    env: {
      ...baseEnv(),
      HANDLERS: "test/bench/noop-handlers.ts",
      LEDGER: ledger,
      CONCURRENCY,
      ...extra,
    },
    ...(cpuProfDir ? { cpuProfDir } : {}),
    ...(BUN_FLAGS.length ? { bunFlags: BUN_FLAGS } : {}),
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await Bun.sleep(100);
  }
  return false;
}

interface ClosedResult {
  records: number;
  recordsPerSec: number;
  errors: number;
  lastError?: string;
  latencyMs: { p50: number; p99: number };
}
interface RateResult {
  requests: number;
  /** Runs in requests answered 2xx. */
  acked: number;
  recordsPerSec: number;
  errors: number;
  lastError?: string;
  latencyMs: { p50: number; p90: number; p99: number; max: number; n: number };
}

/** `declare`: the runs go to portside, which reports them to the emulator, so the emulator must know them first. */
const closed = (urls: string[], form: "array" | "ndjson", idPrefix: string, durationMs = S.ackMs, declare = true) =>
  runLoad<ClosedResult>({
    ...(declare ? { declareUrl: emulator.url } : {}),
    mode: "closed",
    urls,
    path: "/sink/runs",
    token: TOKEN,
    orgId: ORG,
    form,
    batch: BATCH,
    durationMs,
    warmupMs: S.ackWarmMs,
    connections: ACK_CONNECTIONS,
    idPrefix,
  });

/** Sustained completion: load kept at most MAX_BACKLOG runs ahead of the emulator's terminal count. */
async function sustained(targets: PortsideProc[], idPrefix: string, durationMs: number, warmMs: number) {
  await resetEmulator();
  const samples: Array<{ t: number; terminal: number }> = [];
  let peakRss = 0;
  let sampling = true;
  const t0 = Date.now();
  const cpu0 = targets.map((p) => p.cpu());
  const sampler = (async () => {
    while (sampling) {
      const s = await emulatorStats();
      samples.push({ t: Date.now() - t0, terminal: s.terminal });
      for (const p of targets) peakRss = Math.max(peakRss, p.memory().rss);
      await Bun.sleep(250);
    }
  })();
  const load = await runLoad<{ acked: number; errors: number; lastError?: string }>({
    mode: "sustain",
    urls: targets.map((p) => p.url),
    path: "/sink/runs",
    token: TOKEN,
    orgId: ORG,
    form: "array",
    batch: BATCH,
    durationMs: durationMs + warmMs,
    connections: SUSTAIN_CONNECTIONS,
    maxBacklog: MAX_BACKLOG,
    statsUrl: `${emulator.url}/__bench/stats`,
    idPrefix,
    declareUrl: emulator.url,
  });
  const loadEndedAt = Date.now() - t0;
  const cpuShare = targets.map((p, i) => (p.cpu() - (cpu0[i] ?? 0)) / (loadEndedAt / 1000));
  // Drain: everything acknowledged reaches a terminal status.
  const drainStart = Date.now();
  const drained = await waitFor(async () => (await emulatorStats()).terminal >= load.acked, 120_000);
  const drainMs = Date.now() - drainStart;
  // CPU seconds of the portside processes from the first request until everything acknowledged was terminal.
  const cpuSeconds = targets.reduce((sum, p, i) => sum + p.cpu() - (cpu0[i] ?? 0), 0);
  sampling = false;
  await sampler;
  const at = (t: number) => samples.reduce((best, s) => (Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best), samples[0] ?? { t: 0, terminal: 0 });
  const from = at(warmMs);
  const to = at(Math.min(warmMs + durationMs, loadEndedAt));
  const windowS = (to.t - from.t) / 1000;
  const perSec = (to.terminal - from.terminal) / windowS;
  // Slowest and fastest 5-second stretch in the window, to show it was sustained.
  const stretches: number[] = [];
  for (let t = from.t; t + 5_000 <= to.t + 1; t += 5_000) {
    const a = at(t);
    const b = at(t + 5_000);
    stretches.push((b.terminal - a.terminal) / ((b.t - a.t) / 1000));
  }
  const stats = await emulatorStats();
  const totalCalls = Object.values(stats.calls).reduce((a, b) => a + b, 0);
  const peakHwm = Math.max(...targets.map((p) => p.memory().peak));
  return {
    perSec,
    windowS,
    stretches,
    acked: load.acked,
    errors: load.errors,
    lastError: load.lastError,
    drained,
    drainMs,
    stats,
    totalCalls,
    callsPerRun: totalCalls / Math.max(1, stats.terminal),
    peakRss: Math.max(peakRss, peakHwm),
    cpuShare,
    cpuSeconds,
  };
}

// ---------------------------------------------------------------------------------------------- machine
function machine() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown";
  let commit = "unknown";
  try {
    commit = execSync("git rev-parse --short HEAD", { cwd: repo, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    const dirty = execSync("git status --porcelain --untracked-files=no", { cwd: repo, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    if (dirty) commit += " + uncommitted changes";
  } catch {}
  const kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  return { cores: cpus().length, model, memGiB: totalmem() / 1024 ** 3, kernel, bun: Bun.version, commit, load };
}
const host = machine();

// ---------------------------------------------------------------------------------------------- phases
async function main() {
  log(
    `${short ? "short" : "full"} mode; phases ${[...phases].sort().join(",")}; ${host.cores} cores (${host.model}), ${fmt(host.memGiB, 1)} GiB; load ${host.load}; work dir ${work}`,
  );
  emulator = await startScript("emulator.ts", "Port emulator");
  procs.push(emulator);

  let maxAckPerSec = NaN;
  let sustainedPerSec = NaN;

  // 1. Ack throughput against the baseline ---------------------------------------------------------------
  if (phases.has(1)) {
    const baseline = await startScript("baseline.ts", "baseline");
    procs.push(baseline);
    for (const form of ["array", "ndjson"] as const) {
      const base = await closed([baseline.url], form, `b_${form}_`, S.ackMs, false);
      const p = await portside(sqliteLedger());
      const ack = await closed([p.url], form, `a_${form}_`);
      await p.stop();
      const ratio = ack.recordsPerSec / base.recordsPerSec;
      if (form === "array") maxAckPerSec = ack.recordsPerSec;
      const errs = ack.errors + base.errors;
      row(
        `1${form === "array" ? "a" : "b"}`,
        `Ack throughput, ${form === "array" ? "JSON array" : "newline-delimited"} bodies (records/s)`,
        `${fmt(ack.recordsPerSec)} vs baseline ${fmt(base.recordsPerSec)} = ${fmt(ratio, 2)}×${errs ? ` (${errs} errors: ${ack.lastError ?? base.lastError})` : ""}`,
        "≥ 0.5× baseline",
        ratio >= 0.5,
        `${fmt(0.5 - ratio, 2)}× short`,
      );
      details.push(
        `1 (${form}): portside ${fmt(ack.records)} records in ${S.ackMs / 1000} s, batch p50 ${fmt(ack.latencyMs.p50, 1)} ms p99 ${fmt(ack.latencyMs.p99, 1)} ms; baseline batch p50 ${fmt(base.latencyMs.p50, 1)} ms p99 ${fmt(base.latencyMs.p99, 1)} ms (${ACK_CONNECTIONS} connections, closed loop).`,
      );
    }
    await baseline.stop();
    if (profiled.has(1)) {
      // A load like 1a's on a portside of its own under the profiler, apart from the figure.
      const profDir = join(repo, ".portside", "bench-profile-1");
      rmSync(profDir, { recursive: true, force: true });
      const p = await portside(sqliteLedger(), {}, profDir);
      const r = await closed([p.url], "array", "pa_");
      await p.stop();
      const summary = summariseProfile(profDir);
      details.push(
        `Profile of portside during an ack load like 1a's (bun --cpu-prof, ${fmt(r.recordsPerSec)} records/s under the profiler, ${profDir}):\n${summary}`,
      );
      log(`profile of 1:\n${summary}`);
    }
  }

  // 2 + 5. Sustained completed runs/s, Port calls per run, peak RSS ---------------------------------------
  if (phases.has(2)) {
    const profDir = profiled.has(2) ? join(repo, ".portside", "bench-profile") : undefined;
    if (profDir) rmSync(profDir, { recursive: true, force: true });
    const p = await portside(sqliteLedger(), {}, profDir);
    // Resident memory once started with nothing to do (the Port token is fetched on the first report).
    await Bun.sleep(3_000);
    const idleRss = p.memory().rss;
    const r = await sustained([p], "s_", S.sustainMs, S.sustainWarmMs);
    await p.stop();
    sustainedPerSec = r.perSec;
    row(
      "2",
      `Completed runs/s, sustained ${fmt(r.windowS)} s (no-op handler)`,
      `${fmt(r.perSec)} runs/s (5 s stretches ${fmt(Math.min(...r.stretches))}–${fmt(Math.max(...r.stretches))})`,
      "≥ 5,000 runs/s",
      r.perSec >= 5000,
      `${fmt((1 - r.perSec / 5000) * 100)}% short`,
    );
    row(
      "2c",
      "Port calls per run",
      `${fmt(r.callsPerRun, 3)} (${Object.entries(r.stats.calls)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${fmt(n)}`)
        .join(", ")}; ${fmt(r.stats.terminal)} runs)`,
      "≤ 2",
      r.callsPerRun <= 2,
    );
    row(
      "2d",
      "CPU seconds per 5,000 completed runs during 2 (portside's user + system time, first request → all terminal)",
      `${fmt((r.cpuSeconds / Math.max(1, r.stats.terminal)) * 5_000, 2)} CPU s (${fmt(r.cpuSeconds, 1)} s for ${fmt(r.stats.terminal)} runs)`,
      "≤ dd85958's (test/bench/cpu-per-run.ts)",
    );
    row("5b", "Idle RSS of portside (started, 3 s with nothing to do)", `${fmt(mb(idleRss), 1)} MB`);
    row("5", "Peak RSS of portside during 2", `${fmt(mb(r.peakRss), 1)} MB`, "≤ 150 MB", mb(r.peakRss) <= 150, `${fmt(mb(r.peakRss) - 150, 1)} MB over`);
    details.push(
      `2: ${fmt(r.acked)} runs acknowledged (${r.errors} errors${r.lastError ? `: ${r.lastError}` : ""}), portside used ${r.cpuShare.map((c) => `${fmt(c * 100)}%`).join(" + ")} of a core while loaded; all terminal ${r.drained ? `${fmt(r.drainMs / 1000, 1)} s after the load stopped` : "NOT within 120 s"}; ${r.stats.success} SUCCESS, ${r.stats.failure} FAILURE, ${r.stats.refused} calls refused by the emulator. Load: ${SUSTAIN_CONNECTIONS} connections, 100-record JSON-array batches, at most ${fmt(MAX_BACKLOG)} runs acknowledged but not terminal; CONCURRENCY=${CONCURRENCY}.`,
    );
    if (profDir) {
      const summary = summariseProfile(profDir);
      details.push(`Profile of portside during 2 (bun --cpu-prof, ${profDir}):\n${summary}`);
      log(`profile:\n${summary}`);
    }
  }

  // 3. Ack latency at half the maximum rate --------------------------------------------------------------
  if (phases.has(3)) {
    const points: Array<[string, number]> = [["half the maximum ack rate (1a)", maxAckPerSec / 2]];
    if (Number.isFinite(sustainedPerSec)) points.push(["half the sustained completion rate (2)", sustainedPerSec / 2]);
    for (const [i, [label, recordsPerSec]] of points.entries()) {
      const p = await portside(sqliteLedger());
      const batchesPerSec = Math.max(1, recordsPerSec / BATCH);
      const r = await runLoad<RateResult>({
        mode: "rate",
        urls: [p.url],
        path: "/sink/runs",
        token: TOKEN,
        orgId: ORG,
        form: "array",
        batch: BATCH,
        durationMs: S.latencyMs,
        warmupMs: S.latencyWarmMs,
        batchesPerSec,
        idPrefix: `l${i}_`,
        declareUrl: emulator.url,
      });
      await p.stop();
      const l = r.latencyMs;
      row(
        i === 0 ? "3" : "3b",
        `Ack latency per 100-record batch at ${label}: ${fmt(batchesPerSec * BATCH)} records/s`,
        `p50 ${fmt(l.p50, 1)} ms, p99 ${fmt(l.p99, 1)} ms (max ${fmt(l.max, 1)} ms, ${fmt(l.n)} batches${r.errors ? `, ${r.errors} errors` : ""})`,
        i === 0 ? "p99 ≤ 10 ms" : "",
        i === 0 ? l.p99 <= 10 : undefined,
        `${fmt(l.p99 - 10, 1)} ms over`,
      );
    }
  }

  // 4. Through Kafka --------------------------------------------------------------------------------------
  if (phases.has(4) && !flags["no-kafka"]) await kafkaPhase();

  // 7. A 429 window under steady load ---------------------------------------------------------------------
  if (phases.has(7)) await rateWindowPhase();

  // 8. Health checks while a hostile body is handled ------------------------------------------------------
  if (phases.has(8)) await stallPhase();

  // 9, 10. Change-log fan-out to EventBridge; scaling against CONCURRENCY and batch size ---------------------
  if (phases.has(9) || phases.has(10) || phases.has(12)) {
    await fanoutPhases(
      {
        short,
        orgId: ORG,
        token: TOKEN,
        emulatorUrl: emulator.url,
        baseEnv: baseEnv(),
        sqliteLedger,
        row,
        details,
        fmt,
        ...(profiled.has(9) ? { profileDir: join(repo, ".portside", "bench-profile-9") } : {}),
        ...(profiled.has(12) ? { profileDir12: join(repo, ".portside", "bench-profile-12") } : {}),
      },
      phases,
    );
  }

  // 11. The other ways in: polling Port (with a handler, forwarded), signed webhooks against the sink ---------
  if (phases.has(11)) {
    await waysInPhase({
      short,
      orgId: ORG,
      token: TOKEN,
      emulatorUrl: emulator.url,
      clientSecret: CLIENT_SECRET,
      ack: { connections: ACK_CONNECTIONS, durationMs: S.ackMs, warmupMs: S.ackWarmMs },
      portside,
      sqliteLedger,
      row,
      details,
      fmt,
    });
  }

  // 6. Scaling on Redis, against SQLite -------------------------------------------------------------------
  if (phases.has(6)) {
    const redis = await startRedis();
    procs.push(redis);
    const freshRedis = async () => {
      await redis.flush();
      return redis.url;
    };
    const configs: Array<{ name: string; replicas: number; ledger: () => Promise<string> }> = [
      { name: "SQLite, 1 replica", replicas: 1, ledger: async () => sqliteLedger() },
      { name: "Redis, 1 replica", replicas: 1, ledger: freshRedis },
      { name: "Redis, 2 replicas", replicas: 2, ledger: freshRedis },
    ];
    const results: Array<{ name: string; ack: number; done: number; calls: number }> = [];
    for (const [i, c] of configs.entries()) {
      let ledger = await c.ledger();
      let ps = await Promise.all(Array.from({ length: c.replicas }, () => portside(ledger)));
      const ack = await closed(
        ps.map((p) => p.url),
        "array",
        `g${i}_`,
        S.scaleAckMs,
      );
      await Promise.all(ps.map((p) => p.stop()));
      ledger = await c.ledger();
      ps = await Promise.all(Array.from({ length: c.replicas }, () => portside(ledger)));
      const done = await sustained(ps, `h${i}_`, S.scaleSustainMs, S.sustainWarmMs);
      await Promise.all(ps.map((p) => p.stop()));
      results.push({ name: c.name, ack: ack.recordsPerSec, done: done.perSec, calls: done.callsPerRun });
      row(
        `6${"abc"[i]}`,
        `${c.name}: ack records/s · completed runs/s`,
        `${fmt(ack.recordsPerSec)} · ${fmt(done.perSec)}${ack.errors + done.errors ? ` (${ack.errors + done.errors} errors: ${ack.lastError ?? done.lastError})` : ""} (Port calls/run ${fmt(done.callsPerRun, 2)})`,
      );
    }
    const [sqlite, redis1, redis2] = results as [(typeof results)[0], (typeof results)[0], (typeof results)[0]];
    row("6d", "Redis 1 → 2 replicas", `ack ×${fmt(redis2.ack / redis1.ack, 2)}, completed ×${fmt(redis2.done / redis1.done, 2)}`);
    row("6e", "Redis against SQLite (1 replica)", `ack ×${fmt(redis1.ack / sqlite.ack, 2)}, completed ×${fmt(redis1.done / sqlite.done, 2)}`);
    details.push(
      `6: redis-server ${redisVersion()} with appendonly yes, appendfsync always (as SQLite runs synchronous=FULL); replicas share it, the load generator alternates batches between them. Ack ${S.scaleAckMs / 1000} s closed loop, completion ${S.scaleSustainMs / 1000} s after ${S.sustainWarmMs / 1000} s warm-up.`,
    );
  }
}

async function stallPhase() {
  const p = await portside(sqliteLedger());
  const bodies = [
    { id: "8a", what: "a 0.9 MB body of 200,000 distinct bad records", hostile: manyBadRecords() },
    { id: "8b", what: "a 2 MB array of unbalanced brackets", hostile: strayBrackets() },
  ];
  for (const { id, what, hostile } of bodies) {
    const r = await healthDuringHostileBody(p.url, TOKEN, hostile);
    row(
      id,
      `/healthz p99 while ${what} is handled`,
      `${fmt(r.health.p99, 1)} ms (p50 ${fmt(r.health.p50, 1)}, max ${fmt(r.health.max, 1)}, ${r.health.n} polls); the body took ${fmt(r.bodyMs)} ms, answered ${r.status} in ${fmt(r.replyBytes)} bytes`,
      "≤ 50 ms",
      r.health.p99 <= 50,
    );
  }
  await p.stop();
  details.push(
    "8: 8a newline-delimited one-to-four-character records, each parked (not a run message); 8b one `[`, a million `[`, a million `}`, `]`; SQLite ledger; /healthz polled every 5 ms from another connection.",
  );
}

/**
 * Steady load (200 runs/s), and after a warm-up Port refuses every call for `rateWindowMs`, with Retry-After
 * the seconds left. The load stops when the window ends; then every run acknowledged must reach Port.
 */
async function rateWindowPhase() {
  await resetEmulator();
  const p = await portside(sqliteLedger());
  try {
    const { batch, batchesPerSec } = RATE_WINDOW_LOAD;
    const load = runLoad<RateResult>({
      mode: "rate",
      urls: [p.url],
      path: "/sink/runs",
      token: TOKEN,
      orgId: ORG,
      form: "array",
      batch,
      durationMs: S.rateWarmMs + S.rateWindowMs,
      batchesPerSec,
      idPrefix: "w_",
      declareUrl: emulator.url,
    });
    await Bun.sleep(S.rateWarmMs);
    const before = await emulatorStats();
    await fetch(`${emulator.url}/__bench/refuse?ms=${S.rateWindowMs}`, { method: "POST" });
    const loaded = await load;
    const { window } = await emulatorStats();
    const waitMs = window.endAt - Date.now();
    if (waitMs > 0) await Bun.sleep(waitMs);
    const atEnd = await emulatorStats();
    const drained = await waitFor(async () => (await emulatorStats()).terminal >= loaded.acked, 120_000);
    const after = await emulatorStats();
    const windowS = (window.endAt - window.startAt) / 1000;
    const perSec = window.calls / windowS;
    const drainS = (after.lastTerminalAt - window.endAt) / 1000;
    row(
      "7",
      `Port calls/s during a ${fmt(windowS)} s 429 window (${fmt(batch * batchesPerSec)} runs/s arriving)`,
      `${fmt(perSec, 2)} calls/s (${fmt(window.calls)} calls, ${fmt(window.refused)} answered 429)`,
      "≤ 1",
      perSec <= 1,
      `${fmt(perSec - 1, 2)} calls/s over`,
    );
    row(
      "7b",
      "All held-back reports delivered after the window",
      drained
        ? `${fmt(drainS, 1)} s after it ended (${fmt(after.terminal - atEnd.terminal)} runs reported then)`
        : `NOT within 120 s (${fmt(after.terminal)} of ${fmt(loaded.acked)} runs terminal)`,
    );
    details.push(
      `7: portside (SQLite ledger) under ${fmt(batch * batchesPerSec)} runs/s (${batchesPerSec} requests of ${batch} runs a second, open loop) for ${fmt(S.rateWarmMs / 1000)} s, then the emulator answered every call 429 for ${fmt(windowS)} s with Retry-After the seconds left; the load stopped with the window. ${fmt(loaded.acked)} runs acknowledged (${loaded.errors} request errors), ${fmt(before.terminal)} of them terminal before the window and ${fmt(atEnd.terminal)} when it ended; calls counted by their arrival at the emulator.`,
    );
  } finally {
    await p.stop();
  }
}

function redisVersion(): string {
  try {
    return /v=([\d.]+)/.exec(execSync("redis-server --version").toString())?.[1] ?? "?";
  } catch {
    return "?";
  }
}

/** Connector settings the Kafka phase tunes (on top of connectors/standin/runs.local.json). */
export const KAFKA_CONNECTOR_TUNING: Record<string, string> = {
  "tasks.max": String(KAFKA_PARTITIONS),
  "batch.max.records": "100",
  "batch.format": "array",
  "http.headers.content.type": "application/json",
  "consumer.override.max.poll.records": "500",
  "consumer.override.fetch.min.bytes": "1",
  "consumer.override.auto.offset.reset": "earliest",
};

async function kafkaPhase() {
  const { startBroker } = await import("../../connectors/local/broker.ts");
  const { startConnect } = await import("../../connectors/local/connect.ts");
  const t0 = Date.now();
  let brokers = process.env.KAFKA_BROKERS?.split(",").filter(Boolean) ?? [];
  let stopBroker: (() => Promise<void>) | undefined;
  if (brokers.length === 0) {
    const b = await startBroker();
    brokers = [b.brokers];
    stopBroker = () => b.stop();
  }
  let connectUrl = process.env.KAFKA_CONNECT_URL?.replace(/\/+$/, "");
  let stopConnect: (() => Promise<void>) | undefined;
  if (!connectUrl) {
    const c = await startConnect({ brokers });
    connectUrl = c.url;
    stopConnect = () => c.stop();
  }
  log(
    `Kafka ${brokers.join(",")} and Connect ${connectUrl} ${stopBroker ? `started in ${fmt((Date.now() - t0) / 1000, 1)} s` : "from KAFKA_BROKERS / KAFKA_CONNECT_URL"}`,
  );
  const topic = `${ORG}.runs`;
  const startLog = join(work, "handler-starts.log");
  const p = await portside(sqliteLedger(), { BENCH_START_LOG: startLog });
  try {
    await createTopics(brokers, [topic], KAFKA_PARTITIONS);
    const file = readConnectorFile(join(repo, "connectors/standin/runs.local.json"));
    await registerConnector(
      connectUrl,
      { ...file, config: { ...file.config, ...KAFKA_CONNECTOR_TUNING } },
      { env: { ORG_ID: ORG, PORTSIDE_URL: p.url, SINK_TOKEN: TOKEN }, timeoutMs: 90_000 },
    );

    // Throughput: a burst, first produce → last terminal status; the memory of everything the mode runs.
    await resetEmulator();
    const produce = (options: Record<string, unknown>) => runKafkaProducer({ brokers, topic, orgId: ORG, declareUrl: emulator.url, ...options });
    const connectPeak = peakMemory(() => p.memory().rss + jvmRss("ConnectDistributed"));
    const connectPortsidePeak = peakMemory(() => p.memory().rss);
    const burst = await produce({ mode: "burst", count: S.kafkaBurst, idPrefix: "k_" });
    const done = await waitFor(async () => (await emulatorStats()).terminal >= burst.produced, 180_000);
    const connectRss = connectPeak.stop();
    const connectPortsideRss = connectPortsidePeak.stop();
    const stats = await emulatorStats();
    const seconds = (stats.lastTerminalAt - burst.startedAt) / 1000;
    const connectRate = stats.terminal / seconds;
    row(
      "4a",
      `Through Kafka (Connect HTTP sink): ${fmt(burst.produced)} runs produced → terminal (runs/s)`,
      `${fmt(connectRate)} runs/s (${fmt(stats.terminal)} runs in ${fmt(seconds, 1)} s; producing took ${fmt(burst.seconds, 1)} s)${done ? "" : " — NOT all terminal within 180 s"}`,
    );

    // The same burst, same broker and partition count, read by portside's own consumer (no Connect worker).
    const directOrg = `${ORG}_direct`;
    await createTopics(brokers, [`${directOrg}.runs`], KAFKA_PARTITIONS);
    const direct = await portside(sqliteLedger(), {
      ORG_ID: directOrg,
      KAFKA_BROKERS: brokers.join(","),
      KAFKA_FROM_BEGINNING: "true",
      KAFKA_CHANGES_TOPIC: "off",
    });
    try {
      await waitFor(async () => (await fetch(`${direct.url}/readyz`)).ok, 60_000);
      // Resident memory with the consumer connected and nothing yet on the topic.
      await Bun.sleep(3_000);
      const directIdleRss = direct.memory().rss;
      await resetEmulator();
      const directPeak = peakMemory(() => direct.memory().rss);
      const directBurst = await runKafkaProducer({
        brokers,
        topic: `${directOrg}.runs`,
        orgId: directOrg,
        declareUrl: emulator.url,
        mode: "burst",
        count: S.kafkaBurst,
        idPrefix: "d_",
      });
      const directDone = await waitFor(async () => (await emulatorStats()).terminal >= directBurst.produced, 180_000);
      const directRss = directPeak.stop();
      const directStats = await emulatorStats();
      const directSeconds = (directStats.lastTerminalAt - directBurst.startedAt) / 1000;
      const directRate = directStats.terminal / directSeconds;
      row(
        "4c",
        `Through Kafka (built-in consumer): the same burst → terminal (runs/s), against 4a`,
        `${fmt(directRate)} runs/s (${fmt(directStats.terminal)} runs in ${fmt(directSeconds, 1)} s), ×${fmt(directRate / connectRate, 2)} the Connect sink${directDone ? "" : " — NOT all terminal within 180 s"}`,
        "≥ ×1.00",
        directRate >= connectRate,
      );
      row(
        "4d",
        "Peak RSS of everything each mode runs (beside the broker)",
        `built-in consumer: portside ${fmt(mb(directRss), 1)} MB (idle before the burst ${fmt(mb(directIdleRss), 1)} MB); Connect sink: portside + Connect worker ${fmt(mb(connectRss), 1)} MB (portside ${fmt(mb(connectPortsideRss), 1)} MB of it)`,
        "direct ≤ 150 MB",
        mb(directRss) <= 150,
        `${fmt(mb(directRss) - 150, 1)} MB over`,
      );
    } finally {
      await direct.stop();
    }

    // Latency at a fixed 200 runs/s: produce call → handler start.
    rmSync(startLog, { force: true });
    const paced = (await produce({ mode: "paced", perSec: 200, durationMs: S.kafkaPacedMs, idPrefix: "q_" })) as {
      produced: number;
      ackMs?: { p50: number; p99: number };
    };
    await waitFor(async () => countLines(startLog) >= paced.produced, 60_000);
    await Bun.sleep(200);
    const delays: number[] = [];
    for (const line of readFileSync(startLog, "utf8").split("\n")) {
      const [id, at] = line.split(" ");
      const m = /_(\d+)$/.exec(id ?? "");
      if (m && at) delays.push(Number(at) - Number(m[1]));
    }
    delays.sort((a, b) => a - b);
    const pct = (q: number) => delays[Math.min(delays.length - 1, Math.ceil(q * delays.length) - 1)] ?? NaN;
    const p99 = pct(0.99);
    row(
      "4b",
      `Through Kafka at 200 runs/s: produce → handler start`,
      `p50 ${fmt(pct(0.5))} ms, p99 ${fmt(p99)} ms (max ${fmt(delays[delays.length - 1] ?? NaN)} ms, ${fmt(delays.length)} of ${fmt(paced.produced)} runs)`,
      "p99 ≤ 250 ms",
      p99 <= 250,
      `${fmt(p99 - 250)} ms over`,
    );
    details.push(
      `4: producer (kafkajs, acks=all, one request in flight, what comes due meanwhile batched into the next) produce → broker ack p50 ${fmt(paced.ackMs?.p50 ?? NaN)} ms, p99 ${fmt(paced.ackMs?.p99 ?? NaN)} ms; the figure runs from the moment a run came due to the producer to its handler's start. Topic ${topic} with ${KAFKA_PARTITIONS} partitions; stand-in HTTP sink connector (connectors/standin/runs.local.json) with ${Object.entries(
        KAFKA_CONNECTOR_TUNING,
      )
        .map(([k, v]) => `${k}=${v}`)
        .join(", ")}; broker and worker settings from connectors/local/{broker,connect}.ts.`,
    );
  } finally {
    await p.stop();
    await stopConnect?.();
    await stopBroker?.();
  }
}

/** The highest value of `sample()` from now until `stop()`, sampled every 100 ms. */
function peakMemory(sample: () => number): { stop(): number } {
  let peak = sample();
  const timer = setInterval(() => {
    peak = Math.max(peak, sample());
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, sample());
    },
  };
}

/** Resident memory of the JVM processes whose command line mentions `mainClass` (0 when none is found). */
function jvmRss(mainClass: string): number {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(mainClass)) continue;
      total += procMemory(Number(pid)).rss;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

function countLines(path: string): number {
  if (!existsSync(path)) return 0;
  const text = readFileSync(path, "utf8");
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

async function runKafkaProducer(options: Record<string, unknown>): Promise<{ produced: number; startedAt: number; seconds: number }> {
  const proc = Bun.spawn([process.execPath, join(repo, "test/bench/kafka-produce.ts"), JSON.stringify(options)], { cwd: repo, stdout: "pipe", stderr: "pipe" });
  const untrack = track(async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  await untrack();
  const line = stdout.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`Kafka producer failed (exit ${code}):\n${stdout}\n${stderr}`);
  return JSON.parse(line) as never;
}

// ---------------------------------------------------------------------------------------------- report
function table(): string {
  const header = ["#", "measurement", "result", "target", "verdict"];
  const lines = [header, ...rows.map((r) => [r.id, r.measurement, r.value, r.target, r.verdict])];
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...lines.slice(1).map((l) => `| ${l.join(" | ")} |`)].join("\n");
}

function report(elapsedS: number): string {
  const notesPath = join(repo, "test/bench/NOTES.md");
  const notes = existsSync(notesPath) ? readFileSync(notesPath, "utf8").trim() : "";
  return `# BENCHMARKS

Written by \`${command}\` (test/bench/run.ts) — every figure below comes from that one run. Do not edit by hand;
the explanations come from \`test/bench/NOTES.md\`.

- **Command:** \`${command}\` (${short ? "short" : "full"} mode, ${fmt(elapsedS)} s)
- **Date:** ${started.toISOString()}
- **Machine:** ${host.cores} cores, ${host.model}, ${fmt(host.memGiB, 1)} GiB RAM, Linux ${host.kernel}; shared and noisy (load average at start ${host.load}); everything on loopback
- **Software:** Bun ${host.bun}; portside at ${host.commit}
- **Setup:** portside as \`bun src/entry/main.ts\` (LOG_LEVEL=warn, CONCURRENCY=${CONCURRENCY}, HANDLERS=test/bench/noop-handlers.ts), SQLite ledger (WAL, synchronous=FULL) on ext4 unless said otherwise; the Port emulator, the baseline server and the load generators are separate Bun processes; runs are Port's legacy CREATE run messages (~550 bytes), 100 per request.

${table()}

## Details

${details.map((d) => `- ${d}`).join("\n")}

${notes}
`;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping what the benchmark started`);
    void stopAll().finally(() => {
      rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

const t0 = Date.now();
let failed: unknown;
try {
  await main();
} catch (error) {
  failed = error;
} finally {
  for (const p of procs.reverse()) await p.stop().catch(() => {});
  rmSync(work, { recursive: true, force: true });
}
console.log(`\n${table()}\n`);
for (const d of details) console.log(`- ${d}`);
if (failed) {
  console.error(`[bench] FAILED: ${failed instanceof Error ? (failed.stack ?? failed.message) : String(failed)}`);
  process.exit(1);
}
if (outFile) {
  writeFileSync(outFile, report((Date.now() - t0) / 1000));
  log(`wrote ${outFile}`);
}
