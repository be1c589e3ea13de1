import { describe, expect, test } from "bun:test";
import { createPortEmulator } from "./port-emulator.ts";
import { declareAction, render } from "./port-emulator-actions.ts";
import { queueNodeRun } from "./port-emulator-polling.ts";

const CREDENTIALS = { clientId: "id-1", clientSecret: "secret-1" };
const RESERVED = { "x-port-reserved-usage": "true" };
const HOOK = { type: "WEBHOOK" as const, url: "http://127.0.0.1:9/hook", agent: true, synchronized: true, method: "POST" as const };

function setup() {
  let nowMs = 1_700_000_000_000;
  const emulator = createPortEmulator({ ...CREDENTIALS, clock: () => nowMs });
  let token = "";
  const send = async (method: string, path: string, body?: unknown, headers: Record<string, string> = RESERVED) => {
    if (!token) {
      const res = await emulator.app.request("http://port.emulator/v1/auth/access_token", { method: "POST", body: JSON.stringify(CREDENTIALS) });
      token = ((await res.json()) as { accessToken: string }).accessToken;
    }
    return emulator.app.request(`http://port.emulator${path}`, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  };
  const json = async (res: Response | Promise<Response>) => (await (await res).json()) as Record<string, unknown> & { runs: { id: string }[] };
  const trigger = async (action: string, properties: Record<string, unknown> = {}, entity?: string) =>
    (await json(send("POST", `/v1/actions/${action}/runs`, { properties, ...(entity ? { entity } : {}) }, {}))).run as { id: string };
  const claim = async (limit = 100, invocationMethod = "WEBHOOK") =>
    (await json(send("POST", "/v1/actions/runs/claim-pending", { installationId: "_PORT_EXEC_AGENT", limit, invocationMethod }))).runs.map((r) => r.id);
  const ack = async (runIds: string[]) => (await json(send("PATCH", "/v1/actions/runs/ack", { runIds }))).ackedCount;
  declareAction(emulator.state, { identifier: "deploy", blueprint: "service", invocationMethod: HOOK });
  return { ...emulator, send, json, trigger, claim, ack, advance: (ms: number) => (nowMs += ms) };
}

describe("port emulator: triggering an action (POST /v1/actions/{id}/runs)", () => {
  test("creates a run in the polled shape, with Port's default body: the inputs spread and port_context.runId", async () => {
    const { send, json, state } = setup();
    const res = await send("POST", "/v1/actions/deploy/runs", { properties: { version: "2.1", replicas: 3 }, entity: "svc-a" }, {});
    expect(res.status).toBe(202);
    const run = (await json(res)).run as { id: string };
    expect(run.id).toMatch(/^r_[0-9a-f]{16}$/);
    const got = await json(send("GET", `/v1/actions/runs/${run.id}`, undefined, {}));
    expect(got.run).toMatchObject({
      id: run.id,
      status: "IN_PROGRESS",
      action: { identifier: "deploy", blueprint: "service" },
      properties: { version: "2.1", replicas: 3 },
      entity: { identifier: "svc-a" },
      payload: { ...HOOK, headers: { RUN_ID: run.id }, body: { version: "2.1", replicas: 3, port_context: { runId: run.id } } },
      pendingExecution: true,
      claimedUntil: null,
      installationId: null,
    });
    expect(state.count("executeAction")).toBe(1);
  });

  test("an action's own body template is rendered with the run's data, types kept, spreadValue() spread", () => {
    const data = { inputs: { a: 1, b: { c: true } }, run: { id: "r_x" }, action: { identifier: "deploy" } };
    const template = {
      "{{ spreadValue() }}": "{{ .inputs.b }}",
      n: "{{ .inputs.a }}",
      text: "run {{ .run.id }} of {{.action.identifier}}",
      "{{ .run.id }}": ["{{ .inputs }}"],
    };
    expect(render(template, data)).toEqual({ c: true, n: 1, text: "run r_x of deploy", r_x: [{ a: 1, b: { c: true } }] });
  });

  test("a template with jq beyond paths is refused when declared", () => {
    const { state } = setup();
    expect(() => declareAction(state, { identifier: "x", invocationMethod: { ...HOOK, body: { v: "{{ .inputs | keys }}" } } })).toThrow(/paths only/);
  });

  test("an unknown action is 404; a body that is not {properties, entity?} is 422", async () => {
    const { send } = setup();
    expect((await send("POST", "/v1/actions/nope/runs", { properties: {} }, {})).status).toBe(404);
    expect((await send("POST", "/v1/actions/deploy/runs", { inputs: {} }, {})).status).toBe(422);
    expect((await send("POST", "/v1/actions/deploy/runs", { properties: {}, colour: 1 }, {})).status).toBe(422);
  });
});

describe("port emulator: claim-pending and ack of action runs", () => {
  test("the reserved-usage header is required on every polling endpoint (403 naming it)", async () => {
    const { send, trigger, json } = setup();
    await trigger("deploy");
    const calls: [string, string, unknown][] = [
      ["POST", "/v1/actions/runs/claim-pending", { installationId: "i", limit: 1, invocationMethod: "WEBHOOK" }],
      ["PATCH", "/v1/actions/runs/ack", { runIds: [] }],
      ["POST", "/v1/workflows/runs/claim-pending", { installationId: "i", limit: 1 }],
      ["PATCH", "/v1/workflows/runs/ack", { nodeRunIdentifier: "wfnr_1" }],
    ];
    for (const [method, path, body] of calls) {
      const res = await send(method, path, body, {});
      expect(res.status).toBe(403);
      expect(String((await json(res)).message)).toContain("x-port-reserved-usage: true");
      expect((await send(method, path, body, { "x-port-reserved-usage": "false" })).status).toBe(403);
      expect((await send(method, path, body)).status).toBe(200);
    }
  });

  test("claims need a token like every Port call, and are recorded by the client's names", async () => {
    const { app, claim, ack, state } = setup();
    const res = await app.request("http://port.emulator/v1/actions/runs/claim-pending", { method: "POST", headers: RESERVED, body: "{}" });
    expect(res.status).toBe(401);
    await claim();
    await ack([]);
    expect(state.count("claimRuns")).toBe(2);
    expect(state.count("ackRuns")).toBe(1);
  });

  test("answers the claimed runs with claimedUntil set; a claimed run is hidden until the claim lapses, then offered again", async () => {
    const { send, json, trigger, claim, advance, state } = setup();
    state.claimLeaseMs = 30_000;
    const run = await trigger("deploy", { v: 1 });
    const res = await json(send("POST", "/v1/actions/runs/claim-pending", { installationId: "_PORT_EXEC_AGENT", limit: 10, invocationMethod: "WEBHOOK" }));
    expect(res.runs).toHaveLength(1);
    expect(res.runs[0]).toMatchObject({
      id: run.id,
      action: { identifier: "deploy" },
      properties: { v: 1 },
      payload: { type: "WEBHOOK", agent: true, synchronized: true, url: HOOK.url, method: "POST" },
      pendingExecution: true,
      claimedUntil: new Date(1_700_000_030_000).toISOString(),
      installationId: "_PORT_EXEC_AGENT",
    });
    expect(await claim()).toEqual([]);
    advance(29_999);
    expect(await claim()).toEqual([]);
    advance(1);
    expect(await claim()).toEqual([run.id]);
  });

  test("an acknowledged run is never offered again, even after its claim lapsed; ack counts only what it acknowledged now", async () => {
    const { trigger, claim, ack, advance, state } = setup();
    const a = await trigger("deploy");
    const b = await trigger("deploy");
    expect(await ack([a.id])).toBe(0); // never claimed
    expect(await claim()).toEqual([a.id, b.id]);
    expect(await ack([a.id, a.id, "r_unknown"])).toBe(1);
    expect(await ack([a.id])).toBe(0);
    advance(state.claimLeaseMs + 1);
    expect(await claim()).toEqual([b.id]);
    expect(state.runs.get(a.id)?.agentClaim).toMatchObject({ acked: true });
  });

  test("two claimers never get the same run; limit is honoured; oldest first", async () => {
    const { trigger, send, json, advance } = setup();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await trigger("deploy", { i })).id);
      advance(1);
    }
    const body = (installationId: string) => ({ installationId, limit: 6, invocationMethod: "WEBHOOK" });
    const [one, two] = await Promise.all([
      json(send("POST", "/v1/actions/runs/claim-pending", body("_PORT_EXEC_AGENT"))),
      json(send("POST", "/v1/actions/runs/claim-pending", body("_PORT_EXEC_AGENT"))),
    ]);
    const first = one.runs.map((r) => r.id);
    const second = two.runs.map((r) => r.id);
    expect(first).toHaveLength(6);
    expect(second).toHaveLength(4);
    expect(first.filter((id) => second.includes(id))).toEqual([]);
    expect([...first, ...second].sort()).toEqual([...ids].sort());
    expect(first).toEqual(ids.slice(0, 6));
  });

  test("only runs for an agent, of the type asked, still in progress are offered; a bad limit is 422", async () => {
    const { state, trigger, claim, send } = setup();
    declareAction(state, { identifier: "direct", invocationMethod: { ...HOOK, agent: false } });
    declareAction(state, { identifier: "kafka", invocationMethod: { type: "KAFKA" } });
    await trigger("direct");
    await trigger("kafka");
    const ended = await trigger("deploy");
    state.runs.get(ended.id)!.status = "SUCCESS";
    expect(await claim()).toEqual([]);
    const open = await trigger("deploy");
    expect(await claim(10, "GITLAB")).toEqual([]);
    expect(await claim(10, "WEBHOOK")).toEqual([open.id]);
    for (const limit of [0, 1.5, 1001]) {
      expect((await send("POST", "/v1/actions/runs/claim-pending", { installationId: "i", limit, invocationMethod: "WEBHOOK" })).status).toBe(422);
    }
  });
});

