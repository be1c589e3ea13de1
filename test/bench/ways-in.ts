/**
 * Phase 11 of `bun run bench`: the other ways in, each a thin adapter over the same ingest as the sink.
 *
 *  11a Polling Port's API in place of its execution agent (PORT_POLLING=true): runs of an `agent: true`
 *      WEBHOOK action queued in the Port emulator all at once, a no-op handler for the action; queued → all
 *      terminal at the emulator, and the Port calls per run by endpoint (claims, acks, statuses, token…).
 *  11b The same for an action with no handler: each run is forwarded as Port's agent forwards it (the
 *      agent's default mapping through jq, one HTTP call) to a receiver answering 200
 *      (test/bench/receiver.ts); the action is `synchronized`, so portside stores the answer as the run's
 *      response and reports SUCCESS.
 *  11f The same at a steady 20 runs/s: per run, the time from the claim that handed it out to its terminal
 *      status (the receiver answers at once: what portside adds to the webhook's own time).
 *  11c Port's signed webhooks (PORT_WEBHOOKS=true, POST /webhooks/port/deploy, answered 202) against
 *      single-record requests to /sink/runs (answered 200), closed loop over phase 1's connections, one
 *      after the other on fresh portsides, in two rounds (sink first, then webhook first): runs/s
 *      acknowledged, the latency to the answer (11d), and portside's CPU per run (11e).
 */
import { readdirSync, readFileSync } from "node:fs";
import { type PortsideProc, procCpuSeconds, runLoad, startScript } from "./procs.ts";

export interface WaysInContext {
  short: boolean;
  orgId: string;
  token: string;
  emulatorUrl: string;
  /** The Port client secret every portside of the benchmark is given: what Port signs its webhooks with. */
  clientSecret: string;
  /** Phase 1's closed-loop connections, its measured time and warm-up (ms). */
  ack: { connections: number; durationMs: number; warmupMs: number };
  /** A portside with the benchmark's settings (no-op handlers, CONCURRENCY) on `ledger`, plus `extra`. */
  portside(ledger: string, extra?: Record<string, string>): Promise<PortsideProc>;
  sqliteLedger(): string;
  row(id: string, measurement: string, value: string, target?: string, met?: boolean, gap?: string): void;
  details: string[];
  fmt(n: number, digits?: number): string;
}

interface EmulatorStats {
  calls: Record<string, number>;
  terminal: number;
  success: number;
  failure: number;
  refused: number;
  lastTerminalAt: number;
  claimMs: number;
}

interface ClosedResult {
  records: number;
  requests: number;
  allRecords: number;
  recordsPerSec: number;
  errors: number;
  lastError?: string;
  latencyMs: { p50: number; p90: number; p99: number; max: number; n: number };
}

/** How often polling claims when a claim came back short: the least POLLING_INTERVAL_MS allows. */
const POLLING_INTERVAL_MS = "100";
/** An `agent: true` action with a handler never calls its URL; the declaration needs one all the same. */
const UNCALLED_URL = "http://127.0.0.1:9/never-called";

/** CPU seconds used so far by the process's children (portside's jq host); 0 when it has none. */
function childrenCpuSeconds(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let children = "";
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8");
    } catch {
      continue;
    }
    for (const child of children.split(" ").filter(Boolean)) {
      try {
        total += procCpuSeconds(Number(child));
      } catch {
        // it ended meanwhile
      }
    }
  }
  return total;
}

