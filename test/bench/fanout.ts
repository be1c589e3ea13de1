/**
 * Phases 9 and 10 of `bun run bench`: catalog changes fanned out to EventBridge, and a scaling table.
 *
 *   9  A burst of changes posted to /sink/changes in 100-record batches, every change routed to
 *      EventBridge (test/bench/fanout-handlers.ts), published to a PutEvents server of the benchmark's own
 *      (test/bench/eventbridge.ts): changes/s from the first request to the last event, with the SQLite
 *      and with the Redis ledger; how full the PutEvents calls were; whether any change came twice; how
 *      soon a lone change is published. Default settings but the PutEvents rate.
 *   10 The same burst, and a burst of runs to the no-op handler, against CONCURRENCY and the batch size,
 *      with portside's CPU while it ran: where the limit sits.
 *   12 The 9a burst against a hand-made durable forwarder (test/bench/fanout-baseline.ts: same durability,
 *      same PutEvents server, same load), alternating, with the CPU seconds each spends per 10,000 changes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { procCpuSeconds, type PortsideProc, runLoad, startPortside, startRedis, startScript } from "./procs.ts";
import { summariseProfile } from "./profile.ts";
import { recordFactory } from "./messages.ts";

export interface FanoutContext {
  short: boolean;
  orgId: string;
  token: string;
  emulatorUrl: string;
  /** Environment every portside of the benchmark gets (org, token, Port emulator), without CONCURRENCY. */
  baseEnv: Record<string, string>;
  sqliteLedger(): string;
  row(id: string, measurement: string, value: string, target?: string, met?: boolean, gap?: string): void;
  details: string[];
  fmt(n: number, digits?: number): string;
  /** Where to write a CPU profile of portside during a burst like 9a's (taken after it, apart). */
  profileDir?: string;
  /** The same for 12's burst (`--profile=12`). */
  profileDir12?: string;
}

interface PutEventsStats {
  calls: number;
  entries: number;
  distinct: number;
  duplicates: number;
  firstAt: number;
  lastAt: number;
  sizes: number[];
  bodyBytes: number;
}
interface BurstLoad {
  startedAt: number;
  endedAt: number;
  acked: number;
  errors: number;
  lastError?: string;
  latencyMs: { p50: number; p99: number };
}
interface Burst {
  perSec: number;
  acked: number;
  ackPerSec: number;
  ackP99: number;
  seconds: number;
  /** CPU seconds of portside during the burst, per second of it (1 = one core). */
  cpuShare: number;
  /** CPU seconds of portside from the first request to the last event (or terminal status). */
  cpuSeconds: number;
  complete: boolean;
  errors: number;
  lastError?: string;
}

/** The PutEvents rate for these phases: the account's quota is what bounds it in AWS, not portside. */
const PUT_EVENTS_PER_SECOND = "10000";