describe("port emulator: workflow node runs for an agent", () => {
  test("queued node runs are claimed with their config, hidden while claimed, acked once", async () => {
    const { app, send, json, advance, state } = setup();
    const queued = await app.request("http://port.emulator/emulator/node-runs", {
      method: "POST",
      body: JSON.stringify({ identifier: "wfnr_a", config: { type: "WEBHOOK", url: HOOK.url, agent: true, synchronized: true, body: { x: 1 } } }),
    });
    expect(queued.status).toBe(201);
    queueNodeRun(state, { type: "WEBHOOK", url: HOOK.url, agent: true });
    const claimNodes = async (limit: number) =>
      ((await json(send("POST", "/v1/workflows/runs/claim-pending", { installationId: "_PORT_EXEC_AGENT", limit }))).nodeRuns as { identifier: string }[]).map(
        (n) => n.identifier,
      );
    const res = await json(send("POST", "/v1/workflows/runs/claim-pending", { installationId: "_PORT_EXEC_AGENT", limit: 1 }));
    expect(res.nodeRuns).toEqual([
      expect.objectContaining({
        identifier: "wfnr_a",
        status: "IN_PROGRESS",
        config: { type: "WEBHOOK", url: HOOK.url, agent: true, synchronized: true, body: { x: 1 } },
        pendingExecution: true,
        installationId: "_PORT_EXEC_AGENT",
      }),
    ]);
    const other = await claimNodes(5);
    expect(other).toHaveLength(1);
    expect(other[0]).toMatch(/^wfnr_/);
    expect(await claimNodes(5)).toEqual([]);
    const ackNode = async (id: string) => (await json(send("PATCH", "/v1/workflows/runs/ack", { nodeRunIdentifier: id }))).acked;
    expect(await ackNode("wfnr_a")).toBe(true);
    expect(await ackNode("wfnr_a")).toBe(false);
    advance(state.claimLeaseMs);
    expect(await claimNodes(5)).toEqual(other);
  });
});

