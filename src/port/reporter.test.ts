import { describe, expect, test } from "bun:test";
import { createPortEmulator } from "../emulator/port-emulator.ts";
import type { ClaimOptions, Ledger, PendingReport, ReportOutcome } from "../ledger/ledger.ts";
import type { PortCall, ReportInput } from "./calls.ts";
import { createPortClient } from "./client.ts";
import type { PortLogger } from "./deps.ts";
import type { FetchFn } from "./http.ts";
import { createReporter } from "./reporter.ts";
import type { ReporterOptions } from "./reporter.ts";
import { testRetryPolicy } from "../shared/retry.ts";

/**
 * A tiny in-memory stand-in for the ledger's outbox methods (the real ledgers pass the shared contract
 * suite): reports in queue order, one lease per run, `retry` moving the run's later reports behind it.
 */
function createFakeOutbox() {
  interface Item extends PendingReport {
    dueAtMs: number;
    state: "pending" | "delivered" | "failed";
    error?: string;
  }
  const items: Item[] = [];
  const leases = new Map<string, number>();
  let seq = 0;
  const outbox: Pick<Ledger, "claimReports" | "settleReport"> & {
    items: Item[];
    append(nowMs: number, ...reports: ReportInput[]): void;
    stateOf(runId: string): string[];
  } = {
    items,
    append(nowMs, ...reports) {
      for (const r of reports) items.push({ ...r, id: `rep-${++seq}`, attempts: 0, dueAtMs: nowMs, state: "pending" });
    },
    stateOf: (runId) => items.filter((i) => i.runId === runId).map((i) => (i.error ? `${i.state}: ${i.error}` : i.state)),
    async claimReports({ limit, limitRuns, leaseMs, now }: ClaimOptions & { limitRuns?: number }) {
      const out: PendingReport[] = [];
      const runIds = [...new Set(items.filter((i) => i.state === "pending").map((i) => i.runId))];
      let runs = 0;
      for (const runId of runIds) {
        if (runs >= (limitRuns ?? limit)) break;
        const pending = items.filter((i) => i.runId === runId && i.state === "pending");
        if ((pending[0]?.dueAtMs ?? Infinity) > now || (leases.get(runId) ?? 0) > now) continue;
        for (const i of pending) {
          if (i.dueAtMs > now || out.length >= limit) break;
          out.push({ id: i.id, runId, call: i.call, attempts: i.attempts });
        }
        leases.set(runId, now + leaseMs);
        runs++;
      }
      return out;
    },
    async settleReport(id: string, outcome: ReportOutcome) {
      const item = items.find((i) => i.id === id);
      if (item?.state !== "pending") return;
      item.attempts++;
      if (outcome.type === "retry") {
        item.dueAtMs = outcome.at;
        item.error = outcome.error;
        for (const later of items)
          if (later.runId === item.runId && later.state === "pending" && later !== item) later.dueAtMs = Math.max(later.dueAtMs, outcome.at);
        leases.delete(item.runId);
        return;
      }
      item.state = outcome.type;
      if (outcome.type === "failed") item.error = outcome.error;
      if (!items.some((i) => i.runId === item.runId && i.state === "pending")) leases.delete(item.runId);
    },
  };
  return outbox;
}

const log = (runId: string, message: string): ReportInput => ({ runId, call: { kind: "log", message } });
const done = (runId: string, status: "SUCCESS" | "FAILURE" = "SUCCESS", extra: Partial<Extract<PortCall, { kind: "update" }>["patch"]> = {}): ReportInput => ({
  runId,
  call: { kind: "update", patch: { status, ...extra } },
});
const entity = (runId: string, identifier: string, extra: Record<string, unknown> = {}): ReportInput => ({
  runId,
  call: { kind: "entity", blueprint: "service", entity: { identifier, properties: { v: 1 }, ...extra } },
});

