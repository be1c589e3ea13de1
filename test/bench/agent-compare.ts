/**
 * Port's execution agent (`port-labs/port-agent`, Python) and portside side by side, doing the same job on
 * this machine in one run: N runs of an `agent: true`, `synchronized` WEBHOOK action are queued in the Port
 * emulator (test/bench/emulator.ts), then one contender at a time is started as its own process, polls the
 * emulator (claim-pending, ack), forwards every run to a local receiver (test/bench/receiver.ts, 200 JSON at
 * once) and reports it; the figure ends when all N runs are terminal at the emulator. Contenders:
 *
 *   agent     Port's agent, STREAMER_NAME=POLLING, from a checkout of its own (it is not part of portside):
 *             --agent-cmd "<python> main.py" run in --agent-dir <checkout>/app (or PORT_AGENT_CMD, PORT_AGENT_DIR)
 *   forward   portside, PORT_POLLING=true, no handler for the action: forwarded as the agent forwards it
 *   handler   portside, PORT_POLLING=true, a no-op handler for the action (test/bench/noop-handlers.ts): no forwarding
 *
 * Each contender runs with its own defaults (claims of 100, its own poll interval, its own log level unless
 * --quiet) against a fresh emulator state with the same N runs queued before it starts. Figures: runs/s from
 * the contender's first claim to the last terminal status (and from the moment the runs were queued, which
 * includes the process's start), Port calls per run by endpoint (every call the emulator answered, tokens
 * included, refused ones shown apart), peak resident memory and CPU of the contender's process tree
 * (/proc, sampled every 100 ms; portside's jq host is a child process), the emulator's CPU meanwhile.
 *
 *   bun test/bench/agent-compare.ts --agent-cmd "/tmp/port-agent/.venv/bin/python main.py" --agent-dir /tmp/port-agent/app
 *   options: --runs=<n> (default 2000), --only=agent,forward,handler, --quiet (both log warnings only),
 *            --timeout-s=<s> (per contender, default 1200), --receiver-delay-ms=<ms> (the receiver answers that
 *            much later, default 0; then "most forwarded calls open at once" shows each one's concurrency)
 *
 * Not part of `bun run bench`: the project does not install Port's agent (see test/bench/NOTES.md for how to
 * set it up). Loopback only. Nothing here asserts on speed.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { collect, procCpuSeconds, repo, startPortside, startScript, stopAll, stopProc, track } from "./procs.ts";

const { values: flags } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    runs: { type: "string" },
    "agent-cmd": { type: "string" },
    "agent-dir": { type: "string" },
    only: { type: "string" },
    quiet: { type: "boolean" },
    "timeout-s": { type: "string" },
    "receiver-delay-ms": { type: "string" },
  },
});
const N = Number(flags.runs ?? 2000);
if (!Number.isInteger(N) || N < 1) throw new Error("--runs must be a positive integer");
const agentCmd = flags["agent-cmd"] ?? process.env.PORT_AGENT_CMD;
const agentDir = flags["agent-dir"] ?? process.env.PORT_AGENT_DIR;
const quiet = flags.quiet === true;
const timeoutMs = Number(flags["timeout-s"] ?? 1200) * 1000;
const receiverDelayMs = Number(flags["receiver-delay-ms"] ?? 0);
const only = new Set((flags.only ?? "agent,forward,handler").split(",").map((s) => s.trim()));
const ORG = "org_agent_compare";
const ACTION = "bench";
const CLIENT = { id: "emulator-client-id", secret: "emulator-client-secret" };

interface EmulatorStats {
  calls: Record<string, number>;
  refusedCalls: Record<string, number>;
  firstCallAt: Record<string, number>;
  withResponse?: number;
  terminal: number;
  success: number;
  failure: number;
  lastTerminalAt: number;
}

/** A contender's process as the measurement sees it. */
interface Contender {
  pid: number;
  /** Lines of output it printed, and the last few (for a failure's message). */
  lines(): number;
  tail(): string[];
  exited(): boolean;
  stop(): Promise<void>;
}

interface Result {
  name: string;
  ok: boolean;
  note?: string;
  queuedAt: number;
  spawnedAt: number;
  firstClaimAt: number;
  lastTerminalAt: number;
  stats: EmulatorStats;
  receiver: { requests: number; distinctRuns: number; maxInFlight: number };
  peakRssBytes: number;
  cpuS: number;
  /** Of `cpuS`, what the contender's own process used (the rest: its child processes). */
  rootCpuS: number;
  emulatorCpuS: number;
  logLines: number;
  /** The summaries of runs that ended FAILURE, with how many ended so. */
  failures: Record<string, number>;
}

