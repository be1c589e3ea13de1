import { describe, expect, test } from "bun:test";
import { createPortEmulator } from "../emulator/port-emulator.ts";
import type { PortEmulatorOptions } from "../emulator/port-emulator.ts";
import type { RunPatch } from "./calls.ts";
import { createPortClient } from "./client.ts";
import type { PortCallEvent, PortClientOptions } from "./client.ts";
import type { PortLogger } from "./deps.ts";
import { PortApiError, PortNetworkError, PortPausedError, PortTimeoutError } from "./errors.ts";
import type { FetchFn } from "./http.ts";
import { testRetryPolicy } from "../shared/retry.ts";

const CREDENTIALS = { clientId: "client-abc", clientSecret: "very-secret-value" };

function setup(opts: { emulator?: PortEmulatorOptions; client?: Partial<PortClientOptions> } = {}) {
  let nowMs = 1_700_000_000_000;
  const clock = () => nowMs;
  const emulator = createPortEmulator({ ...CREDENTIALS, clock, ...opts.emulator });
  // The runs these tests report on exist at Port (the emulator answers 404 for others, as Port does).
  for (const id of [...Array.from({ length: 100 }, (_, i) => `r_${i}`), "r_1&x=y", "r/1", "wfnr_1"]) emulator.state.declareRun(id);
  const sleeps: number[] = [];
  const lines: string[] = [];
  const events: PortCallEvent[] = [];
  const record = (level: string) => (event: string, fields?: Record<string, unknown>) => void lines.push(`${level} ${event} ${JSON.stringify(fields)}`);
  const logger: PortLogger = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
  const fetch: FetchFn = (input, init) => Promise.resolve(emulator.app.request(input instanceof Request ? input : String(input), init));
  const client = createPortClient({
    baseUrl: "https://api.port.emulator/",
    ...CREDENTIALS,
    fetch,
    timeoutMs: 1_000,
    retry: testRetryPolicy,
    clock,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5,
    logger,
    onCall: (e) => void events.push(e),
    ...opts.client,
  });
  return { client, emulator, state: emulator.state, sleeps, lines, events, advance: (ms: number) => (nowMs += ms) };
}

