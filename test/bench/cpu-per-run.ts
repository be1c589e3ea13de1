/**
 * CPU per completed run, revisions side by side on one harness:
 *
 *   bun test/bench/cpu-per-run.ts [revA=dd85958] [revB=HEAD] [more…] [--rounds=3] [--runs=3000] [--concurrency=256] [--env=NAME=VALUE …]
 *                                 [--profile] [--profile-runs=20000]
 *
 * A revision may carry settings of its own, `HEAD:MEMORY_LIMIT_MB=0`, so one commit can be compared with itself.
 * Each revision gets a git worktree under /tmp (node_modules symlinked from this checkout) and the handler
 * module test/bench/http-call-handlers.ts (the action `bench` makes one HTTP call to test/bench/receiver.ts).
 * One single-node Kafka (connectors/local/broker.ts, the JVM broker the tests and the bench use; or
 * KAFKA_BROKERS), the Port emulator (test/bench/emulator.ts) and the receiver serve every round. A round, for
 * one revision and one way in: a fresh topic `<org>.runs` with 3 partitions, a fresh portside (its own
 * SQLite file, default settings but CONCURRENCY=256 as in `bun run bench`, LOG_LEVEL=warn), and `--runs` runs signed as Port signs runs for its agent
 * (headers.X-Port-Signature over the message, PORT_CLIENT_SECRET) produced at once once portside is idle;
 * done when the emulator has every run terminal. Ways in: `sink` — test/bench/kafka-forward.ts reads the
 * topic and posts 100-record arrays to /sink/runs, as the Connect sink does (every revision has it);
 * `direct` — portside's built-in consumer (KAFKA_BROKERS), where the revision has one (dd85958 has not).
 * Revisions alternate within each round. Printed: per revision and way in, the median over the rounds of
 * portside's CPU seconds (user + system from /proc/<pid>/stat, from the first produce to the last terminal
 * status) per 5,000 completed runs, and of runs/s (runs over first produce → last terminal status).
 * With --profile, one more round of each (sink, 20,000 runs unless given, so start-up is a small part) under
 * `bun --cpu-prof`, apart from the figures, summarised; the profiles are kept in .portside/cpu-per-run/<sha>/.
 * Nothing asserts on speed.
 */
import { execFileSync } from "node:child_process";
import { randomBytes, createHmac } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import "../../src/shared/kafkajs-patch.ts";
import { createTopics } from "../support/kafka.ts";
import { runRecord } from "./messages.ts";
import { collect, procCpuSeconds, procMemory, repo, startPortside, startScript, stopAll, stopProc, track, type Proc } from "./procs.ts";
import { summariseProfile } from "./profile.ts";

const { values: flags, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  allowPositionals: true,
  options: {
    rounds: { type: "string" },
    runs: { type: "string" },
    concurrency: { type: "string" },
    env: { type: "string", multiple: true },
    profile: { type: "boolean" },
    "profile-runs": { type: "string" },
  },
});
/** `rev` or `rev:NAME=VALUE,NAME=VALUE` (settings for that one's portside: `HEAD:MEMORY_LIMIT_MB=0`). */
const revisions = positionals.length >= 2 ? positionals : [positionals[0] ?? "dd85958", "HEAD"];
const ROUNDS = Number(flags.rounds ?? 3);
const RUNS = Number(flags.runs ?? 3000);
const PROFILE_RUNS = flags.profile ? Number(flags["profile-runs"] ?? 20_000) : 0;
const CONCURRENCY = flags.concurrency ?? "256";
/** Settings given to every portside of every revision (`--env=MEMORY_LIMIT_MB=0`); a revision ignores what it does not know. */
const EXTRA_ENV = Object.fromEntries((flags.env ?? []).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
const PARTITIONS = 3;
const SECRET = "emulator-client-secret";
const TOKEN = `bench_${randomBytes(16).toString("hex")}`;
const log = (line: string) => console.log(`[cpu-per-run] ${line}`);
const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, encoding: "utf8" }).trim();
const work = mkdtempSync(join(tmpdir(), "portside-cpu-per-run-"));
/** Worktrees made, removed at the end. */
const made: string[] = [];

interface Tree {
  rev: string;
  sha: string;
  /** The short sha, and the settings the spec gave, if any. */
  label: string;
  env: Record<string, string>;
  dir: string;
  entry: string;
  direct: boolean;
}

