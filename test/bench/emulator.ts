/**
 * The Port EMULATOR (src/emulator) as its own process for the benchmark, with a small counting wrapper:
 * `GET /__bench/stats` answers the calls made per endpoint and the runs that reached a terminal status,
 * `POST /__bench/reset` starts over with a fresh emulator, `POST /__bench/refuse?ms=<n>` answers every
 * call 429 for that long (Port's rate limit; Retry-After the seconds left) and counts the calls made meanwhile. The emulator's per-call record (kept for tests)
 * is trimmed as it goes, so a long run does not grow this process. `bun test/bench/emulator.ts <port>`.
 *
 * `POST /__bench/trigger` `{action: <declaration as POST /emulator/actions takes it>, count, idPrefix?}` declares
 * the action and triggers it `count` times at once (run ids `<idPrefix><n>` when given), as Port does when someone clicks Execute (runs of an `agent: true`
 * WEBHOOK action then wait to be claimed); the queueing is no Port call of the measured process, so it is not
 * counted; with `track: true` the time from each run's claim to its terminal status is kept
 * (`claimToTerminalMs`). `GET /__bench/stats?responses=1` also counts the runs that have a stored response (a
 * walk over every run, so only on request).
 */
import { createPortEmulator, type PortEmulator } from "../../src/emulator/port-emulator.ts";
import { declareAction, type EmulatedActionInput, triggerAction } from "../../src/emulator/port-emulator-actions.ts";
import type { RecordedCall } from "../../src/emulator/port-emulator-state.ts";

interface Stats {
  calls: Record<string, number>;
  /** Calls answered 4xx/5xx, per endpoint. */
  refusedCalls: Record<string, number>;
  /** When each endpoint was first called (epoch ms). */
  firstCallAt: Record<string, number>;
  /** Runs with a stored response (`?responses=1` only). */
  withResponse?: number;
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
  /**
   * With `trackLatency` (set by a trigger): for each run, the time from the claim answer that handed it out to
   * its terminal status, ms, in arrival order.
   */
  claimToTerminalMs: number[];
}

let emulator: PortEmulator;
let stats: Stats;
/** When each run was handed out by a claim (only with `trackLatency`). */
const claimedAt = new Map<string, number>();
let trackLatency = false;
/** How many of `emulator.state.calls` are in `stats` already. */
let counted = 0;
function reset() {
  emulator = createPortEmulator({});
  // The benchmark measures portside, not the organisation's budget: far more than any phase spends.
  emulator.state.rateLimit = { limit: 1_000_000_000, periodS: 300 };
  counted = 0;
  stats = {
    calls: { token: 0, patchRun: 0, postLog: 0, upsertEntity: 0, getRun: 0, unknown: 0 },
    refusedCalls: {},
    firstCallAt: {},
    terminal: 0,
    success: 0,
    failure: 0,
    refused: 0,
    firstTerminalAt: 0,
    lastTerminalAt: 0,
    window: { startAt: 0, endAt: 0, calls: 0, refused: 0 },
    claimMs: 0,
    claimToTerminalMs: [],
  };
  claimedAt.clear();
  trackLatency = false;
}

reset();

function count(call: RecordedCall) {
  stats.calls[call.endpoint] = (stats.calls[call.endpoint] ?? 0) + 1;
  stats.firstCallAt[call.endpoint] ??= call.atMs;
  if (call.status >= 400) stats.refusedCalls[call.endpoint] = (stats.refusedCalls[call.endpoint] ?? 0) + 1;
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
      const claimed = claimedAt.get(call.runId);
      if (claimed !== undefined) stats.claimToTerminalMs.push(now - claimed);
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
    if (url.pathname === "/__bench/stats") {
      if (url.searchParams.get("responses") !== "1") return Response.json(stats);
      let withResponse = 0;
      for (const run of emulator.state.runs.values()) if (run.response !== undefined) withResponse++;
      return Response.json({ ...stats, withResponse });
    }
    if (url.pathname === "/__bench/trigger" && req.method === "POST") {
      const { action, count, idPrefix, track } = (await req.json()) as { action: EmulatedActionInput; count: number; idPrefix?: string; track?: boolean };
      if (track) trackLatency = true;
      const declared = declareAction(emulator.state, action);
      for (let i = 0; i < count; i++)
        triggerAction(emulator.state, Date.now, declared.identifier, { properties: { n: i }, ...(idPrefix ? { id: `${idPrefix}${i.toString(36)}` } : {}) });
      return Response.json({ ok: true, triggered: count, queuedAt: Date.now() });
    }
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
    const t0 = performance.now();
    const res = await emulator.app.fetch(req);
    if (url.pathname === "/v1/actions/runs/claim-pending") {
      stats.claimMs += performance.now() - t0;
      if (trackLatency && res.ok) {
        const at = Date.now();
        for (const run of ((await res.clone().json()) as { runs: { id: string }[] }).runs) claimedAt.set(run.id, at);
      }
    }
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
