import { describe, expect, test } from "bun:test";
import { createPortEmulator } from "../emulator/port-emulator.ts";
import { declareAction, triggerAction } from "../emulator/port-emulator-actions.ts";
import { queueNodeRun } from "../emulator/port-emulator-polling.ts";
import { createMemoryLedger } from "../ledger/memory.ts";
import { silentLogger } from "../log.ts";
import { createPortClient, type PortClientOptions } from "./client.ts";
import type { FetchFn } from "./http.ts";
import { AGENT_INSTALLATION_ID, DEFAULT_CLAIM_LIMIT } from "./polling.ts";
import { createPortRateLimiter, type PortRateLimiter } from "./rate-limit.ts";
import { createReporter } from "./reporter.ts";
import { testRetryPolicy } from "../shared/retry.ts";

const CREDENTIALS = { clientId: "client-abc", clientSecret: "very-secret-value" };
const HOOK = { type: "WEBHOOK" as const, url: "http://127.0.0.1:9/hook", agent: true, synchronized: true };

function setup(client: Partial<PortClientOptions> = {}) {
  let nowMs = 1_700_000_000_000;
  const clock = () => nowMs;
  const emulator = createPortEmulator({ ...CREDENTIALS, clock });
  declareAction(emulator.state, { identifier: "deploy", invocationMethod: HOOK });
  const fetch: FetchFn = (input, init) => Promise.resolve(emulator.app.request(input instanceof Request ? input : String(input), init));
  const port = createPortClient({
    baseUrl: "https://api.port.emulator",
    ...CREDENTIALS,
    fetch,
    timeoutMs: 1_000,
    retry: testRetryPolicy,
    clock,
    sleep: async () => {},
    random: () => 0.5,
    ...client,
  });
  const trigger = (properties: Record<string, unknown> = {}) => triggerAction(emulator.state, clock, "deploy", { properties })!;
  return { port, emulator, state: emulator.state, clock, trigger, advance: (ms: number) => (nowMs += ms) };
}