function setup(opts: Partial<ReporterOptions> = {}, emulatorSleep?: (ms: number) => Promise<void>) {
  let nowMs = 1_700_000_000_000;
  const clock = () => nowMs;
  const emulator = createPortEmulator({ clientId: "c", clientSecret: "s", clock, ...(emulatorSleep ? { sleep: emulatorSleep } : {}) });
  const state = emulator.state;
  const sleeps: number[] = [];
  const events: string[] = [];
  const record = (event: string, fields?: Record<string, unknown>) => void events.push(`${event} ${JSON.stringify(fields)}`);
  const logger: PortLogger = { debug: record, info: record, warn: record, error: record };
  const fetch: FetchFn = (input, init) => Promise.resolve(emulator.app.request(input instanceof Request ? input : String(input), init));
  const port = createPortClient({
    baseUrl: "http://port.emulator",
    clientId: "c",
    clientSecret: "s",
    fetch,
    timeoutMs: 1_000,
    retry: testRetryPolicy,
    clock,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5,
    logger,
  });
  const ledger = createFakeOutbox();
  const reporter = createReporter({
    ledger,
    port,
    clock,
    logger,
    owner: "test-owner",
    batchRuns: 8,
    leaseMs: 60_000,
    retry: { initialMs: 1_000, maxMs: 60_000, factor: 2, maxAttempts: Infinity },
    random: () => 0.5,
    ...opts,
  });
  // A report is queued for a run Port issued, so the emulator knows the run (it answers 404 for others).
  const append = (...reports: ReportInput[]) => {
    for (const report of reports) state.declareRun(report.runId);
    ledger.append(nowMs, ...reports);
  };
  return { reporter, ledger, state, port, append, events, sleeps, advance: (ms: number) => (nowMs += ms), now: () => nowMs };
}

describe("reporter: order and coalescing", () => {
  test("a run's happy path costs two calls: one coalesced log and the terminal PATCH", async () => {
    const { reporter, ledger, state, append } = setup();
    for (const runId of ["r_1", "r_2", "r_3"]) append(log(runId, "one"), log(runId, "two"), log(runId, "three"), done(runId, "SUCCESS", { summary: "ok" }));
    const result = await reporter.drainOnce();
    expect(result).toEqual({ runs: 3, delivered: 12, retried: 0, failed: 0 });
    for (const runId of ["r_1", "r_2", "r_3"]) {
      expect(state.callsFor(runId).map((c) => c.endpoint)).toEqual(["postLog", "patchRun"]);
      expect(state.logsFor(runId)).toEqual(["one\ntwo\nthree"]);
      expect(state.terminalStatus(runId)).toBe("SUCCESS");
      expect(ledger.stateOf(runId).every((s) => s === "delivered")).toBe(true);
    }
    expect(state.count("token")).toBe(1);
  });

  test("reports go out in queue order; entity links land before the terminal status", async () => {
    const { reporter, state, append } = setup();
    append(log("r_1", "a"), entity("r_1", "svc-1"), log("r_1", "b"), log("r_1", "c"), done("r_1"));
    await reporter.drainOnce();
    expect(state.callsFor("r_1").map((c) => c.endpoint)).toEqual(["postLog", "upsertEntity", "postLog", "patchRun"]);
    expect(state.logsFor("r_1")).toEqual(["a", "b\nc"]);
    expect(state.runs.get("r_1")?.linkedEntities).toEqual([{ blueprint: "service", identifier: "svc-1" }]);
  });

  test("coalesced logs respect the byte cap", async () => {
    const { reporter, state, append } = setup({ maxLogBytes: 50 });
    append(...Array.from({ length: 6 }, (_, i) => log("r_1", `line-${i}-${"x".repeat(10)}`)), done("r_1"));
    await reporter.drainOnce();
    expect(state.count("postLog")).toBe(3);
    expect(state.logsFor("r_1").join("\n").split("\n")).toHaveLength(6);
  });
});

