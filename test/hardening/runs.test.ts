import { afterEach, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { createHarness, type Harness, ORG, runMessage } from "../support/harness.ts";

/**
 * Every run ends with its true status, once: whatever a handler returns, however records about one run
 * conflict, whatever the run id, and however often a run is interrupted.
 */
let h: Harness;
afterEach(async () => h?.stop());

const body = (...messages: unknown[]) => messages.map((m) => JSON.stringify(m)).join("\n");
const summaryOf = (id: string) => h.emulator.state.runs.get(id)?.summary;
const patches = (id: string) => h.emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun");

describe("what a handler returns", () => {
  test("any value that is not an object is SUCCESS; an object's known fields are checked, unknown ones ignored", async () => {
    const results: Record<string, unknown> = {
      r_string: "done",
      r_number: 42,
      r_array: ["a"],
      r_null: null,
      r_true: true,
      r_extra: { summary: "fine", colour: "green" },
      r_failed_status: { status: "FAILED", summary: "nope" },
      r_bad_summary: { summary: 123 },
      r_bad_link: { link: [1, 2] },
    };
    h = await createHarness({ handlers: { runs: { deploy: (run) => results[run.id] as never } } });
    const ids = Object.keys(results);
    await h.post("/sink/runs", body(...ids.map((id) => runMessage(id))));
    await h.waitForTerminal(ids);
    for (const id of ["r_string", "r_number", "r_array", "r_null", "r_true"]) expect([id, h.emulator.state.terminalStatus(id)]).toEqual([id, "SUCCESS"]);
    expect(h.emulator.state.runs.get("r_extra")).toMatchObject({ status: "SUCCESS", summary: "fine" });
    expect(h.emulator.state.runs.get("r_failed_status")).toMatchObject({
      status: "FAILURE",
      summary: 'Handler for "deploy" returned an invalid result: status: expected "SUCCESS" or "FAILURE", got a string',
    });
    expect(h.emulator.state.runs.get("r_bad_summary")).toMatchObject({
      status: "FAILURE",
      summary: 'Handler for "deploy" returned an invalid result: summary: expected a string, got a number',
    });
    expect(h.emulator.state.runs.get("r_bad_link")?.status).toBe("FAILURE");
    expect(summaryOf("r_bad_link")).toContain("link");
    for (const id of ids) expect(patches(id)).toHaveLength(1);
  });

  test("a result portside itself cannot read still ends the run (FAILURE), and frees its entity for the next run", async () => {
    const hostile = {
      get summary(): string {
        throw new Error("getter exploded");
      },
    };
    h = await createHarness({ handlers: { runs: { deploy: (run) => (run.id === "r_hostile" ? (hostile as never) : { summary: "next ran" }) } } });
    await h.post("/sink/runs", body(runMessage("r_hostile", "deploy", { entity: "svc-1" }), runMessage("r_after", "deploy", { entity: "svc-1" })));
    await h.waitForTerminal(["r_hostile", "r_after"], 5_000);
    expect(h.emulator.state.terminalStatus("r_hostile")).toBe("FAILURE");
    expect(summaryOf("r_hostile")).toContain("portside hit an internal error");
    expect(summaryOf("r_hostile")).not.toContain("exploded");
    expect(summaryOf("r_after")).toBe("next ran");
  });
  test("a run ended by portside's own failure is seen ending: counted as finished, and its story says FAILURE, not running", async () => {
    const hostile = {
      get summary(): string {
        throw new Error("getter exploded");
      },
    };
    h = await createHarness({ handlers: { runs: { deploy: () => hostile as never } } });
    await h.post("/sink/runs", body(runMessage("r_getter")));
    await h.waitForTerminal(["r_getter"]);
    await h.waitUntil(async () => (await h.service.history.get("r_getter"))?.phase === "FAILURE", "the run's story to end");
    const story = await h.service.history.get("r_getter");
    expect(story).toMatchObject({ phase: "FAILURE", attempts: 1 });
    expect(story?.summary).toContain("portside hit an internal error");
    expect((await h.service.history.list({ phase: "running" })).items).toEqual([]);
    const metrics = await h.service.metrics.scrape();
    expect(metrics).toContain('portside_runs_finished_total{action="deploy",status="FAILURE"} 1');
  });
});

describe("re-runs after interruption", () => {
  test("are capped at MAX_RUN_ATTEMPTS; the attempt after the cap ends FAILURE saying so", async () => {
    const ledger = createMemoryLedger();
    const attempts: number[] = [];
    const handlers = { runs: { deploy: { rerunOnInterrupt: true, handle: async (run: { attempt: number }) => void attempts.push(run.attempt) } } };
    // Two runs, each claimed and abandoned by processes that died: r_third twice (its next start is attempt 3),
    // r_fourth three times (its next would be attempt 4, past the cap of 3).
    h = await createHarness({ ledger, handlers, start: false });
    await h.post("/sink/runs", body(runMessage("r_third"), runMessage("r_fourth")));
    const past = Date.now() - 3_600_000;
    for (let i = 0; i < 3; i++) {
      const claimed = await ledger.claimWork({ owner: `dead-${i}`, limit: 2, leaseMs: 1, now: past + i });
      if (i === 2) for (const item of claimed.filter((c) => c.key === "run:r_third")) await ledger.releaseWork(item.key, `dead-${i}`);
    }
    h.service.start();
    await h.waitForTerminal(["r_third", "r_fourth"]);
    expect(h.emulator.state.terminalStatus("r_third")).toBe("SUCCESS");
    expect(attempts).toEqual([3]);
    expect(h.emulator.state.terminalStatus("r_fourth")).toBe("FAILURE");
    expect(summaryOf("r_fourth")).toContain("gave up (MAX_RUN_ATTEMPTS=3)");
  });
});

describe("records that conflict about one run id", () => {
  test("the first record decides: an invalid one first means FAILURE once, and the valid copy never runs", async () => {
    let ran = 0;
    h = await createHarness({ handlers: { runs: { deploy: async () => void ran++ } } });
    const invalid = { ...runMessage("r_conflict"), payload: { properties: "oops" } };
    const res = await h.post("/sink/runs", body(invalid, runMessage("r_conflict")));
    expect(await res.json()).toMatchObject({ records: 2, parked: 1, duplicate: 1, accepted: 0 });
    // Later, in another batch, the valid record again: still a duplicate.
    expect(await (await h.post("/sink/runs", body(runMessage("r_conflict")))).json()).toMatchObject({ duplicate: 1, accepted: 0 });
    await h.waitForTerminal(["r_conflict"]);
    await Bun.sleep(50);
    expect(ran).toBe(0);
    expect(patches("r_conflict")).toHaveLength(1);
    expect(h.emulator.state.terminalStatus("r_conflict")).toBe("FAILURE");
  });

  test("a valid record first means it runs; an invalid copy later is a duplicate, not parked, not reported", async () => {
    h = await createHarness({ handlers: { runs: { deploy: async () => ({ summary: "ran" }) } } });
    await h.post("/sink/runs", body(runMessage("r_valid_first")));
    const res = await h.post("/sink/runs", body({ ...runMessage("r_valid_first"), payload: 3 }));
    expect(await res.json()).toMatchObject({ duplicate: 1, parked: 0 });
    await h.waitForTerminal(["r_valid_first"]);
    expect(h.emulator.state.runs.get("r_valid_first")).toMatchObject({ status: "SUCCESS", summary: "ran" });
    expect(patches("r_valid_first")).toHaveLength(1);
    expect(await h.ledger.listDeadLetters()).toEqual([]);
  });
});

describe("run ids Port cannot address", () => {
  test("are parked with a reason, and no call goes to a path they would rewrite", async () => {
    h = await createHarness({ handlers: { runs: { deploy: async () => ({ summary: "ran" }) } } });
    const ids = [".", "..", "r_1/../../x", "r_1?x=1", "r 1", ""];
    const res = await h.post("/sink/runs", body(...ids.map((id) => runMessage(id))));
    expect(await res.json()).toMatchObject({ records: ids.length, parked: ids.length, accepted: 0 });
    const letters = await h.ledger.listDeadLetters();
    expect(letters.map((l) => l.runId)).toEqual(ids.map(() => null));
    expect(letters.map((l) => l.reason)).toEqual([
      ...ids
        .slice(0, -1)
        .map(
          () =>
            "invalid legacy run: context.runId: Port cannot address this run id: expected letters, digits, '_', '-' or '.', starting with a letter or digit, at most 200 characters",
        ),
      "invalid legacy run: context.runId: expected a run id, got an empty string",
    ]);
    await Bun.sleep(100);
    expect(h.emulator.state.calls.filter((c) => c.endpoint !== "token")).toEqual([]);
  });
});

describe("replay", () => {
  test("replays every record a dead letter holds, and removes it only when all are recorded", async () => {
    h = await createHarness({ handlers: { runs: { deploy: async () => ({ summary: "replayed" }) } } });
    const res = await h.post("/sink/runs", `[[${JSON.stringify(runMessage("r_rep_a"))},${JSON.stringify(runMessage("r_rep_b"))}]]`);
    expect(await res.json()).toMatchObject({ records: 1, parked: 1 });
    const [letter] = await h.ledger.listDeadLetters();
    const replay = await h.admin(`/dead-letters/${letter?.id}/replay`, "POST");
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ type: "replayed", removed: true, records: 2, accepted: 2 });
    await h.waitForTerminal(["r_rep_a", "r_rep_b"]);
    expect(h.emulator.state.terminalStatus("r_rep_a")).toBe("SUCCESS");
    expect(h.emulator.state.terminalStatus("r_rep_b")).toBe("SUCCESS");
    expect(await h.ledger.listDeadLetters()).toEqual([]);
  });

  test("replaying a parked run whose id its own parking decided changes nothing, and keeps the dead letter", async () => {
    // A run that arrived too late is parked and reported FAILURE; replayed later with a wider window it would
    // pass, but its id is decided: nothing runs, and the dead letter stays as the record of why.
    const secret = "a-client-secret-of-forty-four-characters-xyz";
    const ledger = createMemoryLedger();
    const keep: Ledger = { ...ledger, close: async () => {} };
    const ran: string[] = [];
    const handlers = { runs: { deploy: async (run: { id: string }) => void ran.push(run.id) } };
    h = await createHarness({ ledger: keep, handlers, env: { PORT_CLIENT_SECRET: secret } });
    const ts = Math.floor(Date.now() / 1000) - 600;
    const unsigned = { ...runMessage("r_decided"), headers: {} };
    const signature = createHmac("sha256", secret)
      .update(`${ts}.${JSON.stringify(unsigned)}`)
      .digest("base64");
    await h.post("/sink/runs", JSON.stringify({ ...unsigned, headers: { "X-Port-Signature": `v1,${signature}`, "X-Port-Timestamp": ts } }));
    await h.waitForTerminal(["r_decided"]);
    await h.stop();
    h = await createHarness({ ledger, handlers, env: { PORT_CLIENT_SECRET: secret, SIGNATURE_TOLERANCE_MS: "3600000" } });
    const [letter] = await h.ledger.listDeadLetters();
    const replay = await h.admin(`/dead-letters/${letter?.id}/replay`, "POST");
    expect(await replay.json()).toMatchObject({ outcome: "duplicate", removed: false, accepted: 0 });
    await Bun.sleep(100);
    expect(ran).toEqual([]);
    expect((await h.ledger.listDeadLetters()).map((l) => l.id)).toEqual([letter?.id as string]);
  });

  test("a dead letter whose records are left alone (no handler) stays parked after the replay", async () => {
    h = await createHarness({ handlers: { runs: { deploy: async () => ({ summary: "ok" }) } } });
    await h.post("/sink/runs", `[[${JSON.stringify(runMessage("r_rep_c"))},${JSON.stringify(runMessage("r_rep_d", "unknown_action"))}]]`);
    const [letter] = await h.ledger.listDeadLetters();
    expect(await (await h.admin(`/dead-letters/${letter?.id}/replay`, "POST")).json()).toMatchObject({ removed: false, accepted: 1, ignored: 1 });
    expect((await h.ledger.listDeadLetters()).map((l) => l.id)).toEqual([letter?.id as string]);
  });
});

