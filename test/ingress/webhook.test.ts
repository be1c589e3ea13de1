import { afterEach, describe, expect, test } from "bun:test";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { ADMIN_TOKEN, createHarness, type Harness } from "../support/harness.ts";
import { portWebhookBody as portBody, signWebhook as sign } from "../support/port-webhook.ts";
import { ingressContract } from "./contract.ts";

/**
 * Port calls portside directly: `POST /webhooks/port[/<action>]`, signed with the organisation's client
 * secret. Every refusal is a 401/400/403/415 that repeats nothing of the body; a valid request is recorded
 * and run once, however often it comes.
 */
/** The way in is off unless asked for. */
const ON = { PORT_WEBHOOKS: "true" };

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const post = (path: string, body: string, headers: Record<string, string>) =>
  Promise.resolve((h as Harness).service.app.request(path, { method: "POST", body, headers }));

describe("Port's signed webhook", () => {
  test("a signed request is recorded (202) and run once, its inputs as the template put them; the run is reported through the API", async () => {
    const seen: Array<{ id: string; inputs: unknown }> = [];
    h = await createHarness({ env: ON, handlers: { runs: { deploy: async (run) => void seen.push({ id: run.id, inputs: run.inputs }) } } });
    h.emulator.state.declareRun("r_hook_1");
    const body = portBody("r_hook_1");
    const res = await post("/webhooks/port/deploy", body, sign(body));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ status: "accepted", runId: "r_hook_1" });
    await h.waitForTerminal(["r_hook_1"]);
    expect(h.emulator.state.terminalStatus("r_hook_1")).toBe("SUCCESS");
    expect(seen).toEqual([{ id: "r_hook_1", inputs: { version: "1.0.0" } }]);
    expect((await h.service.history.get("r_hook_1"))?.source).toBe("webhook");
  });

  test("refused with 401, nothing run and nothing parked: wrong secret, altered body, altered timestamp, stale, future, unsigned", async () => {
    const ran: string[] = [];
    h = await createHarness({ env: ON, handlers: { runs: { deploy: async (run) => void ran.push(run.id) } } });
    const body = portBody("r_hook_bad", { password: "hunter2-do-not-echo" });
    const good = sign(body);
    const cases: Array<[string, string, Record<string, string>, RegExp]> = [
      ["wrong secret", body, sign(body, { secret: "not-the-secret" }), /signature does not match/],
      ["altered body", body.replace("hunter2", "hunter3"), good, /signature does not match/],
      ["altered timestamp", body, { ...good, "x-port-timestamp": String(Number(good["x-port-timestamp"]) - 1) }, /signature does not match/],
      ["stale", body, sign(body, { at: Date.now() - 301_000 }), /s old, outside the 300 s freshness window \(WEBHOOK_TOLERANCE_S\)/],
      ["future", body, sign(body, { at: Date.now() + 301_000 }), /s in the future, outside the 300 s freshness window/],
      [
        "no signature",
        body,
        { "content-type": "application/json", "x-port-timestamp": good["x-port-timestamp"] as string },
        /x-port-signature header is missing/,
      ],
      [
        "no timestamp",
        body,
        { "content-type": "application/json", "x-port-signature": good["x-port-signature"] as string },
        /x-port-timestamp header is missing/,
      ],
    ];
    for (const [what, sent, headers, reason] of cases) {
      const res = await post("/webhooks/port/deploy", sent, headers);
      const answer = (await res.json()) as { error: string; message: string };
      expect([what, res.status, answer.error]).toEqual([what, 401, "bad_signature"]);
      expect(answer.message).toMatch(reason);
      expect(JSON.stringify(answer)).not.toContain("hunter");
    }
    expect(ran).toEqual([]);
    expect(await h.ledger.listDeadLetters()).toEqual([]);
    expect((await h.ledger.counts()).pendingWork + (await h.ledger.counts()).doneWork).toBe(0);
  });

  test("the same request three times, at once: run once, the others duplicates", async () => {
    let runs = 0;
    h = await createHarness({ env: ON, handlers: { runs: { deploy: async () => void runs++ } } });
    h.emulator.state.declareRun("r_hook_thrice");
    const body = portBody("r_hook_thrice");
    const headers = sign(body);
    const answers = await Promise.all([1, 2, 3].map(() => post("/webhooks/port/deploy", body, headers).then((r) => r.json())));
    expect(answers.map((a) => (a as { status: string }).status).sort()).toEqual(["accepted", "duplicate", "duplicate"]);
    await h.waitForTerminal(["r_hook_thrice"]);
    await Bun.sleep(50);
    expect(runs).toBe(1);
    // Counted per way in, as the sink's records are.
    const metrics = await (await h.service.app.request("/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    expect(metrics).toContain('portside_records_total{route="webhook",kind="run",outcome="accepted"} 1');
    expect(metrics).toContain('portside_records_total{route="webhook",kind="run",outcome="duplicate"} 2');
  });

  test("no run id where the template should put it: 400, parked with its bytes, nothing runs", async () => {
    h = await createHarness({ env: ON, handlers: { runs: { deploy: async () => ({}) } } });
    const body = JSON.stringify({ version: "2.0.0" });
    const res = await post("/webhooks/port/deploy", body, sign(body));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain("no run id at port_context.runId, context.runId, runId or in the RUN_ID header");
    const [letter] = await h.ledger.listDeadLetters();
    expect(letter).toMatchObject({ runId: null, source: "webhook" });
    expect((await h.ledger.getDeadLetter(letter?.id ?? ""))?.raw).toBe(body);
  });

  test("a template that keeps the run id only in the RUN_ID header (as Port's default sets it) or at WEBHOOK_RUN_ID_PATH is run", async () => {
    const seen: string[] = [];
    h = await createHarness({ env: ON, handlers: { runs: { deploy: async (run) => void seen.push(run.id) } } });
    h.emulator.state.declareRun("r_hook_header");
    const body = JSON.stringify({ version: "3.0.0" });
    expect((await post("/webhooks/port/deploy", body, { ...sign(body), RUN_ID: "r_hook_header" })).status).toBe(202);
    await h.waitForTerminal(["r_hook_header"]);
    await h.stop();
    h = await createHarness({ handlers: { runs: { deploy: async (run) => void seen.push(run.id) } }, env: { ...ON, WEBHOOK_RUN_ID_PATH: "meta.run" } });
    h.emulator.state.declareRun("r_hook_path");
    const custom = JSON.stringify({ version: "3.0.0", meta: { run: "r_hook_path" }, port_context: { runId: "r_not_this_one" } });
    expect((await post("/webhooks/port/deploy", custom, sign(custom))).status).toBe(202);
    await h.waitForTerminal(["r_hook_path"]);
    expect(seen).toEqual(["r_hook_header", "r_hook_path"]);
  });

  test("off unless PORT_WEBHOOKS=true: 404 saying so, nothing recorded", async () => {
    h = await createHarness({ handlers: { runs: { deploy: async () => ({}) } } });
    const body = portBody("r_hook_off");
    const res = await post("/webhooks/port/deploy", body, sign(body));
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: "webhooks_disabled", message: expect.stringContaining("PORT_WEBHOOKS=true") });
    expect((await h.ledger.counts()).pendingWork).toBe(0);
  });

  test("only JSON: another content type is 415", async () => {
    h = await createHarness({ env: ON });
    const body = portBody("r_hook_text");
    const res = await post("/webhooks/port/deploy", body, { ...sign(body), "content-type": "text/plain" });
    expect(res.status).toBe(415);
  });

  test("WEBHOOK_ALLOW: a request from an address it does not list (or of no known address) is 403, before anything else", async () => {
    h = await createHarness({ env: { ...ON, WEBHOOK_ALLOW: "port-eu,10.0.0.0/8" } });
    const body = portBody("r_hook_far");
    const res = await post("/webhooks/port/deploy", body, sign(body));
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe("webhook_forbidden");
  });
});