describe("port client: token", () => {
  test("one token serves 100 runs (token endpoint hit once)", async () => {
    const { client, state } = setup();
    for (let i = 0; i < 100; i++) {
      await client.postLog(`r_${i}`, { message: "started" });
      await client.patchRun(`r_${i}`, { status: "SUCCESS" });
    }
    expect(state.count("token")).toBe(1);
    expect(client.calls).toMatchObject({ token: 1, postLog: 100, patchRun: 100 });
    expect(state.terminalStatus("r_99")).toBe("SUCCESS");
  });

  test("concurrent first calls share one token fetch", async () => {
    const { client, state } = setup();
    await Promise.all(Array.from({ length: 25 }, (_, i) => client.patchRun(`r_${i}`, { statusLabel: "go" })));
    expect(state.count("token")).toBe(1);
  });

  test("refreshes before expiry with a short-lived token and an injected clock", async () => {
    const { client, state, advance } = setup({ emulator: { tokenLifetimeS: 60 } });
    await client.patchRun("r_1", { statusLabel: "a" });
    advance(50_000);
    await client.patchRun("r_1", { statusLabel: "b" });
    expect(state.count("token")).toBe(1);
    advance(5_000); // inside the 10% margin of a 60 s token
    await client.patchRun("r_1", { statusLabel: "c" });
    expect(state.count("token")).toBe(2);
    advance(120_000); // long past expiry
    await client.patchRun("r_1", { status: "SUCCESS" });
    expect(state.count("token")).toBe(3);
    expect(state.calls.filter((c) => c.status === 401)).toHaveLength(0);
  });

  test("a 401 on an API call refreshes the token and retries once", async () => {
    const { client, state, sleeps } = setup();
    await client.patchRun("r_1", { statusLabel: "a" });
    state.revokeTokens(); // e.g. another replica fetched a token for the same credentials
    await client.patchRun("r_1", { status: "SUCCESS" });
    expect(state.count("token")).toBe(2);
    expect(state.callsFor("r_1").map((c) => c.status)).toEqual([200, 401, 200]);
    expect(sleeps).toEqual([]);
  });

  test("a persistent 401 is surfaced, not looped on", async () => {
    const { client, state } = setup();
    state.failNext(10, 401, { endpoint: "patchRun" });
    const err = await client.patchRun("r_1", { status: "SUCCESS" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortApiError);
    expect((err as PortApiError).status).toBe(401);
    expect((err as PortApiError).isAuthProblem).toBe(true);
    expect(state.count("patchRun")).toBe(2);
  });

  test("wrong credentials: a clear 401 that never shows the secret or a token", async () => {
    const { client, lines, state } = setup({ client: { clientSecret: "wrong-secret-value" } });
    const err = await client.getRun("r_1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortApiError);
    const apiErr = err as PortApiError;
    expect(apiErr).toMatchObject({ status: 401, code: "unauthorized", retriable: false, path: "/v1/auth/access_token" });
    expect(apiErr.portMessage).toContain("Invalid clientId or clientSecret");
    const visible = `${apiErr.message} ${JSON.stringify(apiErr)} ${lines.join("\n")}`;
    expect(visible).not.toContain("wrong-secret-value");
    expect(state.count("token")).toBe(1);
  });

  test("authenticate: a token, or the refusal for its caller to report (logged at debug only; other calls log it as a warning)", async () => {
    const good = setup();
    await good.client.authenticate();
    expect(good.state.count("token")).toBe(1);
    await good.client.getRun("r_1");
    expect(good.state.count("token")).toBe(1);

    const { client, lines } = setup({ client: { clientSecret: "wrong-secret-value" } });
    const err = await client.authenticate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortApiError);
    expect(err).toMatchObject({ status: 401, code: "unauthorized" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("debug port.call.failed ");
    await client.getRun("r_1").catch(() => undefined);
    expect(lines.at(-1)).toStartWith("warn port.call.failed ");
  });

  test("logs and errors never include the access token", async () => {
    const { client, lines, state } = setup();
    state.failNext(1, 503, { endpoint: "patchRun" });
    await client.patchRun("r_1", { status: "SUCCESS" });
    const token = [...state.tokens.keys()][0] ?? "missing";
    expect(lines.join("\n")).not.toContain(token);
    expect(lines.join("\n")).not.toContain(CREDENTIALS.clientSecret);
  });
});

describe("port client: retries", () => {
  test("honours 429 Retry-After (asserted on requested sleeps, not wall time)", async () => {
    const { client, state, sleeps } = setup({ client: { retry: { ...testRetryPolicy, maxMs: 10_000 } } });
    await client.getRun("r_0"); // token fetched first, so the 429s hit the call under test
    state.rateLimitNext(2, 3);
    await client.patchRun("r_1", { status: "SUCCESS" });
    expect(sleeps).toEqual([3_000, 3_000]);
    expect(state.terminalStatus("r_1")).toBe("SUCCESS");
  });

  test("a Retry-After longer than maxMs is handed back to the caller instead of slept through", async () => {
    const { client, state, sleeps } = setup();
    await client.getRun("r_0");
    state.rateLimitNext(1, 60);
    const err = (await client.patchRun("r_1", { status: "SUCCESS" }).catch((e: unknown) => e)) as PortApiError;
    expect(err).toBeInstanceOf(PortApiError);
    expect(err).toMatchObject({ status: 429, retriable: true, retryAfterMs: 60_000, attempt: 1 });
    expect(sleeps).toEqual([]);
  });

  test("retries 5xx with backoff, then succeeds", async () => {
    const { client, state, sleeps, events } = setup();
    state.failNext(2, 503, { endpoint: "postLog" });
    await client.postLog("r_1", { message: "hello" });
    expect(state.logsFor("r_1")).toEqual(["hello"]);
    expect(sleeps).toEqual([0, 1]); // full jitter with random 0.5 over bounds 1 ms and 2 ms
    expect(client.calls.postLog).toBe(3);
    expect(events.filter((e) => e.kind === "postLog").map((e) => e.status)).toEqual([503, 503, 201]);
  });

  test("gives up after maxAttempts with a retriable error", async () => {
    const { client, state } = setup();
    state.failNext(10, 502, { endpoint: "patchRun" });
    const err = (await client.patchRun("r_1", { status: "SUCCESS" }).catch((e: unknown) => e)) as PortApiError;
    expect(err).toMatchObject({ status: 502, retriable: true, attempt: testRetryPolicy.maxAttempts, runId: "r_1", method: "PATCH" });
    expect(state.count("patchRun")).toBe(testRetryPolicy.maxAttempts);
  });

  test("surfaces a 422 with Port's message, without retrying", async () => {
    const { client, state, sleeps } = setup();
    const err = (await client.patchRun("r_1", { status: "SUCCESS", colour: "green" } as RunPatch).catch((e: unknown) => e)) as PortApiError;
    expect(err).toBeInstanceOf(PortApiError);
    expect(err).toMatchObject({ status: 422, code: "invalid_request", retriable: false, runId: "r_1", path: "/v1/actions/runs/r_1" });
    expect(err.portMessage).toContain("must NOT have additional properties ('colour')");
    expect(err.message).toContain("additional properties");
    expect(state.count("patchRun")).toBe(1);
    expect(sleeps).toEqual([]);
  });

  test("times out every try, then throws a retriable PortTimeoutError", async () => {
    const hanging: FetchFn = () => new Promise<Response>(() => {}); // ignores the signal on purpose
    const { client, sleeps } = setup({ client: { fetch: hanging, timeoutMs: 5 } });
    const err = await client.getRun("r_1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortTimeoutError);
    expect(err).toMatchObject({ retriable: true, timeoutMs: 5, path: "/v1/auth/access_token", attempt: testRetryPolicy.maxAttempts });
    expect(sleeps).toHaveLength(testRetryPolicy.maxAttempts - 1);
  });

  test("a slow emulator answer times out the call", async () => {
    const { client, state } = setup({
      emulator: { sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
      client: { timeoutMs: 20, retry: { ...testRetryPolicy, maxAttempts: 1 } },
    });
    await client.getRun("r_0");
    state.latencyMs = 200;
    await expect(client.patchRun("r_1", { status: "SUCCESS" })).rejects.toBeInstanceOf(PortTimeoutError);
  });

  test("network errors are retried and then surfaced as PortNetworkError", async () => {
    let calls = 0;
    const refusing: FetchFn = async () => {
      calls++;
      throw new TypeError("connection refused");
    };
    const { client } = setup({ client: { fetch: refusing } });
    const err = await client.getRun("r_1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortNetworkError);
    expect((err as PortNetworkError).message).toContain("connection refused");
    expect(calls).toBe(testRetryPolicy.maxAttempts);
  });

  test("a programmer error inside fetch is not retried", async () => {
    let calls = 0;
    const broken: FetchFn = async () => {
      calls++;
      return new Response("{}", { status: 200 });
    };
    const { client } = setup({ client: { fetch: broken } });
    await expect(client.getRun("r_1")).rejects.toThrow("without an accessToken");
    expect(calls).toBe(1);
  });
});

describe("port client: unknown runs", () => {
  test("a run Port does not know is a 404 PortApiError, not retried", async () => {
    const { client, state, sleeps } = setup();
    for (const call of [
      () => client.patchRun("r_never", { status: "SUCCESS" }),
      () => client.postLog("r_never", { message: "x" }),
      () => client.getRun("r_never"),
    ]) {
      const err = (await call().catch((e: unknown) => e)) as PortApiError;
      expect(err).toBeInstanceOf(PortApiError);
      expect(err).toMatchObject({ status: 404, code: "not_found", retriable: false, runId: "r_never" });
    }
    expect(state.callsFor("r_never").map((c) => c.status)).toEqual([404, 404, 404]);
    expect(sleeps).toEqual([]);
  });
});

describe("port client: endpoints", () => {
  test("upsertEntity sends upsert, merge and run_id, with encoded segments", async () => {
    const { client, state } = setup();
    await client.upsertEntity("micro service", { identifier: "svc-1", properties: { v: 1 } }, { runId: "r_1&x=y" });
    const call = state.calls.at(-1);
    expect(call?.path).toBe("/v1/blueprints/micro%20service/entities");
    expect(call?.query).toEqual({ upsert: "true", merge: "true", run_id: "r_1&x=y" });
    expect(state.entity("micro service", "svc-1")?.properties).toEqual({ v: 1 });
    expect(state.runs.get("r_1&x=y")?.linkedEntities).toHaveLength(1);
  });

  test("upsertEntity without a run links nothing", async () => {
    const { client, state } = setup();
    await client.upsertEntity("svc", { identifier: "a" });
    expect(state.calls.at(-1)?.query).toEqual({ upsert: "true", merge: "true" });
  });

  test("postLog with terminationStatus and getRun", async () => {
    const { client, state } = setup();
    await client.postLog("r/1", { message: "done", terminationStatus: "FAILURE", statusLabel: "boom" });
    expect(state.terminalStatus("r/1")).toBe("FAILURE");
    const run = await client.getRun("r/1");
    expect(run).toMatchObject({ id: "r/1", status: "FAILURE", statusLabel: "boom" });
  });
});

describe("port client: workflow node runs", () => {
  test("status, logs and reads go to /v1/workflows/nodes/runs, never to /v1/actions/runs", async () => {
    const { client, state } = setup();
    await client.postLogs("wfnr_1", [{ message: "one" }, { message: "two", level: "ERROR" }]);
    await client.postLog("wfnr_1", { message: "three", level: "WARN" });
    expect((await client.getRun("wfnr_1")).terminated).toBe(false);
    await client.patchRun("wfnr_1", { statusLabel: "nothing a node run can hold" }); // no status: nothing to send
    await client.patchRun("wfnr_1", { status: "FAILURE", summary: "ignored here: sent as a log line before" });
    const calls = state.callsFor("wfnr_1");
    expect(calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      "POST /v1/workflows/nodes/runs/wfnr_1/logs 201",
      "POST /v1/workflows/nodes/runs/wfnr_1/logs 201",
      "GET /v1/workflows/nodes/runs/wfnr_1 200",
      "PATCH /v1/workflows/nodes/runs/wfnr_1 200",
    ]);
    expect(calls[0]?.body).toEqual({
      logs: [
        { level: "INFO", message: "one" },
        { level: "ERROR", message: "two" },
      ],
    });
    expect(calls[3]?.body).toEqual({ status: "COMPLETED", result: "FAILED" });
    expect(await client.getRun("wfnr_1")).toMatchObject({ id: "wfnr_1", status: "COMPLETED", result: "FAILED", terminated: true });
    expect(client.calls).toMatchObject({ postNodeLog: 2, getNodeRun: 2, patchNodeRun: 1, postLog: 0, patchRun: 0, getRun: 0 });
  });

  test("an entity written for a node run carries no run_id (Port's entity endpoints take action run ids)", async () => {
    const { client, state } = setup();
    await client.upsertEntity("svc", { identifier: "a" }, { runId: "wfnr_1" });
    expect(state.calls.at(-1)).toMatchObject({ status: 201, query: { upsert: "true", merge: "true" } });
  });

  test("action runs: several lines are one message, and terminated reflects SUCCESS / FAILURE", async () => {
    const { client, state } = setup();
    await client.postLogs("r_1", [{ message: "a" }, { message: "b", level: "ERROR" }]);
    expect(state.calls.at(-1)?.body).toEqual({ message: "a\nb" });
    expect((await client.getRun("r_1")).terminated).toBe(false);
    await client.patchRun("r_1", { status: "SUCCESS" });
    expect((await client.getRun("r_1")).terminated).toBe(true);
  });
});

describe("port client: entity writes", () => {
  test("update, delete and bulk go to their endpoints with run_id and Port's options", async () => {
    const { client, state } = setup();
    await client.upsertEntity("svc", { identifier: "a", relations: { team: "t" } }, { runId: "r_1", createMissingRelatedEntities: true });
    expect(state.calls.at(-1)?.query).toEqual({ upsert: "true", merge: "true", run_id: "r_1", create_missing_related_entities: "true" });
    expect(state.entity("svc", "a")).toBeDefined();

    await client.upsertEntity("svc", { identifier: "a/b" });
    await client.updateEntity("svc", "a/b", { title: null }, { runId: "r_1" });
    expect(state.calls.at(-1)).toMatchObject({ method: "PATCH", path: "/v1/blueprints/svc/entities/a%2Fb", query: { run_id: "r_1" }, status: 200 });
    expect(state.entity("svc", "a/b")?.title).toBeNull();
    await client.updateEntity("svc", "a", { properties: { x: 1 } }, { runId: "r_1", createMissingRelatedEntities: true });
    expect(state.calls.at(-1)).toMatchObject({ method: "PATCH", query: { run_id: "r_1", create_missing_related_entities: "true" }, status: 200 });

    await client.deleteEntity("svc", "a", { runId: "r_1" });
    expect(state.calls.at(-1)).toMatchObject({ method: "DELETE", path: "/v1/blueprints/svc/entities/a", query: { run_id: "r_1", delete_dependents: "false" } });
    expect(state.entity("svc", "a")).toBeUndefined();

    const result = await client.upsertEntities("svc", [{ identifier: "b" }, { identifier: "c" }], { runId: "r_1" });
    expect(result).toEqual({ errors: [] });
    expect(state.calls.at(-1)).toMatchObject({
      path: "/v1/blueprints/svc/entities/bulk",
      query: { upsert: "true", merge: "true", run_id: "r_1" },
      status: 200,
    });
    expect(client.calls).toMatchObject({ upsertEntity: 2, updateEntity: 2, deleteEntity: 1, upsertEntities: 1 });
  });

  test("a bulk write Port takes in part (207) returns what it refused instead of throwing", async () => {
    const { client, state } = setup();
    state.declareBlueprint({ identifier: "svc", properties: { n: { type: "number" } } });
    const result = await client.upsertEntities("svc", [
      { identifier: "ok", properties: { n: 1 } },
      { identifier: "bad", properties: { n: "one" } },
    ]);
    expect(state.calls.at(-1)?.status).toBe(207);
    expect(result.errors).toMatchObject([{ identifier: "bad", index: 1, statusCode: 422, error: "invalid_request" }]);
    expect(result.errors[0]?.message).toContain('"n"');
  });
});

describe("port client: one rate budget", () => {
  test("after a 429, the other calls wait for the pause, one probe goes, then the rest; terminal statuses first", async () => {
    let nowMs = 1_700_000_000_000;
    const clock = () => nowMs;
    const emulator = createPortEmulator({ ...CREDENTIALS, clock });
    for (let i = 0; i < 10; i++) emulator.state.declareRun(`r_${i}`);
    // The limiter waits through this sleep; the test lets each wait end (moving the clock) when it chooses.
    const waits: Array<() => void> = [];
    const client = createPortClient({
      baseUrl: "https://api.port.emulator",
      ...CREDENTIALS,
      fetch: (input, init) => Promise.resolve(emulator.app.request(input instanceof Request ? input : String(input), init)),
      timeoutMs: 1_000,
      retry: { ...testRetryPolicy, maxMs: 10_000 },
      clock,
      sleep: (ms) =>
        new Promise<void>((resolve) =>
          waits.push(() => {
            nowMs += ms;
            resolve();
          }),
        ),
    });
    const state = emulator.state;
    const tick = () => new Promise((r) => setTimeout(r, 1));
    await client.getRun("r_0"); // the token, before the window
    state.refuseFor(3_000);
    const first = client.postLog("r_0", { message: "meets the 429" });
    while (waits.length === 0) await tick(); // refused: the limiter now waits out the pause
    const others = [...Array.from({ length: 5 }, (_, i) => client.postLog(`r_${i + 1}`, { message: "waits" })), client.patchRun("r_9", { status: "SUCCESS" })];
    let done = false;
    const all = Promise.all([first, ...others]).finally(() => (done = true));
    while (!done) {
      for (const end of waits.splice(0)) end();
      await tick();
    }
    await all;
    const sent = state.calls.slice(2).map((c) => `${c.endpoint} ${c.status} +${c.atMs - 1_700_000_000_000}`);
    // One call met the window; nothing else was sent until it passed; the status went first, as the probe.
    expect(sent[0]).toBe("postLog 429 +0");
    expect(sent[1]).toBe("patchRun 200 +3000");
    expect(sent.slice(2).map((line) => line.split(" +")[0])).toEqual(Array.from({ length: 6 }, () => "postLog 201"));
    expect(state.calls.slice(4).every((c) => c.atMs >= 1_700_000_003_000)).toBe(true);
  });

  test("a call that would wait out a long pause fails at once with PortPausedError, nothing sent", async () => {
    const { client, state } = setup();
    await client.getRun("r_0");
    state.refuseFor(60_000);
    await client.postLog("r_1", { message: "x" }).catch(() => undefined); // 429: Retry-After 60 s, handed back
    const before = state.calls.length;
    const err = await client.patchRun("r_2", { status: "SUCCESS" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortPausedError);
    expect(err).toMatchObject({ retriable: true, runId: "r_2", method: "PATCH" });
    expect((err as PortPausedError).retryAfterMs).toBe(60_000);
    expect(state.calls.length).toBe(before);
  });
});