describe("secrets in reasons", () => {
  test("a secret input of the wrong type never reaches the reply, the logs, the dead letter or Port", async () => {
    h = await createHarness({ handlers: { runs: { deploy: async () => ({}) } } });
    const secret = "sk_live_9f8e7d6c5b4a3210";
    const message = {
      ...runMessage("r_leak"),
      payload: { ...runMessage("r_leak").payload, properties: { token: secret }, censoredProperties: ["token"], entity: secret },
    };
    const res = await h.post("/sink/runs", body(message));
    const reply = await res.text();
    await h.waitForTerminal(["r_leak"]);
    expect(h.emulator.state.terminalStatus("r_leak")).toBe("FAILURE");
    const letters = await h.ledger.listDeadLetters();
    const seen = [reply, ...h.logs, ...letters.map((l) => l.reason), JSON.stringify(h.emulator.state.calls.map((c) => c.body))].join("\n");
    expect(seen).toContain("payload.entity");
    expect(seen).not.toContain(secret);
    expect(seen).not.toContain(secret.slice(0, 12));
  });
});

describe("the admin endpoints", () => {
  test("need ADMIN_TOKEN; the connector's SINK_TOKEN does not open them", async () => {
    h = await createHarness({});
    const asSink = await h.service.app.request("/admin/dead-letters", { headers: { authorization: "Bearer test-sink-token-0123456789" } });
    expect(asSink.status).toBe(401);
    const { message } = (await asSink.json()) as { message: string };
    expect(message).toContain("ADMIN_TOKEN");
    expect(message).not.toContain("connector");
    expect((await h.admin("/dead-letters")).status).toBe(200);
  });

  test("are off without ADMIN_TOKEN, saying how to turn them on", async () => {
    h = await createHarness({ env: { ADMIN_TOKEN: "" } });
    const res = await h.service.app.request("/admin/stats", { headers: { authorization: "Bearer test-sink-token-0123456789" } });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: "admin_disabled", message: expect.stringContaining("ADMIN_TOKEN") });
  });
});