describe("synchronous webhooks (a handler with sync: true)", () => {
  const handlers = {
    runs: {
      quick: {
        sync: true,
        handle: async (run: { log(message: string): Promise<void> }) => {
          await run.log("checked quickly");
          return { summary: "done quickly", link: "https://ci.example.com/1" };
        },
      },
      broken: {
        sync: true,
        handle: async () => {
          throw new Error("the disk is full");
        },
      },
      slow: {
        sync: true,
        handle: async () => {
          await Bun.sleep(400);
          return { summary: "done late" };
        },
      },
    },
  };

  test("the answer is the result: SUCCESS 200 with it, FAILURE 500 with the reason; Port gets no status PATCH for them", async () => {
    h = await createHarness({ env: ON, handlers });
    for (const id of ["r_sync_ok", "r_sync_broken"]) h.emulator.state.declareRun(id);
    const ok = portBody("r_sync_ok");
    const quick = await post("/webhooks/port/quick", ok, sign(ok));
    const answeredAt = Date.now();
    expect(quick.status).toBe(200);
    // Port ends the run when it gets the answer: the run's logs reached it before.
    const logCalls = h.emulator.state.callsFor("r_sync_ok").filter((c) => c.endpoint === "postLog");
    expect(logCalls.length).toBeGreaterThan(0);
    expect(Math.max(...logCalls.map((c) => c.atMs))).toBeLessThanOrEqual(answeredAt);
    expect(h.emulator.state.logsFor("r_sync_ok")).toContain("checked quickly");
    expect(await quick.json()).toEqual({ status: "SUCCESS", runId: "r_sync_ok", summary: "done quickly", link: "https://ci.example.com/1" });
    const bad = portBody("r_sync_broken");
    const broken = await post("/webhooks/port/broken", bad, sign(bad));
    expect(broken.status).toBe(500);
    expect(await broken.json()).toMatchObject({ status: "FAILURE", runId: "r_sync_broken", summary: 'Handler for "broken" failed: the disk is full' });
    await Bun.sleep(200);
    for (const id of ["r_sync_ok", "r_sync_broken"]) expect(h.emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun")).toEqual([]);
    expect((await h.service.history.get("r_sync_ok"))?.phase).toBe("SUCCESS");
    expect((await h.service.history.get("r_sync_broken"))?.phase).toBe("FAILURE");
  });

  test("past WEBHOOK_SYNC_TIMEOUT_MS the answer is 504 (a 2xx would read as SUCCESS), and the result is reported through the API when it comes", async () => {
    h = await createHarness({ handlers, env: { ...ON, WEBHOOK_SYNC_TIMEOUT_MS: "100" } });
    h.emulator.state.declareRun("r_sync_slow");
    const body = portBody("r_sync_slow");
    const res = await post("/webhooks/port/slow", body, sign(body));
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ error: "sync_timeout", message: expect.stringContaining("still running") });
    await h.waitForTerminal(["r_sync_slow"]);
    expect(h.emulator.state.runs.get("r_sync_slow")).toMatchObject({ status: "SUCCESS", summary: "done late" });
  });

  test("the same request again after the run ended is answered from the ledger: the same status, nothing run twice", async () => {
    let runs = 0;
    const once = async () => {
      runs++;
      return { summary: "made it" };
    };
    h = await createHarness({ env: ON, handlers: { runs: { once: { sync: true, handle: once } } } });
    h.emulator.state.declareRun("r_sync_again");
    const body = portBody("r_sync_again");
    const first = await post("/webhooks/port/once", body, sign(body));
    expect(first.status).toBe(200);
    const again = await post("/webhooks/port/once", body, sign(body));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ status: "SUCCESS", runId: "r_sync_again", summary: "made it" });
    expect(runs).toBe(1);
  });

  test("a run another replica executes: the waiting answer reads its end from the shared ledger", async () => {
    const ledger = createMemoryLedger();
    const shared: Ledger = { ...ledger, close: async () => {} };
    // This replica records and waits but executes nothing; the other finds the run by polling the ledger.
    h = await createHarness({ ledger: shared, env: ON, handlers, start: false });
    const other = await createHarness({ ledger: shared, env: ON, handlers });
    try {
      other.emulator.state.declareRun("r_sync_elsewhere");
      h.emulator.state.declareRun("r_sync_elsewhere");
      const body = portBody("r_sync_elsewhere");
      const answer = post("/webhooks/port/quick", body, sign(body));
      const res = await answer;
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: "SUCCESS", runId: "r_sync_elsewhere", summary: "done quickly" });
    } finally {
      await other.stop();
    }
  });
});

ingressContract(
  "webhook",
  (harness) => ({
    async deliver(values) {
      let acked = true;
      for (const value of values) {
        let parsed: { payload?: unknown; context?: { runId?: unknown } } | undefined;
        try {
          parsed = JSON.parse(value);
        } catch {}
        // Port sends a webhook only for a run it created.
        if (typeof parsed?.context?.runId === "string") harness.emulator.state.declareRun(parsed.context.runId);
        // Port names the action in the URL; a record it sent that portside cannot run names none.
        const path = parsed && typeof parsed.payload !== "object" ? "/webhooks/port" : "/webhooks/port/deploy";
        const res = await harness.service.app.request(path, { method: "POST", body: value, headers: sign(value) });
        // Recorded (202), or parked as it arrived (400): either way the sender may let it go.
        if (res.status !== 202 && res.status !== 400) acked = false;
      }
      return { acked };
    },
  }),
  ON,
);