export async function fanoutPhases(ctx: FanoutContext, phases: Set<number>): Promise<void> {
  const putEvents = await startScript("eventbridge.ts", "PutEvents server");
  const stats = async () => (await (await fetch(`${putEvents.url}/__bench/stats`)).json()) as PutEventsStats;
  const reset = async () => void (await fetch(`${putEvents.url}/__bench/reset`, { method: "POST" }));
  const fanoutEnv = (ledger: string, extra: Record<string, string> = {}) => ({
    ...ctx.baseEnv,
    HANDLERS: "test/bench/fanout-handlers.ts",
    LEDGER: ledger,
    AWS_REGION: "eu-west-1",
    AWS_ACCESS_KEY_ID: "AKIDBENCHMARK",
    AWS_SECRET_ACCESS_KEY: "benchmark-not-a-secret",
    EVENTBRIDGE_ENDPOINT: putEvents.url,
    EVENTBRIDGE_BUS: "bench",
    EVENTBRIDGE_PUT_EVENTS_PER_SECOND: PUT_EVENTS_PER_SECOND,
    ...extra,
  });
  let seq = 0;

  /**
   * Posts `total` records as fast as they are acknowledged and waits until `progress` says every one
   * acknowledged is done (published, or terminal at the emulator); the figure runs from the first request.
   */
  async function burst(
    p: Pick<PortsideProc, "url" | "cpu">,
    load: Record<string, unknown>,
    progress: () => Promise<{ done: number; lastAt: number }>,
  ): Promise<Burst> {
    const cpu0 = p.cpu();
    const sent = await runLoad<BurstLoad>({
      mode: "burst",
      urls: [p.url],
      token: ctx.token,
      orgId: ctx.orgId,
      form: "array",
      connections: 4,
      durationMs: 0,
      ...load,
    });
    const deadline = Date.now() + 180_000;
    let now = await progress();
    while (now.done < sent.acked && Date.now() < deadline) {
      await Bun.sleep(20);
      now = await progress();
    }
    const seconds = (now.lastAt - sent.startedAt) / 1000;
    return {
      perSec: now.done / seconds,
      acked: sent.acked,
      ackPerSec: sent.acked / ((sent.endedAt - sent.startedAt) / 1000),
      ackP99: sent.latencyMs.p99,
      seconds,
      cpuShare: (p.cpu() - cpu0) / seconds,
      cpuSeconds: p.cpu() - cpu0,
      complete: now.done >= sent.acked,
      errors: sent.errors,
      ...(sent.lastError ? { lastError: sent.lastError } : {}),
    };
  }

  /** A burst of changes, every one routed to EventBridge; done when published. */
  async function changeBurst(p: Pick<PortsideProc, "url" | "cpu">, total: number, batch: number): Promise<Burst> {
    await reset();
    return burst(p, { records: "change", path: "/sink/changes", batch, total, idPrefix: `c${++seq}_` }, async () => {
      const s = await stats();
      return { done: s.distinct, lastAt: s.lastAt };
    });
  }

  /** A burst of runs of the no-op action; done when terminal at the emulator. */
  async function runBurst(p: PortsideProc, total: number, batch: number): Promise<Burst> {
    await fetch(`${ctx.emulatorUrl}/__bench/reset`, { method: "POST" });
    return burst(p, { path: "/sink/runs", batch, total, idPrefix: `q${++seq}_`, declareUrl: ctx.emulatorUrl }, async () => {
      const e = (await (await fetch(`${ctx.emulatorUrl}/__bench/stats`)).json()) as { terminal: number; lastTerminalAt: number };
      return { done: e.terminal, lastAt: e.lastTerminalAt };
    });
  }

  /** How soon single changes, posted one at a time to an idle portside, are published (ms each). */
  async function loneChanges(p: PortsideProc, count: number): Promise<number[]> {
    await reset();
    const record = recordFactory(ctx.orgId, "change");
    const delays: number[] = [];
    for (let i = 0; i < count; i++) {
      await Bun.sleep(200);
      const before = (await stats()).distinct;
      const sentAt = Date.now();
      const res = await fetch(`${p.url}/sink/changes`, {
        method: "POST",
        body: record(`lone${++seq}_${i}`),
        headers: { authorization: `Bearer ${ctx.token}`, "content-type": "application/json" },
      });
      await res.arrayBuffer();
      let s = await stats();
      while (s.distinct <= before && Date.now() - sentAt < 10_000) {
        await Bun.sleep(1);
        s = await stats();
      }
      delays.push(s.lastAt - sentAt);
    }
    return delays;
  }

  const { fmt, row } = ctx;
  const total = ctx.short ? 20_000 : 100_000;

  if (phases.has(9)) {
    // 9a-c: SQLite.
    let p = await startPortside({ env: fanoutEnv(ctx.sqliteLedger()) });
    const sqlite = await changeBurst(p, total, 100);
    const s = await stats();
    const perCall = s.entries / Math.max(1, s.calls);
    const lone = await loneChanges(p, 10);
    await p.stop();
    row(
      "9a",
      `Change log → EventBridge, SQLite: ${fmt(total)} changes posted → all published (changes/s)`,
      `${fmt(sqlite.perSec)} changes/s (${fmt(sqlite.acked)} in ${fmt(sqlite.seconds, 1)} s; ${s.duplicates} published twice)${sqlite.complete ? "" : " — NOT all published within 180 s"}`,
      "≥ 20,000",
      sqlite.perSec >= 20_000 && s.duplicates === 0,
      `${fmt(sqlite.perSec / 20_000, 2)}× the target`,
    );
    row(
      "9b",
      "Entries per PutEvents call during 9a",
      `${fmt(perCall, 2)} (${fmt(s.calls)} calls; by entries 1–10: ${s.sizes.slice(1).join(" · ")})`,
      "≥ 9.5",
      perCall >= 9.5,
    );
    const sortedLone = lone.slice().sort((a, b) => a - b);
    row(
      "9c",
      "A lone change, posted to an idle portside → published",
      `max ${fmt(Math.max(...lone))} ms (median ${fmt(sortedLone[Math.floor(sortedLone.length / 2)] ?? NaN)} ms, ${lone.length} changes)`,
      "≤ 50 ms",
      Math.max(...lone) <= 50,
    );
    if (ctx.profileDir) await profiledBurst("9", ctx.profileDir);
    // 9d: Redis.
    const redis = await startRedis();
    p = await startPortside({ env: fanoutEnv(redis.url) });
    const viaRedis = await changeBurst(p, total, 100);
    const r = await stats();
    await p.stop();
    await redis.stop();
    row(
      "9d",
      `Change log → EventBridge, Redis: ${fmt(total)} changes posted → all published (changes/s)`,
      `${fmt(viaRedis.perSec)} changes/s (${fmt(viaRedis.acked)} in ${fmt(viaRedis.seconds, 1)} s; ${r.duplicates} published twice)${viaRedis.complete ? "" : " — NOT all published within 180 s"}`,
      "≥ 20,000",
      viaRedis.perSec >= 20_000 && r.duplicates === 0,
      `${fmt(viaRedis.perSec / 20_000, 2)}× the target`,
    );
    ctx.details.push(
      `9: ${fmt(total)} entity UPDATE changes (about 1 KB each) in 100-record JSON-array batches over 4 connections, closed loop; every change routed to EventBridge (test/bench/fanout-handlers.ts) and published to test/bench/eventbridge.ts, which counts events by detail.idempotencyKey; default settings but EVENTBRIDGE_PUT_EVENTS_PER_SECOND=${PUT_EVENTS_PER_SECOND}. Acknowledged at ${fmt(sqlite.ackPerSec)} changes/s (SQLite) and ${fmt(viaRedis.ackPerSec)} (Redis); portside used ${fmt(sqlite.cpuShare * 100)}% / ${fmt(viaRedis.cpuShare * 100)}% of a core over the burst. 9c: one change per request, 200 ms apart, time from the post to its arrival at the server.`,
    );
  }

  if (phases.has(10)) {
    const concurrencies = ctx.short ? [16, 256] : [16, 64, 256];
    const batches = ctx.short ? [100] : [10, 100, 500];
    const n = ctx.short ? 10_000 : 20_000;
    const lines = ["| CONCURRENCY | batch | changes/s → EventBridge | its CPU | runs/s → terminal | its CPU |", "|---|---|---|---|---|---|"];
    for (const concurrency of concurrencies) {
      for (const batch of batches) {
        let p = await startPortside({ env: fanoutEnv(ctx.sqliteLedger(), { CONCURRENCY: String(concurrency) }) });
        const changes = await changeBurst(p, n, batch);
        await p.stop();
        p = await startPortside({
          env: { ...ctx.baseEnv, HANDLERS: "test/bench/noop-handlers.ts", LEDGER: ctx.sqliteLedger(), CONCURRENCY: String(concurrency) },
        });
        const runs = await runBurst(p, n, batch);
        await p.stop();
        const cell = (b: Burst) => `${fmt(b.perSec)}${b.complete ? "" : " (incomplete)"}${b.errors ? ` (${b.errors} errors: ${b.lastError})` : ""}`;
        lines.push(`| ${concurrency} | ${batch} | ${cell(changes)} | ${fmt(changes.cpuShare * 100)}% | ${cell(runs)} | ${fmt(runs.cpuShare * 100)}% |`);
        console.log(
          `[bench] 10 CONCURRENCY=${concurrency} batch=${batch}: ${cell(changes)} changes/s (CPU ${fmt(changes.cpuShare * 100)}%), ${cell(runs)} runs/s (CPU ${fmt(runs.cpuShare * 100)}%)`,
        );
      }
    }
    row("10", "Scaling: changes/s and runs/s against CONCURRENCY and batch size", "see the table below");
    ctx.details.push(
      `10: ${fmt(n)} changes (to EventBridge) or runs (no-op handler, reported to the Port emulator) per cell, posted as fast as acknowledged over 4 connections, from the first request to the last event or terminal status; SQLite ledger; CPU is portside's user + system time over the cell's wall time (100% = one core).\n\n${lines.join("\n")}`,
    );
  }
  if (phases.has(12)) await againstBaseline();
  await putEvents.stop();

  /**
   * 12: the 9a burst, alternating between the hand-made forwarder and portside (a fresh process and ledger
   * each time), `rounds` of each; the figures are the medians, the ratio portside's over the baseline's.
   */
  async function againstBaseline() {
    const rounds = ctx.short ? 1 : 2;
    const dir = mkdtempSync(join(tmpdir(), "portside-bench-fanout-baseline-"));
    const results: Record<"baseline" | "portside", Array<Burst & { perCall: number; eventBytes: number; duplicates: number }>> = { baseline: [], portside: [] };
    try {
      for (let round = 0; round < rounds; round++) {
        for (const who of ["baseline", "portside"] as const) {
          const env = fanoutEnv(ctx.sqliteLedger());
          const p =
            who === "portside"
              ? await startPortside({ env })
              : await (async () => {
                  const proc = await startScript("fanout-baseline.ts", "fan-out baseline", { ...env, LEDGER_FILE: join(dir, `baseline-${round}.sqlite`) });
                  return { ...proc, cpu: () => procCpuSeconds(proc.pid) };
                })();
          const b = await changeBurst(p, total, 100);
          await p.stop();
          const s = await stats();
          results[who].push({ ...b, perCall: s.entries / Math.max(1, s.calls), eventBytes: s.bodyBytes / Math.max(1, s.entries), duplicates: s.duplicates });
          console.log(
            `[bench] 12 round ${round + 1} ${who}: ${fmt(b.perSec)} changes/s, ${fmt((b.cpuSeconds / Math.max(1, b.acked)) * 10_000, 2)} CPU s per 10,000 changes${b.complete ? "" : " (incomplete)"}`,
          );
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const median = (xs: number[]) => {
      const sorted = xs.slice().sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
    };
    const rate = (who: "baseline" | "portside") => median(results[who].map((b) => b.perSec));
    const cpu = (who: "baseline" | "portside") => median(results[who].map((b) => (b.cpuSeconds / Math.max(1, b.acked)) * 10_000));
    const ratio = rate("portside") / rate("baseline");
    const each = (who: "baseline" | "portside") => results[who].map((b) => fmt(b.perSec)).join(" / ");
    const complete = [...results.baseline, ...results.portside].every((b) => b.complete && b.duplicates === 0);
    row(
      "12",
      `Change log → EventBridge against a hand-made durable forwarder: ${fmt(total)} changes posted → all published (changes/s)`,
      `${fmt(rate("portside"))} vs baseline ${fmt(rate("baseline"))} = ${fmt(ratio, 2)}× (portside ${each("portside")}; baseline ${each("baseline")})${complete ? "" : " — NOT all published once"}`,
      "≥ 0.8× baseline",
      ratio >= 0.8 && complete,
      `${fmt(0.8 - ratio, 2)}× short`,
    );
    row(
      "12b",
      "CPU seconds per 10,000 changes during 12 (the process's user + system time)",
      `portside ${fmt(cpu("portside"), 2)} vs baseline ${fmt(cpu("baseline"), 2)} = ×${fmt(cpu("portside") / cpu("baseline"), 2)}`,
    );
    const describe = (who: "baseline" | "portside") =>
      results[who]
        .map(
          (b) =>
            `${fmt(b.perSec)} changes/s in ${fmt(b.seconds, 1)} s, ${fmt(b.cpuShare * 100)}% of a core, ${fmt(b.perCall, 2)} entries per call, ${fmt(b.eventBytes)} bytes per entry`,
        )
        .join("; ");
    ctx.details.push(
      `12: ${rounds === 1 ? "one round" : `${rounds} rounds`} of each, alternating (baseline first), a fresh process and SQLite file each time; the load and the PutEvents server of 9a. Baseline (test/bench/fanout-baseline.ts): ${describe("baseline")}. portside: ${describe("portside")}. Bytes per entry are the PutEvents request bodies over their entries, so the two publish the same events.`,
    );
    if (ctx.profileDir12) await profiledBurst("12", ctx.profileDir12);
  }

  /** A burst like 9a's on a portside of its own under `bun --cpu-prof`, apart from the figures. */
  async function profiledBurst(phase: string, dir: string) {
    rmSync(dir, { recursive: true, force: true });
    const p = await startPortside({ env: fanoutEnv(ctx.sqliteLedger()), cpuProfDir: dir });
    const b = await changeBurst(p, total, 100);
    await p.stop();
    const summary = summariseProfile(dir);
    ctx.details.push(
      `Profile of portside during a burst like ${phase === "9" ? "9a" : phase}'s (bun --cpu-prof, ${fmt(b.perSec)} changes/s under the profiler, ${dir}):\n${summary}`,
    );
    console.log(`[bench] profile of ${phase}:\n${summary}`);
  }
}