describe("reporter: failures", () => {
  test("a Port outage: reports are rescheduled, order kept, then delivered once Port is back", async () => {
    const { reporter, ledger, state, append, advance, now } = setup();
    append(log("r_1", "a"), done("r_1"));
    state.failNext(1_000, 503);
    const first = await reporter.drainOnce();
    expect(first).toMatchObject({ runs: 1, delivered: 0, retried: 1 });
    expect(state.count("patchRun")).toBe(0); // stopped at the first retriable failure
    const retryAt = ledger.items[0]?.dueAtMs ?? 0;
    expect(retryAt).toBeGreaterThan(now());
    expect(ledger.items[0]?.error).toContain("503");

    state.faults.length = 0; // Port is back
    expect(await reporter.drainOnce()).toMatchObject({ runs: 0 }); // not due yet
    advance(retryAt - now());
    expect(await reporter.drainOnce()).toMatchObject({ runs: 1, delivered: 2, retried: 0 });
    expect(state.terminalStatus("r_1")).toBe("SUCCESS");
    expect(state.logsFor("r_1")).toEqual(["a"]);
  });

  test("a retriable failure mid-run holds back the rest of that run only", async () => {
    const { reporter, ledger, state, append } = setup();
    append(log("r_1", "a"), entity("r_1", "svc-1"), done("r_1"), log("r_2", "b"), done("r_2"));
    state.failNext(100, 503, { endpoint: "upsertEntity" });
    await reporter.drainOnce();
    expect(
      state
        .callsFor("r_1")
        .filter((c) => c.status < 300)
        .map((c) => c.endpoint),
    ).toEqual(["postLog"]);
    expect(state.terminalStatus("r_1")).toBeUndefined();
    expect(ledger.stateOf("r_1")).toEqual(["delivered", expect.stringContaining("pending: Port answered 503") as unknown as string, "pending"]);
    expect(state.terminalStatus("r_2")).toBe("SUCCESS");
  });

  test("a long Retry-After (429) becomes the outbox retry time", async () => {
    const { reporter, ledger, state, append, now, sleeps } = setup();
    await reporter.drainOnce(); // nothing queued
    append(done("r_1"));
    state.rateLimitNext(1, 120, { endpoint: "patchRun" });
    await reporter.drainOnce();
    expect(ledger.items[0]?.dueAtMs).toBe(now() + 120_000);
    expect(sleeps).toEqual([]);
  });

  test("a permanent 4xx is recorded with Port's message and the run goes on to its terminal status", async () => {
    const { reporter, ledger, state, append } = setup();
    append(entity("r_1", "svc-1", { colour: "red" }), log("r_1", "after"), done("r_1", "FAILURE"));
    const result = await reporter.drainOnce();
    expect(result).toMatchObject({ delivered: 2, failed: 1, retried: 0 });
    const [entityOutcome] = ledger.stateOf("r_1");
    expect(entityOutcome).toStartWith("failed: Port answered 422 invalid_request");
    expect(entityOutcome).toContain("additional properties ('colour')");
    expect(state.terminalStatus("r_1")).toBe("FAILURE");
  });

  test("a run Port does not know (404): its reports are failed once, saying so, and never retried", async () => {
    const { reporter, ledger, state, events } = setup();
    // Queued without declaring the run at the emulator: a message Port never published.
    ledger.append(0, log("r_ghost", "a"), log("r_ghost", "b"), entity("r_ghost", "svc-1"), done("r_ghost"));
    const result = await reporter.drainOnce();
    expect(result).toMatchObject({ delivered: 0, failed: 4, retried: 0 });
    // One call: the coalesced logs meet the 404; the entity link and the status are settled with it, unsent.
    expect(state.callsFor("r_ghost").map((c) => `${c.endpoint} ${c.status}`)).toEqual(["postLog 404"]);
    for (const outcome of ledger.stateOf("r_ghost")) expect(outcome).toStartWith("failed: Port answered 404 not_found");
    const failed = events.filter((e) => e.startsWith("port.report.failed"));
    expect(failed).toHaveLength(4);
    expect(failed[0]).toContain("Port does not know this run");
    expect(await reporter.drainOnce()).toMatchObject({ runs: 0 });
  });

  test("a terminal PATCH for a run Port does not know is failed without asking Port for the run", async () => {
    const { reporter, ledger, state } = setup();
    ledger.append(0, done("r_ghost"));
    await reporter.drainOnce();
    expect(state.callsFor("r_ghost").map((c) => `${c.endpoint} ${c.status}`)).toEqual(["patchRun 404"]);
    expect(ledger.stateOf("r_ghost")[0]).toStartWith("failed: Port answered 404");
  });

  test("a bulk write Port takes in part: recorded as failed with what it refused, said in the run's log, not retried", async () => {
    const { reporter, ledger, state, append, events } = setup();
    state.declareBlueprint({ identifier: "service", properties: { v: { type: "number" } } });
    const entities = [{ identifier: "ok-1" }, { identifier: "bad-1", properties: { v: "one" } }, { identifier: "ok-2" }];
    append({ runId: "r_1", call: { kind: "entityBulk", blueprint: "service", entities } }, log("r_1", "after"), done("r_1"));
    const result = await reporter.drainOnce();
    expect(result).toMatchObject({ delivered: 2, failed: 1, retried: 0 });
    const [bulkOutcome] = ledger.stateOf("r_1");
    expect(bulkOutcome).toStartWith("failed: Port refused 1 of 3 service entities in a bulk write: bad-1 (422 invalid_request)");
    expect(state.entity("service", "ok-2")).toBeDefined();
    // The run's log says so, ahead of the handler's later lines and the status.
    expect(state.logsFor("r_1")).toEqual([(bulkOutcome ?? "").slice("failed: ".length), "after"]);
    expect(state.callsFor("r_1").map((c) => c.endpoint)).toEqual(["upsertEntities", "postLog", "postLog", "patchRun"]);
    expect(events.some((e) => e.startsWith("port.report.failed") && e.includes("bad-1"))).toBe(true);
    expect(state.terminalStatus("r_1")).toBe("SUCCESS");
  });

  test("entity updates and deletes are delivered with the run's id; a 404 on one does not stop the run", async () => {
    const { reporter, ledger, state, append } = setup();
    append(
      { runId: "r_1", call: { kind: "entity", blueprint: "service", entity: { identifier: "a" }, createMissingRelatedEntities: true } },
      { runId: "r_1", call: { kind: "entityUpdate", blueprint: "service", identifier: "a", patch: { title: "A" } } },
      { runId: "r_1", call: { kind: "entityDelete", blueprint: "service", identifier: "gone", deleteDependents: true } },
      done("r_1"),
    );
    await reporter.drainOnce();
    expect(ledger.stateOf("r_1")).toEqual(["delivered", "delivered", expect.stringContaining("failed: Port answered 404 not_found"), "delivered"]);
    expect(state.callsFor("r_1").map((c) => `${c.method} ${c.status} ${JSON.stringify(c.query)}`)).toEqual([
      'POST 201 {"upsert":"true","merge":"true","run_id":"r_1","create_missing_related_entities":"true"}',
      'PATCH 200 {"run_id":"r_1"}',
      'DELETE 404 {"run_id":"r_1","delete_dependents":"true"}',
      "PATCH 200 {}",
    ]);
    expect(state.entity("service", "a")?.title).toBe("A");
  });

  test("a non-terminal PATCH Port refuses is failed, and later reports still go", async () => {
    const { reporter, ledger, state, append } = setup();
    append({ runId: "r_1", call: { kind: "update", patch: { statusLabel: 42 as unknown as string } } }, done("r_1"));
    await reporter.drainOnce();
    expect(ledger.stateOf("r_1")[0]).toContain("must be string");
    expect(state.terminalStatus("r_1")).toBe("SUCCESS");
  });

  test("a terminal PATCH re-sent after a crash: Port says already terminated → delivered", async () => {
    const { reporter, ledger, state, append, events } = setup();
    state.declareRun("r_1").status = "SUCCESS"; // delivered before the crash, never settled
    append(done("r_1"));
    const result = await reporter.drainOnce();
    expect(result).toMatchObject({ delivered: 1, failed: 0 });
    expect(ledger.stateOf("r_1")).toEqual(["delivered"]);
    expect(state.callsFor("r_1").map((c) => `${c.endpoint} ${c.status}`)).toEqual(["patchRun 422", "getRun 200"]);
    expect(events.some((e) => e.startsWith("port.report.already_terminated"))).toBe(true);
  });

  test("a node run's terminal PATCH re-sent after a crash: Port says COMPLETED → delivered", async () => {
    const { reporter, state, append } = setup();
    append(done("wfnr_1"));
    Object.assign(state.declareRun("wfnr_1"), { status: "COMPLETED", result: "SUCCESS" }); // delivered before the crash
    const result = await reporter.drainOnce();
    expect(result).toMatchObject({ delivered: 1, failed: 0 });
    expect(state.callsFor("wfnr_1").map((c) => `${c.endpoint} ${c.status}`)).toEqual(["patchNodeRun 422", "getNodeRun 200"]);
  });

  test("a node run's logs are sent as leveled lines, coalesced into one call", async () => {
    const { reporter, state, append } = setup();
    append(log("wfnr_2", "a"), { runId: "wfnr_2", call: { kind: "log", message: "b", level: "ERROR" } }, done("wfnr_2", "FAILURE"));
    await reporter.drainOnce();
    expect(state.callsFor("wfnr_2").map((c) => c.endpoint)).toEqual(["postNodeLog", "patchNodeRun"]);
    expect(state.nodeRuns.get("wfnr_2")).toMatchObject({
      result: "FAILED",
      logs: [
        { level: "INFO", message: "a" },
        { level: "ERROR", message: "b" },
      ],
    });
  });

  test("a refused terminal PATCH on a run still in progress is failed with Port's message", async () => {
    const { reporter, ledger, append } = setup();
    append(done("r_1", "SUCCESS", { statusLabel: 7 as unknown as string }));
    await reporter.drainOnce();
    expect(ledger.stateOf("r_1")[0]).toStartWith("failed: Port answered 422");
  });

  test("auth problems (401/403) keep reports for later instead of dropping them", async () => {
    const { reporter, ledger, state, append } = setup();
    append(done("r_1"));
    state.failNext(10, 403, { endpoint: "patchRun" });
    await reporter.drainOnce();
    expect(ledger.stateOf("r_1")[0]).toStartWith("pending: Port answered 403");
  });

  test("settle failures are logged; the reports stay leased for a later attempt", async () => {
    const { reporter, ledger, append, events } = setup();
    append(done("r_1"));
    ledger.settleReport = async () => {
      throw new Error("ledger unavailable");
    };
    await reporter.drainOnce();
    expect(events.some((e) => e.startsWith("port.reporter.crashed") && e.includes("ledger unavailable"))).toBe(true);
  });
});