export async function waysInPhase(ctx: WaysInContext): Promise<void> {
  const { fmt, row } = ctx;
  const stats = async () => (await (await fetch(`${ctx.emulatorUrl}/__bench/stats`)).json()) as EmulatorStats;
  const resetEmulator = async () => void (await fetch(`${ctx.emulatorUrl}/__bench/reset`, { method: "POST" }));
  const waitFor = async (check: () => Promise<boolean>, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check()) return true;
      await Bun.sleep(50);
    }
    return false;
  };
  const callList = (calls: Record<string, number>) =>
    Object.entries(calls)
      .filter(([, n]) => n > 0)
      .sort(([, a], [, b]) => b - a)
      .map(([endpoint, n]) => `${endpoint} ${fmt(n)}`)
      .join(", ");

  /**
   * A polling portside (on a fresh emulator) takes `count` runs of `action` queued at once; the figure runs
   * from the moment they were all queued to the last terminal status, and the calls are those made meanwhile.
   */
  async function polled(action: string, count: number, idPrefix: string, url: string, synchronized: boolean, batch = "100") {
    await resetEmulator();
    const p = await ctx.portside(ctx.sqliteLedger(), { PORT_POLLING: "true", POLLING_INTERVAL_MS, POLLING_BATCH: batch });
    try {
      // Ready once a claim succeeded: the token is fetched and the organisation's streamer set by then.
      if (!(await waitFor(async () => (await fetch(`${p.url}/readyz`)).ok, 30_000))) throw new Error("the polling portside never became ready");
      const before = await stats();
      const cpu0 = p.cpu();
      const childCpu0 = childrenCpuSeconds(p.pid);
      const res = await fetch(`${ctx.emulatorUrl}/__bench/trigger`, {
        method: "POST",
        body: JSON.stringify({ action: { identifier: action, invocationMethod: { type: "WEBHOOK", url, agent: true, synchronized } }, count, idPrefix }),
      });
      const { queuedAt } = (await res.json()) as { queuedAt: number };
      const done = await waitFor(async () => (await stats()).terminal >= before.terminal + count, 300_000);
      const after = await stats();
      const terminal = after.terminal - before.terminal;
      const seconds = terminal > 0 ? (after.lastTerminalAt - queuedAt) / 1000 : Number.NaN;
      const cpuShare = (p.cpu() - cpu0) / seconds;
      const childCpuShare = (childrenCpuSeconds(p.pid) - childCpu0) / seconds;
      const calls: Record<string, number> = {};
      for (const [endpoint, n] of Object.entries(after.calls)) calls[endpoint] = n - (before.calls[endpoint] ?? 0);
      const totalCalls = Object.values(calls).reduce((a, b) => a + b, 0);
      return {
        done,
        seconds,
        perSec: terminal / seconds,
        terminal,
        success: after.success - before.success,
        failure: after.failure - before.failure,
        refused: after.refused - before.refused,
        calls,
        callsPerRun: totalCalls / Math.max(1, terminal),
        claims: calls.claimRuns ?? 0,
        acks: calls.ackRuns ?? 0,
        claimMs: after.claimMs - before.claimMs,
        cpuShare,
        childCpuShare,
      };
    } finally {
      await p.stop();
    }
  }

  type Polled = Awaited<ReturnType<typeof polled>>;
  const pollingValue = (r: Polled, count: number) =>
    `${fmt(r.perSec)} runs/s (${fmt(r.terminal)} runs in ${fmt(r.seconds, 1)} s${r.done ? "" : `, NOT all ${fmt(count)} terminal within 300 s`}${r.failure ? `, ${fmt(r.failure)} FAILURE` : ""}); Port calls/run ${fmt(r.callsPerRun, 3)}: ${callList(r.calls)}`;
  const pollingDetail = (r: Polled) =>
    `portside used ${fmt(r.cpuShare * 100)}% of a core (its jq host ${fmt(r.childCpuShare * 100)}% besides); ${fmt(r.acks)} claims brought runs, one every ${fmt((r.seconds * 1000) / Math.max(1, r.acks), 1)} ms on average; the emulator took ${fmt(r.claimMs)} ms in all to answer ${fmt(r.claims)} run claims (${fmt(r.claimMs / Math.max(1, r.claims), 1)} ms each, wall time in its process), ${fmt((r.claimMs / 1000 / r.seconds) * 100)}% of the phase`;

  // 11a. Polling, a handler for the action ------------------------------------------------------------------
  const pollCount = ctx.short ? 5_000 : 20_000;
  const poll = await polled("deploy", pollCount, "pa_", UNCALLED_URL, false);
  row("11a", `Polling Port (PORT_POLLING=true): ${fmt(pollCount)} queued runs → all terminal, no-op handler`, pollingValue(poll, pollCount));
  // The same with the largest claim: each claim → record → ack round carries ten times the runs.
  const wide = await polled("deploy", pollCount, "pw_", UNCALLED_URL, false, "1000");
  ctx.details.push(
    `11a: ${fmt(pollCount)} runs of an agent: true WEBHOOK action (deploy, a no-op handler) queued in the emulator at once, after portside's first claim; from the moment all were queued to the last terminal status; POLLING_BATCH=100 (default), POLLING_INTERVAL_MS=${POLLING_INTERVAL_MS}, node runs claimed too (default), SQLite ledger; calls counted from the queueing on (token and the organisation's streamer were set before); ${pollingDetail(poll)}; ${poll.success} SUCCESS, ${poll.failure} FAILURE, ${poll.refused} calls refused. Polling claims, records, acknowledges and claims node runs one after the other (four round trips per claim, the emulator meanwhile answering the statuses), and the figure includes up to ${POLLING_INTERVAL_MS} ms before the first claim after the queueing. The same with POLLING_BATCH=1000, in this run: ${pollingValue(wide, pollCount)}; ${pollingDetail(wide)}.`,
  );

  // 11b. Polling, no handler: forwarded as Port's agent forwards it ------------------------------------------
  const receiver = await startScript("receiver.ts", "forwarding receiver");
  try {
    const forwardCount = ctx.short ? 2_000 : 5_000;
    const forwarded = await polled("forward_deploy", forwardCount, "pf_", `${receiver.url}/deploy`, true);
    const received = (await (await fetch(`${receiver.url}/__bench/stats`)).json()) as { requests: number; distinctKeys: number; repeatedKeys: number };
    row(
      "11b",
      `Polling, no handler: ${fmt(forwardCount)} queued runs forwarded as Port's agent does (synchronized) → all terminal`,
      pollingValue(forwarded, forwardCount),
    );
    ctx.details.push(
      `11b: ${fmt(forwardCount)} runs of an agent: true, synchronized WEBHOOK action no handler serves, queued at once; each forwarded through the agent's default mapping (jq in portside's jq host) to test/bench/receiver.ts, which answered 200 with a small JSON body (${fmt(received.requests)} requests, ${fmt(received.distinctKeys)} distinct Idempotency-Keys, ${fmt(received.repeatedKeys)} repeated); portside stores the answer (putRunResponse) and reports SUCCESS; ${pollingDetail(forwarded)}; ${forwarded.success} SUCCESS, ${forwarded.failure} FAILURE, ${forwarded.refused} calls refused.`,
    );
    // 11f. The same at a steady low rate: how long portside takes from a claim to the status, beside the call.
    const rate = 20;
    const paced = await pacedForward(`${receiver.url}/deploy`, rate, ctx.short ? 5_000 : 10_000);
    row(
      "11f",
      `Polling, no handler, ${rate} runs/s steady: claim → terminal status per forwarded run (the receiver answers at once)`,
      `p50 ${fmt(paced.p50, 1)} ms, p99 ${fmt(paced.p99, 1)} ms (max ${fmt(paced.max, 1)} ms, ${fmt(paced.n)} runs${paced.failure ? `, ${paced.failure} FAILURE` : ""})`,
    );
    ctx.details.push(
      `11f: runs of a synchronized agent: true WEBHOOK action with no handler triggered one at a time, ${rate} a second, for ${ctx.short ? 5 : 10} s; for each, from the emulator's claim answer that handed it out to the terminal status arriving there: the agent's default mapping through jq, the forwarded call (test/bench/receiver.ts answers at once, so the webhook's own time is near 0 and this is what portside adds), the stored answer and the status report.`,
    );
  } finally {
    await receiver.stop();
  }

  /** Runs triggered `perSec` a second for `durationMs` on a polling portside; claim → terminal percentiles. */
  async function pacedForward(url: string, perSec: number, durationMs: number) {
    await resetEmulator();
    const p = await ctx.portside(ctx.sqliteLedger(), { PORT_POLLING: "true", POLLING_INTERVAL_MS });
    try {
      if (!(await waitFor(async () => (await fetch(`${p.url}/readyz`)).ok, 30_000))) throw new Error("the polling portside never became ready");
      const action = { identifier: "paced_forward", invocationMethod: { type: "WEBHOOK", url, agent: true, synchronized: true } };
      const count = Math.round((perSec * durationMs) / 1000);
      const started = Date.now();
      for (let i = 0; i < count; i++) {
        await Bun.sleep(Math.max(0, started + (i * 1000) / perSec - Date.now()));
        await fetch(`${ctx.emulatorUrl}/__bench/trigger`, { method: "POST", body: JSON.stringify({ action, count: 1, idPrefix: `pp_${i}_`, track: true }) });
      }
      await waitFor(async () => (await stats()).terminal >= count, 60_000);
      const after = (await stats()) as EmulatorStats & { claimToTerminalMs: number[] };
      const sorted = [...after.claimToTerminalMs].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
      return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN, n: sorted.length, failure: after.failure };
    } finally {
      await p.stop();
    }
  }

  // 11c. Signed webhooks against single-record sink requests ------------------------------------------------
  const closed = async (path: string, idPrefix: string, webhook: boolean) => {
    await resetEmulator();
    const p = await ctx.portside(ctx.sqliteLedger(), { PORT_WEBHOOKS: "true" });
    try {
      const cpu0 = p.cpu();
      const startedAt = Date.now();
      const load = await runLoad<ClosedResult>({
        mode: "closed",
        urls: [p.url],
        path,
        token: ctx.token,
        orgId: ctx.orgId,
        form: "array",
        batch: 1,
        durationMs: ctx.ack.durationMs,
        warmupMs: ctx.ack.warmupMs,
        connections: ctx.ack.connections,
        idPrefix,
        declareUrl: ctx.emulatorUrl,
        ...(webhook ? { webhookSecret: ctx.clientSecret } : {}),
      });
      const cpuSeconds = p.cpu() - cpu0;
      // CPU per run acknowledged: steadier than the rate on a shared machine, where other load takes turns.
      return { ...load, cpuShare: cpuSeconds / ((Date.now() - startedAt) / 1000), cpuMsPerRun: (cpuSeconds * 1000) / Math.max(1, load.allRecords) };
    } finally {
      await p.stop();
    }
  };
  // Two rounds, sink–webhook then webhook–sink, so a drift of the machine's load weighs on both alike.
  type Closed = Awaited<ReturnType<typeof closed>>;
  const sinks: Closed[] = [];
  const hooks: Closed[] = [];
  for (const round of [0, 1]) {
    const ways = round === 0 ? (["sink", "webhook"] as const) : (["webhook", "sink"] as const);
    for (const way of ways) {
      if (way === "sink") sinks.push(await closed("/sink/runs", `ks${round}_`, false));
      else hooks.push(await closed("/webhooks/port/deploy", `kw${round}_`, true));
    }
  }
  const mean = (rs: Closed[], f: (r: Closed) => number) => rs.reduce((sum, r) => sum + f(r), 0) / rs.length;
  const perSec = (rs: Closed[]) => mean(rs, (r) => r.recordsPerSec);
  const errors = (rs: Closed[]) => {
    const n = rs.reduce((sum, r) => sum + r.errors, 0);
    return n ? ` (${n} errors: ${rs.find((r) => r.lastError)?.lastError})` : "";
  };
  const both = (rs: Closed[], f: (r: Closed) => number, digits = 0) => rs.map((r) => fmt(f(r), digits)).join(" / ");
  const ratios = hooks.map((h, i) => h.recordsPerSec / (sinks[i] as Closed).recordsPerSec);
  row(
    "11c",
    "Signed webhooks against the sink, one run per request: runs/s acknowledged (mean of two rounds)",
    `webhook ${fmt(perSec(hooks))}${errors(hooks)} vs sink ${fmt(perSec(sinks))}${errors(sinks)} = ${fmt(perSec(hooks) / perSec(sinks), 2)}× (rounds: ${ratios.map((r) => `${fmt(r, 2)}×`).join(", ")})`,
  );
  const latency = (rs: Closed[]) => `p50 ${both(rs, (r) => r.latencyMs.p50, 1)} ms, p99 ${both(rs, (r) => r.latencyMs.p99, 1)} ms`;
  row("11d", "Latency to the answer during 11c, round 1 / round 2: webhook (202) · sink (200)", `${latency(hooks)} · ${latency(sinks)}`);
  const cpuMs = (r: Closed) => r.cpuMsPerRun;
  row(
    "11e",
    "portside CPU per run acknowledged during 11c (ms; its executor and reporter included)",
    `webhook ${fmt(mean(hooks, cpuMs), 3)} vs sink ${fmt(mean(sinks, cpuMs), 3)} = ${fmt(mean(hooks, cpuMs) / mean(sinks, cpuMs), 2)}× (rounds: webhook ${both(hooks, cpuMs, 3)}, sink ${both(sinks, cpuMs, 3)})`,
  );
  ctx.details.push(
    `11c–11e: ${ctx.ack.connections} connections, closed loop, ${fmt(ctx.ack.durationMs / 1000)} s after ${fmt(ctx.ack.warmupMs / 1000)} s warm-up, each on a fresh portside (PORT_WEBHOOKS=true, SINK_TOKEN set, SQLite ledger), in two rounds: sink then webhook, webhook then sink; every run declared in the emulator beforehand, out of the measured time. Webhook: POST /webhooks/port/deploy with Port's default body ({"version":"1.0.0","port_context":{"runId":…}}, ${fmt(JSON.stringify({ version: "1.0.0", port_context: { runId: "kw0_aaa" } }).length)} bytes), its RUN_ID header, x-port-timestamp and x-port-signature (HMAC-SHA256 with the organisation's client secret, made by the load generator as each request is taken); sink: POST /sink/runs with a one-record JSON array (Port's legacy run message, ~550 bytes) and the bearer token. As in phase 1, portside runs what it acknowledged meanwhile. Per round: webhook ${both(hooks, (r) => r.recordsPerSec)} runs/s, sink ${both(sinks, (r) => r.recordsPerSec)}; portside used ${both(hooks, (r) => r.cpuShare * 100)}% (webhook) and ${both(sinks, (r) => r.cpuShare * 100)}% (sink) of a core over the load, warm-up included (11e divides that CPU by every run acknowledged, warm-up included: a steadier figure than the rate while other load on the machine takes turns); max latency ${both(hooks, (r) => r.latencyMs.max, 1)} ms and ${both(sinks, (r) => r.latencyMs.max, 1)} ms.`,
  );
}
