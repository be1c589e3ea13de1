/**
 * The Port EMULATOR (src/emulator) as its own process for the benchmark, with a small counting wrapper:
 * `GET /__bench/stats` answers the calls made per endpoint and the runs that reached a terminal status,
 * `POST /__bench/reset` starts over with a fresh emulator, `POST /__bench/refuse?ms=<n>` answers every
 * call 429 for that long (Port's rate limit; Retry-After the seconds left) and counts the calls made meanwhile,
 * `POST /__bench/agent-runs` `{action, url, count, idPrefix, synchronized?}` declares a WEBHOOK action with
 * `agent: true` and triggers `count` runs of it, waiting for an execution agent to claim them (phase 11). The
 * emulator's per-call record (kept for tests) is trimmed as it goes, so a long run does not grow this process.
 * `bun test/bench/emulator.ts <port>`.
 */
import { declareAction, triggerAction } from "../../src/emulator/port-emulator-actions.ts";
import { createPortEmulator, type PortEmulator } from "../../src/emulator/port-emulator.ts";
import type { RecordedCall } from "../../src/emulator/port-emulator-state.ts";

interface Stats {
  calls: Record<string, number>;
  terminal: number;
  success: number;
  failure: number;
  refused: number;
  firstTerminalAt: number;
  lastTerminalAt: number;
  /** The last 429 window (`/__bench/refuse`): when it began and ended, the calls that arrived in it. */
  window: { startAt: number; endAt: number; calls: number; refused: number };
  /** Wall time the emulator took to answer run claims (claim-pending), ms: what an agent's claim waits for here. */
  claimMs: number;
}

let emulator: PortEmulator;
let stats: Stats;
/** How many of `emulator.state.calls` are in `stats` already. */
let counted = 0;
function reset() {
  emulator = createPortEmulator({});
  // The benchmark measures portside, not the organisation's budget: far more than any phase spends.
  emulator.state.rateLimit = { limit: 1_000_000_000, periodS: 300 };
  counted = 0;
  stats = {
    calls: { token: 0, patchRun: 0, postLog: 0, upsertEntity: 0, getRun: 0, unknown: 0 },
    terminal: 0,
    success: 0,
    failure: 0,
    refused: 0,
    firstTerminalAt: 0,
    lastTerminalAt: 0,
    window: { startAt: 0, endAt: 0, calls: 0, refused: 0 },
    claimMs: 0,
  };
}

interface AgentRuns {
  action: string;
  url: string;
  count: number;
  idPrefix: string;
  synchronized?: boolean;
}

/** Declares an `agent: true` WEBHOOK action and queues `count` runs of it, as if someone triggered it that often. */
function queueAgentRuns(o: AgentRuns): { queued: number; queuedAt: number } {
  declareAction(emulator.state, {
    identifier: o.action,
    invocationMethod: { type: "WEBHOOK", url: o.url, agent: true, synchronized: o.synchronized ?? false },
  });
  for (let i = 0; i < o.count; i++)
    triggerAction(emulator.state, Date.now, o.action, { properties: { version: "1.0.0" }, id: `${o.idPrefix}${i.toString(36)}` });
  return { queued: o.count, queuedAt: Date.now() };
}
reset();

function count(call: RecordedCall) {
  stats.calls[call.endpoint] = (stats.calls[call.endpoint] ?? 0) + 1;
  if (call.atMs >= stats.window.startAt && call.atMs < stats.window.endAt) {
    stats.window.calls++;
    if (call.status === 429) stats.window.refused++;
  }
  if (call.status >= 400) stats.refused++;
  else if (call.endpoint === "patchRun" && call.runId !== undefined) {
    const status = emulator.state.terminalStatus(call.runId);
    if (status && (call.body as { status?: string } | undefined)?.status) {
      const now = Date.now();
      stats.terminal++;
      if (status === "SUCCESS") stats.success++;
      else stats.failure++;
      if (stats.firstTerminalAt === 0) stats.firstTerminalAt = now;
      stats.lastTerminalAt = now;
    }
  }
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/__bench/stats") return Response.json(stats);
    if (url.pathname === "/__bench/reset") {
      reset();
      return Response.json({ ok: true });
    }
    if (url.pathname === "/__bench/refuse") {
      const ms = Number(url.searchParams.get("ms") ?? 30_000);
      emulator.state.refuseFor(ms);
      stats.window = { startAt: Date.now(), endAt: emulator.state.refusingUntilMs, calls: 0, refused: 0 };
      return Response.json({ ok: true, ...stats.window });
    }
    if (url.pathname === "/__bench/agent-runs") return Response.json(queueAgentRuns((await req.json()) as AgentRuns));
    const t0 = performance.now();
    const res = await emulator.app.fetch(req);
    if (url.pathname === "/v1/actions/runs/claim-pending") stats.claimMs += performance.now() - t0;
    // Every call recorded since the last request, counted once (the emulator's own routes, such as
    // declaring runs, are not Port calls and are not recorded).
    const calls = emulator.state.calls;
    for (; counted < calls.length; counted++) count(calls[counted] as RecordedCall);
    if (calls.length > 1000) {
      calls.length = 0;
      counted = 0;
    }
    return res;
  },
});
console.log(`ready ${server.port}`);