/** A ledger that fails every call (but close) while `down.on`, as a Redis outage does. */
function flaky(inner: Ledger, down: { on: boolean }, only?: string): Ledger {
  return new Proxy(inner, {
    get(target, property) {
      const value = (target as unknown as Record<string | symbol, unknown>)[property];
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (down.on && property !== "close" && (only === undefined || property === only)) return Promise.reject(new Error("ECONNREFUSED (outage)"));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe("the ledger away", () => {
  test("a replica's finished result outlives an outage longer than the lease: the other replica does not take the run over", async () => {
    const shared = createMemoryLedger();
    const down = { on: false };
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const startedBy: string[] = [];
    const handlers = (name: string) => ({
      runs: {
        deploy: async () => {
          startedBy.push(name);
          await gate;
          return { summary: `done by ${name}` };
        },
      },
    });
    h = await createHarness({ ledger: flaky(shared, down), handlers: handlers("A"), leaseMs: 300, owner: "A" });
    const b = await createHarness({ ledger: flaky(shared, down), handlers: handlers("B"), leaseMs: 300, owner: "B", start: false });
    try {
      await h.post("/sink/runs", body(runMessage("r_held")));
      await h.waitUntil(() => startedBy.length === 1, "A to start the run");
      b.service.start();
      down.on = true;
      release();
      await Bun.sleep(1_000); // the outage outlasts the 300 ms lease
      down.on = false;
      await h.waitForTerminal(["r_held"]);
      await Bun.sleep(500);
      expect(startedBy).toEqual(["A"]);
      expect(h.emulator.state.runs.get("r_held")?.summary).toBe("done by A");
      expect(b.emulator.state.runs.has("r_held")).toBe(false);
    } finally {
      await b.stop();
    }
  });

  test("log lines whose flush failed while the run finished still reach Port, before the status", async () => {
    const down = { on: true };
    h = await createHarness({
      ledger: flaky(createMemoryLedger(), down, "appendReports"),
      handlers: {
        runs: {
          deploy: async (run) => {
            for (let i = 0; i < 100; i++) await run.log(`line ${i}`); // 100 lines: a flush starts, and fails
            down.on = false;
            return { summary: "ok" };
          },
        },
      },
    });
    await h.post("/sink/runs", body(runMessage("r_flush")));
    await h.waitForTerminal(["r_flush"]);
    expect(h.emulator.state.logsFor("r_flush").join("\n").split("\n")).toEqual(Array.from({ length: 100 }, (_, i) => `line ${i}`));
    expect(h.emulator.state.callsFor("r_flush").at(-1)?.endpoint).toBe("patchRun");
  });

  test("a run accepted under one configuration and claimed under another still ends, FAILURE by the id in its key", async () => {
    const ledger = createMemoryLedger();
    const keep: Ledger = { ...ledger, close: async () => {} };
    const handlers = { runs: { deploy: async () => ({ summary: "ok" }) } };
    h = await createHarness({ ledger: keep, start: false, env: { RUN_ID_PATH: "meta.id", ACTION_PATH: "meta.action" }, handlers });
    await h.post("/sink/runs", JSON.stringify({ meta: { id: "r_custom", action: "deploy" }, trigger: { by: { orgId: ORG } } }));
    await h.stop();
    h = await createHarness({ ledger, handlers, start: false });
    h.emulator.state.declareRun("r_custom"); // a new emulator: Port has the run all along
    h.service.start();
    await h.waitForTerminal(["r_custom"]);
    expect(h.emulator.state.runs.get("r_custom")?.summary).toContain("configuration changed after it was accepted");
  });
});

describe("change handlers", () => {
  test("one that throws a value that is not an Error is parked, and the next change of its entity runs", async () => {
    const seen: unknown[] = [];
    const change = (n: number) => ({
      action: "UPDATE",
      resourceType: "entity",
      status: "SUCCESS",
      trigger: { by: { orgId: ORG, userId: "u@clients" }, origin: "API", at: `2026-03-01T10:00:0${n}.000Z` },
      context: { entity: "vm-1", blueprint: "vm" },
      diff: { before: { identifier: "vm-1" }, after: { identifier: "vm-1", n } },
    });
    h = await createHarness({
      handlers: {
        changes: [
          {
            match: { blueprint: "vm" },
            handle: (c) => {
              seen.push(c.after?.n);
              if (c.after?.n === 1) throw Object.create(null);
            },
          },
        ],
      },
    });
    await h.post("/sink/changes", body(change(1), change(2)));
    await h.waitUntil(() => seen.length === 2, "both changes handled");
    expect(seen).toEqual([1, 2]);
    const [letter] = await h.ledger.listDeadLetters();
    expect(letter?.reason).toBe("change handler failed: a value that is not an Error");
  });
});