describe("port client: execution-agent polling", () => {
  test("claims with the agent's body and header, reads the polled runs, and acks them", async () => {
    const { port, state, trigger } = setup();
    const a = trigger({ v: 1 });
    const b = trigger({ v: 2 });
    const claimed = await port.claimRuns({ limit: 1 });
    expect(claimed.unreadable).toEqual([]);
    expect(claimed.runs).toHaveLength(1);
    expect(claimed.runs[0]).toMatchObject({ id: a.id, payload: { type: "WEBHOOK", agent: true, synchronized: true, url: HOOK.url }, properties: { v: 1 } });
    expect(state.calls.find((c) => c.endpoint === "claimRuns")?.body).toEqual({ installationId: AGENT_INSTALLATION_ID, limit: 1, invocationMethod: "WEBHOOK" });
    expect(await port.ackRuns([a.id])).toBe(1);
    expect(await port.ackRuns([a.id])).toBe(0);
    expect((await port.claimRuns()).runs.map((r) => r.id)).toEqual([b.id]);
    expect(state.calls.filter((c) => c.endpoint === "claimRuns").at(-1)?.body).toMatchObject({ limit: DEFAULT_CLAIM_LIMIT });
    expect(port.calls).toMatchObject({ claimRuns: 2, ackRuns: 2, token: 1 });
  });

  test("a full claim of runs with inputs is read whole, however far past the answer cap of other calls (64 KiB)", async () => {
    const { port, state, trigger } = setup();
    // About 1.5 KB a run, a modest form's inputs: 100 of them make a 150 KB answer.
    const inputs = (i: number) => ({ service: `checkout-${i}`, notes: "n".repeat(1_000) });
    const ids = Array.from({ length: DEFAULT_CLAIM_LIMIT }, (_, i) => trigger(inputs(i)).id);
    const claimed = await port.claimRuns();
    expect(claimed.unreadable).toEqual([]);
    expect(claimed.runs.map((r) => r.id)).toEqual(ids);
    const nodeIds = Array.from(
      { length: DEFAULT_CLAIM_LIMIT },
      (_, i) => queueNodeRun(state, { type: "WEBHOOK", url: HOOK.url, agent: true, body: inputs(i) }).id,
    );
    expect((await port.claimNodeRuns()).runs.map((r) => r.identifier)).toEqual(nodeIds);
  });

  test("node runs: claim with {installationId, limit}, ack one by identifier", async () => {
    const { port, state } = setup();
    queueNodeRun(state, { type: "WEBHOOK", url: HOOK.url, agent: true, body: { x: 1 } }, "wfnr_1");
    const claimed = await port.claimNodeRuns({ limit: 5 });
    expect(claimed.runs).toEqual([expect.objectContaining({ identifier: "wfnr_1", config: { type: "WEBHOOK", url: HOOK.url, agent: true, body: { x: 1 } } })]);
    expect(state.calls.find((c) => c.endpoint === "claimNodeRuns")?.body).toEqual({ installationId: AGENT_INSTALLATION_ID, limit: 5 });
    expect(await port.ackNodeRun("wfnr_1")).toBe(true);
    expect(await port.ackNodeRun("wfnr_1")).toBe(false);
  });

  test("an item of a claim answer that is no run is set apart with the field at fault, the rest kept (unknown fields too)", async () => {
    const answer = { ok: true, runs: [{ id: "r_1", payload: { type: "WEBHOOK", agent: true }, extra: { kept: 1 } }, { payload: { type: "WEBHOOK" } }, "junk"] };
    const fetch: FetchFn = async (input) =>
      String(input).endsWith("/access_token") ? Response.json({ accessToken: "t", expiresIn: 3600 }) : Response.json(answer);
    const { port } = setup({ fetch });
    const claimed = await port.claimRuns();
    expect(claimed.runs).toEqual([{ id: "r_1", payload: { type: "WEBHOOK", agent: true }, extra: { kept: 1 } }]);
    expect(claimed.unreadable.map((u) => u.reason)).toEqual([expect.stringContaining("id"), expect.any(String)]);
    expect(claimed.unreadable[1]?.raw).toBe("junk");
  });

  test("an answer without the list Port's agent reads is an error naming it", async () => {
    const fetch: FetchFn = async (input) =>
      String(input).endsWith("/access_token") ? Response.json({ accessToken: "t", expiresIn: 3600 }) : Response.json({ runs: "nope" });
    const { port } = setup({ fetch });
    await expect(port.claimRuns()).rejects.toThrow(/claim-pending.*runs/);
  });

  test("claims and acks go through the limiter at normal priority, so terminal statuses go first", async () => {
    const priorities: string[] = [];
    const inner = createPortRateLimiter({ clock: Date.now, sleep: async () => {}, logger: silentLogger });
    const limiter: PortRateLimiter = {
      maxPortWaitMs: inner.maxPortWaitMs,
      snapshot: () => inner.snapshot(),
      acquire: (opts) => {
        priorities.push(opts.priority);
        return inner.acquire(opts);
      },
    };
    const { port, trigger } = setup({ limiter });
    const run = trigger();
    await port.claimRuns();
    await port.ackRuns([run.id]);
    await port.claimNodeRuns();
    await port.putRunResponse(run.id, "ok");
    await port.patchRun(run.id, { status: "SUCCESS" });
    // token, claim, ack, node claim, response, then the terminal status
    expect(priorities).toEqual(["status", "normal", "normal", "normal", "normal", "status"]);
  });

  test("setAgentStreamer sets the organisation's portAgentStreamerName", async () => {
    const { port, state } = setup();
    await port.setAgentStreamer("POLLING");
    expect(state.organization.settings).toEqual({ portAgentStreamerName: "POLLING" });
  });
});

describe("port client and reporter: a synchronized webhook's answer", () => {
  test("putRunResponse stores it on the action run; a node run has no such endpoint", async () => {
    const { port, state, trigger } = setup();
    const run = trigger();
    await port.putRunResponse(run.id, { pipeline: 7 });
    expect(state.runs.get(run.id)?.response).toEqual({ pipeline: 7 });
    await expect(port.putRunResponse("wfnr_1", "x")).rejects.toThrow(/no response endpoint/);
  });

  test("a response call in the outbox is delivered before the status; a node run's update carries its output", async () => {
    const { port, state, clock, trigger } = setup();
    const ledger = createMemoryLedger();
    const run = trigger();
    queueNodeRun(state, { type: "WEBHOOK", agent: true }, "wfnr_9");
    await ledger.appendReports(
      [
        { runId: run.id, call: { kind: "response", response: ["built"] } },
        { runId: run.id, call: { kind: "update", patch: { status: "SUCCESS" } } },
        { runId: "wfnr_9", call: { kind: "update", patch: { status: "SUCCESS" }, output: { response: { status: 200, data: { ok: 1 } } } } },
      ],
      clock(),
    );
    const reporter = createReporter({ ledger, port, clock, logger: silentLogger, owner: "test", retry: testRetryPolicy });
    await reporter.drainToIdle();
    expect(state.callsFor(run.id).map((c) => c.endpoint)).toEqual(["putRunResponse", "patchRun"]);
    expect(state.runs.get(run.id)).toMatchObject({ response: ["built"], status: "SUCCESS" });
    expect(state.nodeRuns.get("wfnr_9")).toMatchObject({ status: "COMPLETED", result: "SUCCESS", output: { response: { status: 200, data: { ok: 1 } } } });
  });
});