describe("port emulator: stored responses and the organisation's settings", () => {
  test("PATCH …/response keeps a synchronized webhook's answer on the run; other keys 422; unknown run 404", async () => {
    const { send, json, trigger, state } = setup();
    const run = await trigger("deploy");
    const res = await send("PATCH", `/v1/actions/runs/${run.id}/response`, { response: { built: 12 } }, {});
    expect(res.status).toBe(200);
    expect(state.runs.get(run.id)?.response).toEqual({ built: 12 });
    expect((await json(send("GET", `/v1/actions/runs/${run.id}`, undefined, {}))).run).toMatchObject({ response: { built: 12 } });
    expect((await send("PATCH", `/v1/actions/runs/${run.id}/response`, { response: "ok", extra: 1 }, {})).status).toBe(422);
    expect((await send("PATCH", `/v1/actions/runs/${run.id}/response`, { response: 5 }, {})).status).toBe(422);
    expect((await send("PATCH", "/v1/actions/runs/r_none/response", { response: "x" }, {})).status).toBe(404);
    expect(state.count("putRunResponse")).toBe(4);
  });

  test("PATCH /v1/organization records settings.portAgentStreamerName", async () => {
    const { send, state } = setup();
    const res = await send("PATCH", "/v1/organization", { settings: { portAgentStreamerName: "POLLING" } }, {});
    expect(res.status).toBe(200);
    expect(state.organization.settings).toEqual({ portAgentStreamerName: "POLLING" });
    expect((await send("PATCH", "/v1/organization", { streamer: "x" }, {})).status).toBe(422);
    expect(state.count("patchOrganization")).toBe(2);
  });
});