/** A worktree of the spec's revision (one per commit) with this checkout's node_modules and the handler module. */
function worktree(spec: string): Tree {
  const [rev = "HEAD", settings = ""] = spec.split(/:(.*)/s);
  const env = Object.fromEntries(
    settings
      .split(",")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
  const sha = git("rev-parse", "--short", rev);
  const dir = join(work, `tree-${sha}`);
  if (!made.includes(dir)) {
    git("worktree", "add", "--detach", dir, sha);
    made.push(dir);
    symlinkSync(realpathSync(join(repo, "node_modules")), join(dir, "node_modules"));
    mkdirSync(join(dir, "test/bench"), { recursive: true });
    copyFileSync(join(repo, "test/bench/http-call-handlers.ts"), join(dir, "test/bench/http-call-handlers.ts"));
  }
  const entry = existsSync(join(dir, "src/entry/main.ts")) ? "src/entry/main.ts" : "src/main.ts";
  const config = ["src/config.ts", "src/config-settings.ts"].map((f) => join(dir, f)).filter(existsSync);
  const direct = config.some((f) => readFileSync(f, "utf8").includes("KAFKA_BROKERS"));
  return { rev, sha, label: settings ? `${sha} ${settings}` : sha, env, dir, entry, direct };
}

/** Signed as Port signs runs for its agent: over the JSON with `headers` emptied, `v1,<base64 HMAC-SHA256>`. */
function signedRun(id: string, orgId: string): string {
  const timestamp = Math.floor(Date.now() / 1000);
  const unsigned = { ...runRecord(id, orgId), headers: {} };
  const signature = createHmac("sha256", SECRET)
    .update(`${timestamp}.${JSON.stringify(unsigned)}`)
    .digest("base64");
  return JSON.stringify({ ...unsigned, headers: { "X-Port-Signature": `v1,${signature}`, "X-Port-Timestamp": timestamp } });
}

interface Result {
  /** Peak resident set (VmHWM) of portside over its life, MB. */
  peakMb: number;
  cpuPer5k: number;
  runsPerSec: number;
  terminal: number;
  success: number;
}

async function round(
  tree: Tree,
  way: "sink" | "direct",
  brokers: string[],
  emulator: Proc,
  receiverUrl: string,
  runs = RUNS,
  profDir?: string,
): Promise<Result> {
  const org = `org_cpu_${randomBytes(3).toString("hex")}`;
  const topic = `${org}.runs`;
  await createTopics(brokers, [topic], PARTITIONS);
  await fetch(`${emulator.url}/__bench/reset`, { method: "POST" });
  const ids = Array.from({ length: runs }, (_, i) => `r_${org}_${i.toString(36)}`);
  const declared = await fetch(`${emulator.url}/emulator/runs`, { method: "POST", body: JSON.stringify({ ids }) });
  if (!declared.ok) throw new Error(`the emulator refused to declare runs: ${declared.status}`);
  const dir = join(work, `ledger-${org}`);
  mkdirSync(dir);
  const p = await startPortside({
    cwd: tree.dir,
    entry: tree.entry,
    env: {
      ORG_ID: org,
      SINK_TOKEN: TOKEN,
      PORT_API_URL: emulator.url,
      PORT_CLIENT_ID: "emulator-client-id",
      PORT_CLIENT_SECRET: SECRET,
      HANDLERS: "test/bench/http-call-handlers.ts",
      CONCURRENCY,
      LEDGER: `sqlite:${join(dir, "ledger.sqlite")}`,
      BENCH_RECEIVER_URL: `${receiverUrl}/call`,
      ...EXTRA_ENV,
      ...tree.env,
      ...(way === "direct" ? { KAFKA_BROKERS: brokers.join(","), KAFKA_FROM_BEGINNING: "true", KAFKA_CHANGES_TOPIC: "off" } : {}),
    },
    ...(profDir ? { cpuProfDir: profDir } : {}),
  });
  let forwarder: { stop(): Promise<void> } | undefined;
  try {
    if (way === "direct") {
      if (!(await until(async () => (await fetch(`${p.url}/readyz`)).ok, 60_000))) throw new Error(`portside ${tree.sha} not ready:\n${p.output.join("\n")}`);
    } else {
      forwarder = await startForwarder({ brokers, topic, url: p.url, token: TOKEN });
    }
    await Bun.sleep(1_000);
    const producer = new Kafka({ brokers, clientId: "portside-cpu-per-run", logLevel: logLevel.ERROR }).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const messages = ids.map((id) => ({ key: id, value: signedRun(id, org) }));
    const cpu0 = procCpuSeconds(p.pid);
    const startedAt = Date.now();
    for (let i = 0; i < messages.length; i += 500) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
    await producer.disconnect();
    const stats = async () => (await (await fetch(`${emulator.url}/__bench/stats`)).json()) as { terminal: number; success: number; lastTerminalAt: number };
    let s = await stats();
    const deadline = Date.now() + 120_000;
    while (s.terminal < runs && Date.now() < deadline) {
      await Bun.sleep(20);
      s = await stats();
    }
    const cpu = procCpuSeconds(p.pid) - cpu0;
    if (s.terminal < runs) log(`${tree.sha} ${way}: only ${s.terminal} of ${runs} runs terminal within 120 s\n${p.output.slice(-20).join("\n")}`);
    return {
      peakMb: procMemory(p.pid).peak / 1048576,
      cpuPer5k: (cpu / Math.max(1, s.terminal)) * 5_000,
      runsPerSec: s.terminal / ((s.lastTerminalAt - startedAt) / 1000),
      terminal: s.terminal,
      success: s.success,
    };
  } finally {
    await forwarder?.stop();
    await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startForwarder(options: Record<string, unknown>): Promise<{ stop(): Promise<void> }> {
  const proc = Bun.spawn([process.execPath, join(repo, "test/bench/kafka-forward.ts"), JSON.stringify(options)], { cwd: repo, stdout: "pipe", stderr: "pipe" });
  const output: string[] = [];
  let joined = false;
  collect(proc, output, (line) => {
    if (line === "ready") joined = true;
  });
  const stop = track(() => stopProc(proc, 5_000));
  if (!(await until(async () => joined, 60_000))) {
    await stop();
    throw new Error(`the forwarder did not join its group:\n${output.join("\n")}`);
  }
  return { stop };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await Bun.sleep(50);
  }
  return false;
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const f = (n: number, d = 2) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

async function main() {
  const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  log(
    `revisions ${revisions.join(" vs ")}; ${ROUNDS} rounds; ${RUNS} runs each; CONCURRENCY=${CONCURRENCY}${flags.env?.length ? `, ${flags.env.join(", ")}` : ""}; load ${load()}; work dir ${work}`,
  );
  const trees = revisions.map(worktree);
  let brokers = process.env.KAFKA_BROKERS?.split(",").filter(Boolean) ?? [];
  if (brokers.length === 0) {
    const { startBroker } = await import("../../connectors/local/broker.ts");
    const broker = await startBroker();
    track(() => broker.stop());
    brokers = [broker.brokers];
  }
  const emulator = await startScript("emulator.ts", "Port emulator");
  const receiver = await startScript("receiver.ts", "receiver");
  const cases = trees.flatMap((tree) => (["sink", "direct"] as const).filter((way) => way === "sink" || tree.direct).map((way) => ({ tree, way })));
  const results = new Map<string, Result[]>(cases.map((c) => [`${c.tree.label} ${c.way}`, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Alternating: each round in the other order, so drift on the machine does not favour one side.
    for (const c of r % 2 === 0 ? cases : cases.slice().reverse()) {
      const result = await round(c.tree, c.way, brokers, emulator, receiver.url);
      results.get(`${c.tree.label} ${c.way}`)?.push(result);
      log(
        `round ${r + 1} ${c.tree.label} (${c.tree.rev}) ${c.way}: ${f(result.cpuPer5k)} CPU s per 5,000 runs, ${f(result.runsPerSec, 0)} runs/s (${result.success} of ${result.terminal} SUCCESS), peak RSS ${f(result.peakMb, 1)} MB; load ${load()}`,
      );
    }
  }
  console.log(`\n| revision | way in | CPU s per 5,000 completed runs (median; each) | runs/s (median; each) |\n|---|---|---|---|`);
  for (const c of cases) {
    const rs = results.get(`${c.tree.label} ${c.way}`) ?? [];
    console.log(
      `| ${c.tree.label} (${c.tree.rev}) | ${c.way} | ${f(median(rs.map((x) => x.cpuPer5k)))} (${rs.map((x) => f(x.cpuPer5k)).join(" / ")}) | ${f(median(rs.map((x) => x.runsPerSec)), 0)} (${rs.map((x) => f(x.runsPerSec, 0)).join(" / ")}) |`,
    );
  }
  if (PROFILE_RUNS > 0) {
    for (const c of cases.filter((x) => x.way === "sink")) {
      const profDir = join(repo, ".portside", "cpu-per-run", c.tree.label.replace(/[^\w.-]+/g, "_"));
      rmSync(profDir, { recursive: true, force: true });
      const result = await round(c.tree, c.way, brokers, emulator, receiver.url, PROFILE_RUNS, profDir);
      console.log(
        `\nProfile of ${c.tree.label} (${c.tree.rev}), sink, ${PROFILE_RUNS} runs, ${f(result.runsPerSec, 0)} runs/s and ${f(result.cpuPer5k)} CPU s per 5,000 under the profiler (${profDir}):\n${summariseProfile(profDir, 30, c.tree.dir)}`,
      );
    }
  }
  log(`load at the end ${load()}`);
}

try {
  await main();
} finally {
  await stopAll();
  for (const dir of made) git("worktree", "remove", "--force", dir);
  rmSync(work, { recursive: true, force: true });
  git("worktree", "prune");
}