// ---- the process tree, from /proc ----------------------------------------------------------------------

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** `pid` and every live descendant. */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Resident bytes and CPU seconds of a process tree; a child that ended counts in its parent's cutime/cstime. */
function treeUsage(pid: number): { rss: number; cpuS: number; rootCpuS: number; processes: number } {
  const ticks = 100;
  let rss = 0;
  let cpu = 0;
  let rootCpu = 0;
  const tree = processTree(pid);
  for (const p of tree) {
    const f = statFields(p);
    if (!f) continue;
    cpu += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / ticks;
    if (p === pid) rootCpu = (Number(f[11]) + Number(f[12])) / ticks;
    try {
      rss += Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0) * 1024;
    } catch {}
  }
  return { rss, cpuS: cpu, rootCpuS: rootCpu, processes: tree.length };
}

function vmHwm(pid: number): number {
  try {
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

// ---- the contenders ------------------------------------------------------------------------------------

function outputCounter(): { onLine(line: string): void; lines(): number; tail(): string[] } {
  let lines = 0;
  const last: string[] = [];
  return {
    onLine(line) {
      lines++;
      last.push(line);
      if (last.length > 40) last.shift();
    },
    lines: () => lines,
    tail: () => [...last],
  };
}

function startAgent(emulatorUrl: string): Contender {
  if (!agentCmd || !agentDir) throw new Error("no --agent-cmd/--agent-dir");
  const counter = outputCounter();
  // `exec`, so the pid measured is the agent's own process, not a shell's.
  const proc = Bun.spawn(["/bin/sh", "-c", `exec ${agentCmd}`], {
    cwd: agentDir,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      STREAMER_NAME: "POLLING",
      PORT_ORG_ID: ORG,
      PORT_CLIENT_ID: CLIENT.id,
      PORT_CLIENT_SECRET: CLIENT.secret,
      PORT_API_BASE_URL: emulatorUrl,
      ...(quiet ? { LOG_LEVEL: "WARNING" } : {}),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  collect(proc, [], counter.onLine);
  // The agent notices SIGTERM only between steps (its poll interval is a plain sleep), so it is not waited for long.
  const stop = track(() => stopProc(proc, 3_000));
  return { pid: proc.pid, lines: counter.lines, tail: counter.tail, exited: () => proc.exitCode !== null || proc.signalCode !== null, stop };
}

async function startPortsideContender(emulatorUrl: string, withHandler: boolean, dir: string): Promise<Contender> {
  const counter = outputCounter();
  const p = await startPortside({
    onLine: counter.onLine,
    env: {
      ORG_ID: ORG,
      PORT_API_URL: emulatorUrl,
      PORT_CLIENT_ID: CLIENT.id,
      PORT_CLIENT_SECRET: CLIENT.secret,
      PORT_POLLING: "true",
      LEDGER: `sqlite:${join(dir, "ledger.sqlite")}`,
      LOG_LEVEL: quiet ? "warn" : "info",
      ...(withHandler ? { HANDLERS: "test/bench/noop-handlers.ts" } : {}),
    },
  });
  let alive = true;
  return {
    pid: p.pid,
    lines: counter.lines,
    tail: counter.tail,
    exited: () => !alive || statFields(p.pid) === undefined,
    stop: async () => {
      alive = false;
      await p.stop();
    },
  };
}

// ---- one measurement -----------------------------------------------------------------------------------

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function measure(
  name: string,
  emulator: { url: string; pid: number },
  receiverUrl: string,
  start: () => Promise<Contender> | Contender,
): Promise<Result> {
  await json(`${emulator.url}/__bench/reset`, { method: "POST" });
  await json(`${receiverUrl}/__bench/reset`, { method: "POST" });
  const action = {
    identifier: ACTION,
    title: "agent-compare",
    invocationMethod: { type: "WEBHOOK", url: `${receiverUrl}/hook`, agent: true, synchronized: true },
  };
  await json(`${emulator.url}/__bench/trigger`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ action, count: N }),
  });
  const queuedAt = Date.now();
  const emulatorCpu0 = procCpuSeconds(emulator.pid);
  const spawnedAt = Date.now();
  const contender = await start();
  let peakRss = 0;
  let cpuS = 0;
  let rootCpuS = 0;
  const sample = () => {
    const usage = treeUsage(contender.pid);
    if (usage.processes > 0 && usage.cpuS > 0) {
      cpuS = usage.cpuS;
      rootCpuS = usage.rootCpuS;
    }
    peakRss = Math.max(peakRss, usage.rss, vmHwm(contender.pid));
  };
  const sampler = setInterval(sample, 100);
  let stats: EmulatorStats;
  let note: string | undefined;
  const deadline = spawnedAt + timeoutMs;
  for (;;) {
    stats = await json<EmulatorStats>(`${emulator.url}/__bench/stats`);
    if (stats.terminal >= N) break;
    if (contender.exited()) {
      note = `exited after ${stats.terminal} of ${N} runs terminal`;
      break;
    }
    if (Date.now() > deadline) {
      note = `timed out after ${stats.terminal} of ${N} runs terminal`;
      break;
    }
    await Bun.sleep(100);
  }
  sample();
  // Calls that follow a run's terminal status (Port's agent logs once more) are counted, then the contender stops.
  await Bun.sleep(500);
  sample();
  clearInterval(sampler);
  stats = await json<EmulatorStats>(`${emulator.url}/__bench/stats?responses=1`);
  const receiver = await json<Result["receiver"]>(`${receiverUrl}/__bench/stats`);
  const emulatorCpuS = procCpuSeconds(emulator.pid) - emulatorCpu0;
  const logLines = contender.lines();
  const failures: Record<string, number> = {};
  if (stats.failure > 0) {
    const listed = await json<{ runs: { status: string; summary?: string }[] }>(`${emulator.url}/emulator/runs?limit=10000`);
    for (const run of listed.runs) if (run.status === "FAILURE") failures[run.summary ?? "(no summary)"] = (failures[run.summary ?? "(no summary)"] ?? 0) + 1;
  }
  if (note) console.error(`${name}: ${note}; last output:\n${contender.tail().join("\n")}`);
  await contender.stop();
  return {
    name,
    ok: note === undefined,
    ...(note ? { note } : {}),
    queuedAt,
    spawnedAt,
    firstClaimAt: stats.firstCallAt.claimRuns ?? 0,
    lastTerminalAt: stats.lastTerminalAt,
    stats,
    receiver,
    peakRssBytes: peakRss,
    cpuS,
    rootCpuS,
    emulatorCpuS,
    logLines,
    failures,
  };
}

// ---- the table -----------------------------------------------------------------------------------------

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function report(results: Result[]): string {
  const out: string[] = [];
  const head = ["", ...results.map((r) => r.name)];
  const row = (label: string, f: (r: Result) => string) => `| ${[label, ...results.map(f)].join(" | ")} |`;
  out.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
  const working = (r: Result) => (r.lastTerminalAt - r.firstClaimAt) / 1000;
  out.push(
    row(
      "runs terminal (SUCCESS / FAILURE)",
      (r) => `${fmt(r.stats.terminal)} (${fmt(r.stats.success)} / ${fmt(r.stats.failure)})${r.ok ? "" : ` — ${r.note}`}`,
    ),
  );
  out.push(row("runs/s, first claim → last terminal", (r) => (r.ok ? fmt(r.stats.terminal / working(r), 1) : "—")));
  out.push(row("runs/s, queued → last terminal (incl. start)", (r) => (r.ok ? fmt(r.stats.terminal / ((r.lastTerminalAt - r.queuedAt) / 1000), 1) : "—")));
  out.push(row("first claim → last terminal, s", (r) => fmt(working(r), 2)));
  out.push(row("start → first claim, s", (r) => fmt((r.firstClaimAt - r.spawnedAt) / 1000, 2)));
  const perRun = (r: Result, n: number) => fmt(n / Math.max(1, r.stats.terminal), 2);
  const total = (r: Result) => Object.values(r.stats.calls).reduce((a, b) => a + b, 0);
  out.push(row("Port calls per run, all", (r) => perRun(r, total(r))));
  out.push(row("peak RSS, MB (process tree)", (r) => fmt(r.peakRssBytes / 1e6, 1)));
  out.push(row("CPU s (start → all terminal)", (r) => fmt(r.cpuS, 2)));
  out.push(row("… of which child processes", (r) => fmt(r.cpuS - r.rootCpuS, 2)));
  out.push(row("CPU ms per run", (r) => fmt((r.cpuS * 1000) / Math.max(1, r.stats.terminal), 2)));
  out.push(row("CPU, % of one core (start → all terminal)", (r) => fmt((100 * r.cpuS) / ((r.lastTerminalAt - r.spawnedAt) / 1000), 0)));
  out.push(row("emulator CPU s meanwhile", (r) => fmt(r.emulatorCpuS, 2)));
  out.push(row("forwarded requests (distinct runs)", (r) => `${fmt(r.receiver.requests)} (${fmt(r.receiver.distinctRuns)})`));
  if (receiverDelayMs > 0) out.push(row("most forwarded calls open at once", (r) => fmt(r.receiver.maxInFlight)));
  out.push(row("runs with a stored response", (r) => fmt(r.stats.withResponse ?? 0)));
  out.push(row("log lines per run", (r) => fmt(r.logLines / Math.max(1, r.stats.terminal), 1)));
  out.push("", "Port calls per run, by endpoint (refused ones in brackets):", "", `| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
  const endpoints = [
    ...new Set(
      results.flatMap((r) =>
        Object.entries(r.stats.calls)
          .filter(([, n]) => n > 0)
          .map(([e]) => e),
      ),
    ),
  ].sort();
  for (const e of endpoints) {
    out.push(
      row(e, (r) => {
        const n = r.stats.calls[e] ?? 0;
        const refused = r.stats.refusedCalls[e] ?? 0;
        return `${perRun(r, n)}${refused ? ` (${perRun(r, refused)})` : ""} — ${fmt(n)}`;
      }),
    );
  }
  for (const r of results) {
    for (const [summary, n] of Object.entries(r.failures)) out.push("", `${r.name}: ${fmt(n)} runs FAILURE with the summary: ${summary}`);
  }
  return out.join("\n");
}

// ---- main ----------------------------------------------------------------------------------------------

process.on("SIGINT", () => void stopAll().then(() => process.exit(130)));
const work = mkdtempSync(join(tmpdir(), "portside-agent-compare-"));
try {
  const emulator = await startScript("emulator.ts", "emulator");
  // The receiver reads its delay from the environment startScript passes on.
  process.env.RECEIVER_DELAY_MS = String(receiverDelayMs);
  const receiver = await startScript("receiver.ts", "receiver");
  const results: Result[] = [];
  const skipped: string[] = [];
  if (only.has("agent")) {
    if (agentCmd && agentDir) results.push(await measure("Port's agent (forwards)", emulator, receiver.url, () => startAgent(emulator.url)));
    else skipped.push("Port's agent: not run (give --agent-cmd and --agent-dir, or PORT_AGENT_CMD and PORT_AGENT_DIR; see test/bench/NOTES.md)");
  }
  if (only.has("forward"))
    results.push(
      await measure("portside (forwards)", emulator, receiver.url, () => startPortsideContender(emulator.url, false, mkdtempSync(join(work, "forward-")))),
    );
  if (only.has("handler"))
    results.push(
      await measure("portside (local handler)", emulator, receiver.url, () => startPortsideContender(emulator.url, true, mkdtempSync(join(work, "handler-")))),
    );
  const agentRev = agentDir ? gitHead(agentDir) : undefined;
  console.log(
    [
      `# Port's agent and portside, polling the Port emulator (${new Date().toISOString()})`,
      "",
      `${fmt(N)} runs of an \`agent: true\`, synchronized WEBHOOK action queued before each contender starts; the receiver answers 200 JSON${receiverDelayMs > 0 ? ` after ${receiverDelayMs} ms` : ""}.`,
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}; portside ${gitHead(repo) ?? "?"}${agentRev ? `; Port's agent ${agentRev} (\`${agentCmd}\` in ${agentDir})` : ""}; logging: ${quiet ? "warnings only (--quiet)" : "each one's default"}.`,
      "",
      results.length > 0 ? report(results) : "(nothing measured)",
      ...skipped.map((s) => `\n${s}`),
    ].join("\n"),
  );
} finally {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}

function gitHead(dir: string): string | undefined {
  try {
    const rev = execFileSync("git", ["-C", dir, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["-C", dir, "status", "--porcelain", "--untracked-files=no"], { encoding: "utf8" }).trim();
    return dirty ? `${rev} (modified)` : rev;
  } catch {
    return undefined;
  }
}