describe("reporter: loop", () => {
  test("notify() wakes the loop without waiting for the poll", async () => {
    const { reporter, state, append } = setup({ pollIntervalMs: 60_000 });
    reporter.start();
    reporter.start(); // idempotent
    await Bun.sleep(5);
    append(log("r_1", "hi"), done("r_1"));
    reporter.notify();
    for (let i = 0; i < 200 && !state.terminalStatus("r_1"); i++) await Bun.sleep(5);
    expect(state.terminalStatus("r_1")).toBe("SUCCESS");
    await reporter.stop();
  });

  test("stop() waits for deliveries in flight", async () => {
    let release: (() => void) | undefined;
    let entered = false;
    const held = () => {
      entered = true;
      return new Promise<void>((resolve) => (release = resolve));
    };
    const { reporter, state, append, port } = setup({ pollIntervalMs: 60_000 }, held);
    await port.getRun("r_0").catch(() => {}); // token first, while latency is off
    reporter.start();
    state.latencyMs = 1; // the next Port call waits on `release`
    append(done("r_1"));
    reporter.notify();
    for (let i = 0; i < 200 && !entered; i++) await Bun.sleep(1);
    expect(entered).toBe(true);
    let stopped = false;
    const stopping = reporter.stop().then(() => (stopped = true));
    await Bun.sleep(5);
    expect(stopped).toBe(false);
    release?.();
    await stopping;
    expect(state.terminalStatus("r_1")).toBe("SUCCESS");
  });

  test("a failing claim is logged and retried by the loop", async () => {
    const { reporter, ledger, state, append, events } = setup({ pollIntervalMs: 60_000, retry: { initialMs: 2, maxMs: 4, factor: 2, maxAttempts: Infinity } });
    const claim = ledger.claimReports.bind(ledger);
    let failures = 1;
    ledger.claimReports = async (opts) => {
      if (failures-- > 0) throw new Error("ledger unavailable");
      return claim(opts);
    };
    append(done("r_1"));
    reporter.start();
    for (let i = 0; i < 200 && !state.terminalStatus("r_1"); i++) await Bun.sleep(2);
    await reporter.stop();
    expect(state.terminalStatus("r_1")).toBe("SUCCESS");
    expect(events.some((e) => e.startsWith("port.reporter.claim_failed"))).toBe(true);
  });

  test("stop() returns promptly when idle", async () => {
    const { reporter } = setup({ pollIntervalMs: 60_000 });
    reporter.start();
    await Bun.sleep(1);
    await reporter.stop();
  });
});
