import { describe, expect, test } from "bun:test";
import { createPortEmulator } from "./port-emulator.ts";
import type { PortEmulatorOptions } from "./port-emulator.ts";

const CREDENTIALS = { clientId: "id-1", clientSecret: "secret-1" };

function setup(opts: PortEmulatorOptions = {}) {
  let nowMs = 1_700_000_000_000;
  const emulator = createPortEmulator({ ...CREDENTIALS, clock: () => nowMs, ...opts });
  // Runs exist at Port before anything reports on them; these tests report on these.
  for (const id of ["r_1", "r_2", "r/odd id"]) emulator.state.declareRun(id);
  const send = (method: string, path: string, body?: unknown, token?: string) =>
    emulator.app.request(`http://port.emulator${path}`, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
  const token = async () => {
    const res = await send("POST", "/v1/auth/access_token", CREDENTIALS);
    return ((await res.json()) as { accessToken: string }).accessToken;
  };
  return { ...emulator, send, token, advance: (ms: number) => (nowMs += ms) };
}

describe("port emulator: tokens", () => {
  test("issues a token for the configured credentials and refuses others", async () => {
    const { send } = setup({ tokenLifetimeS: 600 });
    const ok = await send("POST", "/v1/auth/access_token", CREDENTIALS);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ ok: true, expiresIn: 600, tokenType: "Bearer" });
    expect(typeof body.accessToken).toBe("string");

    const bad = await send("POST", "/v1/auth/access_token", { ...CREDENTIALS, clientSecret: "nope" });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ ok: false, error: "unauthorized" });
  });

  test("an expired or unknown token gets 401", async () => {
    const { send, token, advance } = setup({ tokenLifetimeS: 60 });
    const t = await token();
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, t)).status).toBe(200);
    advance(60_000);
    const expired = await send("GET", "/v1/actions/runs/r_1", undefined, t);
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as { message: string }).message).toContain("expired");
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, "made-up")).status).toBe(401);
    expect((await send("GET", "/v1/actions/runs/r_1")).status).toBe(401);
  });

  // Was "a new token revokes the old": Port's API reference now documents active token reuse instead.
  test("one active token per credential pair: asking again returns it, with the lifetime it has left", async () => {
    const { send, token, advance } = setup({ tokenLifetimeS: 600 });
    const first = await token();
    advance(100_000);
    const again = await send("POST", "/v1/auth/access_token", CREDENTIALS);
    expect(await again.json()).toMatchObject({ ok: true, accessToken: first, expiresIn: 500 });
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, first)).status).toBe(200);
    advance(500_000);
    const next = await token();
    expect(next).not.toBe(first);
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, first)).status).toBe(401);
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, next)).status).toBe(200);
  });

  test("replaceTokens emulates Port's older rule: a new token revokes the old", async () => {
    const { send, token } = setup({ replaceTokens: true });
    const first = await token();
    const second = await token();
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, first)).status).toBe(401);
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, second)).status).toBe(200);
  });

  test("the client secret is redacted in the call record", async () => {
    const { token, state } = setup();
    await token();
    expect(JSON.stringify(state.calls)).not.toContain(CREDENTIALS.clientSecret);
  });
});

describe("port emulator: PATCH run", () => {
  test("unknown body keys are refused with a Port-style 422", async () => {
    const { send, token } = setup();
    const res = await send("PATCH", "/v1/actions/runs/r_1", { status: "SUCCESS", color: "green" }, await token());
    expect(res.status).toBe(422);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ ok: false, error: "invalid_request" });
    expect(body.message).toContain("additional properties ('color')");
  });

  test("status is SUCCESS or FAILURE only", async () => {
    const { send, token, state } = setup();
    const res = await send("PATCH", "/v1/actions/runs/r_1", { status: "IN_PROGRESS" }, await token());
    expect(res.status).toBe(422);
    expect(state.terminalStatus("r_1")).toBeUndefined();
  });

  test("non-terminal patches repeat; a second terminal status and later patches are refused", async () => {
    const { send, token, state } = setup();
    const t = await token();
    expect((await send("PATCH", "/v1/actions/runs/r_1", { statusLabel: "building" }, t)).status).toBe(200);
    expect((await send("PATCH", "/v1/actions/runs/r_1", { link: ["https://ci/1"], summary: "half" }, t)).status).toBe(200);
    const done = await send("PATCH", "/v1/actions/runs/r_1", { status: "SUCCESS", summary: "done" }, t);
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ ok: true, run: { id: "r_1", status: "SUCCESS", summary: "done", link: ["https://ci/1"] } });

    const again = await send("PATCH", "/v1/actions/runs/r_1", { status: "FAILURE" }, t);
    expect(again.status).toBe(422);
    expect(await again.json()).toMatchObject({ ok: false, error: "run_already_ended" });
    expect((await send("PATCH", "/v1/actions/runs/r_1", { statusLabel: "late" }, t)).status).toBe(422);
    expect(state.terminalStatus("r_1")).toBe("SUCCESS");
    expect(state.runs.get("r_1")?.statusLabel).toBe("building");
  });

  // Was "implicitly IN_PROGRESS when first seen": Port answers 404 for a run it never issued, and now so does the emulator.
  test("GET returns a declared run IN_PROGRESS; a run never declared is 404", async () => {
    const { send, token, state } = setup();
    const t = await token();
    state.declareRun("r_new");
    const res = await send("GET", "/v1/actions/runs/r_new", undefined, t);
    expect(await res.json()).toMatchObject({ ok: true, run: { id: "r_new", status: "IN_PROGRESS", endedAt: null } });
    const missing = await send("GET", "/v1/actions/runs/r_unknown", undefined, t);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ ok: false, error: "not_found" });
  });

  test("run ids are URL-decoded path segments", async () => {
    const { send, token, state } = setup();
    await send("PATCH", `/v1/actions/runs/${encodeURIComponent("r/odd id")}`, { status: "FAILURE" }, await token());
    expect(state.terminalStatus("r/odd id")).toBe("FAILURE");
    expect(state.callsFor("r/odd id")).toHaveLength(1);
  });
});

describe("port emulator: runs exist once declared", () => {
  test("PATCH, logs and entity links of a run never declared are 404, and create nothing", async () => {
    const { send, token, state } = setup();
    const t = await token();
    const answers = [
      await send("PATCH", "/v1/actions/runs/r_ghost", { status: "SUCCESS" }, t),
      await send("POST", "/v1/actions/runs/r_ghost/logs", { message: "hi" }, t),
      await send("POST", "/v1/blueprints/service/entities?upsert=true&run_id=r_ghost", { identifier: "svc" }, t),
    ];
    for (const res of answers) {
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ ok: false, error: "not_found" });
    }
    expect(state.runs.has("r_ghost")).toBe(false);
    expect(state.entity("service", "svc")).toBeUndefined();
  });

  test("autoCreateRuns (open mode) creates a run on first use instead", async () => {
    const { send, token, state } = setup({ autoCreateRuns: true });
    const res = await send("PATCH", "/v1/actions/runs/r_mine", { status: "SUCCESS" }, await token());
    expect(res.status).toBe(200);
    expect(state.terminalStatus("r_mine")).toBe("SUCCESS");
  });

  test("POST /emulator/runs declares one or many runs, needs no token, and is not a recorded Port call", async () => {
    const { send, state } = setup();
    expect((await send("POST", "/emulator/runs", { id: "r_a" })).status).toBe(201);
    const many = await send("POST", "/emulator/runs", { ids: ["r_b", "r_c"] });
    expect(await many.json()).toEqual({ ok: true, declared: 2 });
    expect(many.headers.get("x-port-emulator")).toBe("true");
    for (const bad of [{}, { id: "" }, { ids: [] }, { ids: [1] }, "not json"]) expect((await send("POST", "/emulator/runs", bad)).status).toBe(422);
    expect(["r_a", "r_b", "r_c"].every((id) => state.runs.get(id)?.status === "IN_PROGRESS")).toBe(true);
    expect(state.calls).toEqual([]);
  });
});

describe("port emulator: workflow node runs", () => {
  const node = "/v1/workflows/nodes/runs/wfnr_1";

  test("PATCH: COMPLETED needs a result of SUCCESS, FAILED or CANCELLED; unknown keys are 422; then it is frozen", async () => {
    const { send, token, state } = setup();
    const t = await token();
    state.declareRun("wfnr_1");
    for (const bad of [
      { status: "COMPLETED" },
      { status: "COMPLETED", result: "FAILURE" },
      { status: "SUCCESS" },
      { status: "IN_PROGRESS", result: "SUCCESS" },
      { status: "COMPLETED", result: "SUCCESS", summary: "no such field" },
      { status: "COMPLETED", result: "SUCCESS", output: "not an object" },
    ]) {
      const res = await send("PATCH", node, bad, t);
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ ok: false, error: "invalid_request" });
    }
    expect((await send("PATCH", node, { status: "IN_PROGRESS" }, t)).status).toBe(200);
    const done = await send("PATCH", node, { status: "COMPLETED", result: "FAILED", output: { reason: "x" } }, t);
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ ok: true, nodeRun: { identifier: "wfnr_1", status: "COMPLETED", result: "FAILED" } });
    expect(state.ended("wfnr_1")).toBe(true);
    expect((await send("PATCH", node, { status: "COMPLETED", result: "SUCCESS" }, t)).status).toBe(422);
    expect((await send("POST", `${node}/logs`, { logs: [{ level: "INFO", message: "late" }] }, t)).status).toBe(422);
  });

  test("logs: {logs: [{level, message}]} with DEBUG, INFO, WARN or ERROR only", async () => {
    const { send, token, state } = setup();
    const t = await token();
    state.declareRun("wfnr_1");
    for (const bad of [
      { message: "action-run style" },
      { logs: [] },
      { logs: [{ level: "WARNING", message: "x" }] },
      { logs: [{ level: "INFO" }] },
      { logs: [{ level: "INFO", message: "x", tags: [] }] },
      { logs: [{ level: "INFO", message: "x" }], extra: 1 },
    ]) {
      expect((await send("POST", `${node}/logs`, bad, t)).status).toBe(422);
    }
    const levels = ["DEBUG", "INFO", "WARN", "ERROR"].map((level) => ({ level, message: `at ${level}` }));
    expect((await send("POST", `${node}/logs`, { logs: levels }, t)).status).toBe(201);
    expect(state.logsFor("wfnr_1")).toEqual(["at DEBUG", "at INFO", "at WARN", "at ERROR"]);
    const got = (await (await send("GET", node, undefined, t)).json()) as { nodeRun: { status: string; logs: unknown[] } };
    expect(got.nodeRun).toMatchObject({ status: "IN_PROGRESS", logs: [{ level: "DEBUG", message: "at DEBUG" }, {}, {}, {}] });
  });

  test("a node run never declared is 404 on every route, and a node run id is no action run", async () => {
    const { send, token, state } = setup();
    const t = await token();
    expect((await send("GET", "/v1/workflows/nodes/runs/wfnr_ghost", undefined, t)).status).toBe(404);
    expect((await send("PATCH", "/v1/workflows/nodes/runs/wfnr_ghost", { status: "COMPLETED", result: "SUCCESS" }, t)).status).toBe(404);
    expect((await send("POST", "/v1/workflows/nodes/runs/wfnr_ghost/logs", { logs: [{ level: "INFO", message: "x" }] }, t)).status).toBe(404);
    state.declareRun("wfnr_1");
    // Port's action run and entity endpoints take action run ids; a node run's is not one.
    expect((await send("PATCH", "/v1/actions/runs/wfnr_1", { status: "SUCCESS" }, t)).status).toBe(404);
    expect((await send("POST", "/v1/blueprints/service/entities?upsert=true&run_id=wfnr_1", { identifier: "svc" }, t)).status).toBe(404);
    expect(state.callsFor("wfnr_1").map((c) => c.endpoint)).toEqual(["patchRun", "upsertEntity"]);
  });
});

describe("port emulator: inspection", () => {
  test("GET of a run shows its logs and linked entities; GET /emulator/runs lists runs newest first", async () => {
    const { send, token, advance } = setup();
    const t = await token();
    await send("POST", "/v1/actions/runs/r_1/logs", { message: "deploying" }, t);
    await send("POST", "/v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_1", { identifier: "svc-1" }, t);
    await send("PATCH", "/v1/actions/runs/r_1", { status: "SUCCESS", summary: "done" }, t);
    advance(1_000);
    await send("POST", "/emulator/runs", { id: "r_later" });

    const run = (await (await send("GET", "/v1/actions/runs/r_1", undefined, t)).json()) as { run: Record<string, unknown> };
    expect(run.run).toMatchObject({
      id: "r_1",
      status: "SUCCESS",
      summary: "done",
      logs: [{ message: "deploying", createdAt: expect.any(String) }],
      linkedEntities: [{ blueprint: "service", identifier: "svc-1" }],
    });
    const list = (await (await send("GET", "/emulator/runs?limit=2")).json()) as { total: number; runs: { id: string }[] };
    expect(list.total).toBe(4);
    expect(list.runs.map((r) => r.id)).toEqual(["r_later", "r_1"]);
  });
});

describe("port emulator: logs", () => {
  test("message is required; logs answer 201", async () => {
    const { send, token, state } = setup();
    const t = await token();
    expect((await send("POST", "/v1/actions/runs/r_1/logs", { statusLabel: "x" }, t)).status).toBe(422);
    const ok = await send("POST", "/v1/actions/runs/r_1/logs", { message: "hello" }, t);
    expect(ok.status).toBe(201);
    expect(state.logsFor("r_1")).toEqual(["hello"]);
  });

  test("terminationStatus is accepted once; the run is frozen afterwards", async () => {
    const { send, token, state } = setup();
    const t = await token();
    expect((await send("POST", "/v1/actions/runs/r_1/logs", { message: "bye", terminationStatus: "FAILURE" }, t)).status).toBe(201);
    expect(state.terminalStatus("r_1")).toBe("FAILURE");
    expect((await send("POST", "/v1/actions/runs/r_1/logs", { message: "again", terminationStatus: "SUCCESS" }, t)).status).toBe(422);
    expect((await send("POST", "/v1/actions/runs/r_1/logs", { message: "late" }, t)).status).toBe(422);
    expect((await send("PATCH", "/v1/actions/runs/r_1", { status: "SUCCESS" }, t)).status).toBe(422);
    expect(state.logsFor("r_1")).toEqual(["bye"]);
  });
});

describe("port emulator: entities", () => {
  const entity = { identifier: "svc-1", title: "Service 1", properties: { version: "1.0", owner: "a" } };

  test("upsert links to an IN_PROGRESS run; refused after termination", async () => {
    const { send, token, state } = setup();
    const t = await token();
    const linked = await send("POST", "/v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_1", entity, t);
    expect(linked.status).toBe(201);
    expect(state.runs.get("r_1")?.linkedEntities).toEqual([{ blueprint: "service", identifier: "svc-1" }]);

    await send("PATCH", "/v1/actions/runs/r_1", { status: "SUCCESS" }, t);
    const late = await send("POST", "/v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_1", entity, t);
    expect(late.status).toBe(422);
    expect(await late.json()).toMatchObject({ ok: false, error: "run_not_in_progress" });
    expect(state.runs.get("r_1")?.linkedEntities).toHaveLength(1);
  });

  test("merge keeps existing properties; without upsert an existing identifier is a conflict", async () => {
    const { send, token, state } = setup();
    const t = await token();
    await send("POST", "/v1/blueprints/service/entities?upsert=true&merge=true", entity, t);
    await send("POST", "/v1/blueprints/service/entities?upsert=true&merge=true", { identifier: "svc-1", properties: { version: "2.0" } }, t);
    expect(state.entity("service", "svc-1")?.properties).toEqual({ version: "2.0", owner: "a" });
    expect(state.entity("service", "svc-1")?.title).toBe("Service 1");

    await send("POST", "/v1/blueprints/service/entities?upsert=true", { identifier: "svc-1", properties: { version: "3.0" } }, t);
    expect(state.entity("service", "svc-1")?.properties).toEqual({ version: "3.0" });
    expect((await send("POST", "/v1/blueprints/service/entities", entity, t)).status).toBe(409);
  });

  test("unknown entity keys and a missing identifier are refused", async () => {
    const { send, token } = setup();
    const t = await token();
    expect((await send("POST", "/v1/blueprints/service/entities?upsert=true", { identifier: "a", colour: 1 }, t)).status).toBe(422);
    expect((await send("POST", "/v1/blueprints/service/entities?upsert=true", { title: "no id" }, t)).status).toBe(422);
  });
});

describe("port emulator: entity identifiers and blueprints", () => {
  const upsert = "/v1/blueprints/service/entities?upsert=true&merge=true";

  test("identifiers follow Port's pattern (letters of any script) and are at most 1000 characters", async () => {
    const { send, token } = setup();
    const t = await token();
    for (const ok of ["svc-1", "ünïcode-名前", "a@b.c+d:e/f=g_h", "x".repeat(1000), "..."]) {
      expect((await send("POST", upsert, { identifier: ok }, t)).status).toBe(201);
    }
    for (const bad of [".", "..", "has space", "semi;colon", "x".repeat(1001), "emoji-😀"]) {
      const res = await send("POST", upsert, { identifier: bad }, t);
      expect(res.status).toBe(422);
      expect(((await res.json()) as { message: string }).message).toContain("/body/identifier");
    }
  });

  test("a declared blueprint refuses unknown and mistyped properties and relations (422)", async () => {
    const { send, token, state } = setup();
    const t = await token();
    state.declareBlueprint({
      identifier: "service",
      properties: { version: { type: "string" }, replicas: { type: "number" }, tags: { type: "array" } },
      relations: { team: { target: "team", many: false }, deps: { target: "service", many: true } },
    });
    state.declareBlueprint({ identifier: "team" });
    expect((await send("POST", "/v1/blueprints/team/entities?upsert=true", { identifier: "payments" }, t)).status).toBe(201);
    const good = { identifier: "svc", properties: { version: "1", replicas: 2, tags: [], owner: undefined }, relations: { team: "payments", deps: [] } };
    expect((await send("POST", upsert, good, t)).status).toBe(201);
    for (const [body, words] of [
      [{ identifier: "svc", properties: { colour: "red" } }, 'property "colour" does not exist'],
      [{ identifier: "svc", properties: { replicas: "two" } }, 'property "replicas" of blueprint "service" must be of type number'],
      [{ identifier: "svc", relations: { owner: "x" } }, 'relation "owner" does not exist'],
      [{ identifier: "svc", relations: { deps: "svc" } }, 'relation "deps" of blueprint "service" must be an array'],
      [{ identifier: "svc", relations: { team: ["payments"] } }, 'relation "team" of blueprint "service" must be an entity identifier'],
    ] as const) {
      const res = await send("POST", upsert, body, t);
      expect(res.status).toBe(422);
      expect(((await res.json()) as { message: string }).message).toContain(words);
    }
    expect((await send("POST", upsert, { identifier: "svc", properties: { version: null } }, t)).status).toBe(201);
  });

  test("related entities must exist unless create_missing_related_entities=true", async () => {
    const { send, token, state } = setup();
    const t = await token();
    state.declareBlueprint({ identifier: "service", relations: { team: { target: "team" } } });
    state.declareBlueprint({ identifier: "team" });
    const body = { identifier: "svc", relations: { team: "platform" } };
    const missing = await send("POST", upsert, body, t);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { message: string }).message).toContain('Related entity "platform" of blueprint "team" was not found');
    expect(state.entity("service", "svc")).toBeUndefined();
    expect((await send("POST", `${upsert}&create_missing_related_entities=true`, body, t)).status).toBe(201);
    expect(state.entity("team", "platform")).toMatchObject({ identifier: "platform", blueprint: "team" });
  });

  test("once any blueprint is declared (or strictBlueprints), a write to an undeclared one is 404", async () => {
    const lenient = setup();
    expect((await lenient.send("POST", upsert, { identifier: "a" }, await lenient.token())).status).toBe(201);
    lenient.state.declareBlueprint({ identifier: "team" });
    const res = await lenient.send("POST", upsert, { identifier: "b" }, await lenient.token());
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ ok: false, error: "not_found" });

    const strict = setup({ strictBlueprints: true });
    expect((await strict.send("POST", upsert, { identifier: "a" }, await strict.token())).status).toBe(404);
  });
});

describe("port emulator: entity PATCH, DELETE and bulk", () => {
  const base = "/v1/blueprints/service/entities";

  test("PATCH merges properties and relations, may rename, links with run_id; a missing entity is 404", async () => {
    const { send, token, state } = setup();
    const t = await token();
    await send("POST", `${base}?upsert=true`, { identifier: "svc", title: "Svc", properties: { a: 1, b: 2 } }, t);
    const res = await send("PATCH", `${base}/svc?run_id=r_1`, { properties: { b: 3 }, title: null }, t);
    expect(res.status).toBe(200);
    expect(state.entity("service", "svc")).toMatchObject({ title: null, properties: { a: 1, b: 3 } });
    expect((await send("PATCH", `${base}/svc`, { identifier: "svc-2" }, t)).status).toBe(200);
    expect(state.entity("service", "svc")).toBeUndefined();
    expect(state.entity("service", "svc-2")?.properties).toEqual({ a: 1, b: 3 });
    expect(state.runs.get("r_1")?.linkedEntities).toEqual([{ blueprint: "service", identifier: "svc", operation: "UPDATE" }]);
    expect((await send("PATCH", `${base}/nothing`, { title: "x" }, t)).status).toBe(404);
    expect((await send("PATCH", `${base}/svc-2`, { colour: "x" }, t)).status).toBe(422);
    expect((await send("PATCH", `${base}/svc-2?run_id=r_ghost`, { title: "x" }, t)).status).toBe(404);
  });

  test("DELETE: 404 for a missing entity; dependents refuse it unless delete_dependents=true, which deletes them too", async () => {
    const { send, token, state } = setup();
    const t = await token();
    await send("POST", "/v1/blueprints/team/entities?upsert=true", { identifier: "payments" }, t);
    await send("POST", `${base}?upsert=true`, { identifier: "svc", relations: { team: "payments" } }, t);
    expect((await send("DELETE", `${base}/nothing`, undefined, t)).status).toBe(404);
    const refusedDelete = await send("DELETE", "/v1/blueprints/team/entities/payments?delete_dependents=false&run_id=r_1", undefined, t);
    expect(refusedDelete.status).toBe(422);
    expect(await refusedDelete.json()).toMatchObject({ ok: false, error: "has_dependents" });
    expect((await send("DELETE", "/v1/blueprints/team/entities/payments?delete_dependents=true&run_id=r_1", undefined, t)).status).toBe(200);
    expect(state.entity("team", "payments")).toBeUndefined();
    expect(state.entity("service", "svc")).toBeUndefined();
    expect(state.runs.get("r_1")?.linkedEntities).toEqual([{ blueprint: "team", identifier: "payments", operation: "DELETE" }]);
  });

  test("bulk: 1 to 20 entities; 200 when all are taken, 207 with errors[] naming the refused ones", async () => {
    const { send, token, state } = setup();
    const t = await token();
    state.declareBlueprint({ identifier: "service", properties: { version: { type: "string" } } });
    const all = await send("POST", `${base}/bulk?upsert=true&merge=true&run_id=r_1`, { entities: [{ identifier: "a" }, { identifier: "b" }] }, t);
    expect(all.status).toBe(200);
    expect(await all.json()).toMatchObject({
      ok: true,
      errors: [],
      entities: [
        { identifier: "a", index: 0, created: true },
        { identifier: "b", index: 1 },
      ],
    });
    const some = await send(
      "POST",
      `${base}/bulk?upsert=true&merge=true&run_id=r_1`,
      { entities: [{ identifier: "a", properties: { version: "2" } }, { identifier: "c", properties: { version: 2 } }, { identifier: ".." }] },
      t,
    );
    expect(some.status).toBe(207);
    const body = (await some.json()) as { entities: unknown[]; errors: Record<string, unknown>[] };
    expect(body.entities).toEqual([{ identifier: "a", index: 0, created: false }]);
    expect(body.errors).toMatchObject([
      { identifier: "c", index: 1, statusCode: 422, error: "invalid_request" },
      { identifier: "..", index: 2, statusCode: 422, error: "invalid_request" },
    ]);
    expect(state.entity("service", "a")?.properties).toEqual({ version: "2" });
    expect(state.entity("service", "c")).toBeUndefined();
    expect(state.runs.get("r_1")?.linkedEntities.map((e) => e.identifier)).toEqual(["a", "b", "a"]);
    for (const bad of [{ entities: [] }, { entities: Array.from({ length: 21 }, (_, i) => ({ identifier: `e${i}` })) }, { items: [] }]) {
      expect((await send("POST", `${base}/bulk?upsert=true`, bad, t)).status).toBe(422);
    }
    expect((await send("POST", "/v1/blueprints/nope/entities/bulk?upsert=true", { entities: [{ identifier: "x" }] }, t)).status).toBe(404);
    expect(state.counts()).toMatchObject({ upsertEntities: 6 });
  });
});

describe("port emulator: faults, limits, labelling, records", () => {
  test("failNext answers the next N calls with the status, then recovers", async () => {
    const { send, token, state } = setup();
    const t = await token();
    state.failNext(2, 503);
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, t)).status).toBe(503);
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, t)).status).toBe(503);
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, t)).status).toBe(200);
  });

  test("faults can target one endpoint", async () => {
    const { send, token, state } = setup();
    const t = await token();
    state.failNext(1, 500, { endpoint: "postLog" });
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, t)).status).toBe(200);
    expect((await send("POST", "/v1/actions/runs/r_1/logs", { message: "x" }, t)).status).toBe(500);
  });

  test("rateLimitNext answers 429 with Retry-After and rate-limit headers", async () => {
    const { send, token, state } = setup();
    const t = await token();
    state.rateLimitNext(1, 7);
    const res = await send("PATCH", "/v1/actions/runs/r_1", { status: "SUCCESS" }, t);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(res.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(Number(res.headers.get("x-ratelimit-reset"))).toBeGreaterThan(1_700_000_000);
    expect(state.terminalStatus("r_1")).toBeUndefined();
  });

  test("every answer carries the organisation's budget in x-ratelimit-* headers, errors included", async () => {
    const { send, token, state } = setup();
    state.rateLimit = { limit: 10, periodS: 60 };
    const t = await token();
    const ok = await send("GET", "/v1/actions/runs/r_1", undefined, t);
    const missing = await send("GET", "/v1/actions/runs/r_none", undefined, t);
    const unauthorised = await send("GET", "/v1/actions/runs/r_1");
    const windowEndS = Math.ceil((Math.floor(1_700_000_000_000 / 60_000) + 1) * 60);
    for (const [res, remaining] of [
      [ok, "8"],
      [missing, "7"],
      [unauthorised, "6"],
    ] as const) {
      expect(res.headers.get("x-ratelimit-limit")).toBe("10");
      expect(res.headers.get("x-ratelimit-period")).toBe("60");
      expect(res.headers.get("x-ratelimit-remaining")).toBe(remaining);
      expect(res.headers.get("x-ratelimit-reset")).toBe(String(windowEndS));
    }
    state.rateLimit = { limit: 10, periodS: 60, resetAs: "seconds" };
    const relative = await send("GET", "/v1/actions/runs/r_1", undefined, t);
    expect(relative.headers.get("x-ratelimit-reset")).toBe(String(windowEndS - 1_700_000_000));
  });

  test("over the budget, calls are answered slowly (throttle, the default) or refused with 429", async () => {
    const waits: number[] = [];
    const { send, token, state, advance } = setup({ sleep: async (ms) => void waits.push(ms) });
    const t = await token();
    state.rateLimit = { limit: 2, periodS: 60, throttleMs: 750 };
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, t)).status).toBe(200);
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, t)).status).toBe(200);
    expect(waits).toEqual([]);
    const slow = await send("GET", "/v1/actions/runs/r_1", undefined, t);
    expect(slow.status).toBe(200);
    expect(slow.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(waits).toEqual([750]);

    state.rateLimit = { limit: 2, periodS: 60, whenExceeded: "refuse" };
    const refused = await send("GET", "/v1/actions/runs/r_1", undefined, t);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    advance(60_000); // the next window
    expect((await send("GET", "/v1/actions/runs/r_1", undefined, t)).status).toBe(200);
  });

  test("refuseFor: every call in the window is 429, Retry-After the seconds left; then it recovers", async () => {
    const { send, token, state, advance } = setup();
    const t = await token();
    state.refuseFor(30_000);
    const first = await send("POST", "/v1/auth/access_token", CREDENTIALS);
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("30");
    expect(first.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(first.headers.get("x-ratelimit-reset")).toBe(String(1_700_000_030));
    advance(20_000);
    const later = await send("PATCH", "/v1/actions/runs/r_1", { status: "SUCCESS" }, t);
    expect(later.status).toBe(429);
    expect(later.headers.get("retry-after")).toBe("10");
    expect(state.terminalStatus("r_1")).toBeUndefined();
    advance(10_000);
    expect((await send("PATCH", "/v1/actions/runs/r_1", { status: "SUCCESS" }, t)).status).toBe(200);
  });

  test("latency is added through the injected sleep", async () => {
    const waits: number[] = [];
    const { send, state } = setup({ sleep: async (ms) => void waits.push(ms) });
    state.latencyMs = 250;
    await send("POST", "/v1/auth/access_token", CREDENTIALS);
    expect(waits).toEqual([250]);
  });

  test("bodies over 1 MiB get 413", async () => {
    const { send, token } = setup();
    const res = await send("POST", "/v1/actions/runs/r_1/logs", { message: "x".repeat(1024 * 1024) }, await token());
    expect(res.status).toBe(413);
  });

  test("every answer is labelled as the emulator, errors included", async () => {
    const lines: string[] = [];
    const { send, token } = setup({ log: (line) => lines.push(line) });
    const t = await token();
    for (const res of [
      await send("GET", "/v1/actions/runs/r_1", undefined, t),
      await send("GET", "/v1/actions/runs/r_1"),
      await send("GET", "/v1/nothing", undefined, t),
    ]) {
      expect(res.headers.get("x-port-emulator")).toBe("true");
    }
    expect(lines.every((line) => line.startsWith("[port-emulator]"))).toBe(true);
  });

  test("records calls in order with inspection helpers", async () => {
    const { send, token, state } = setup();
    const t = await token();
    await send("POST", "/v1/actions/runs/r_1/logs", { message: "a" }, t);
    await send("POST", "/v1/blueprints/svc/entities?upsert=true&merge=true&run_id=r_1", { identifier: "e" }, t);
    await send("PATCH", "/v1/actions/runs/r_1", { status: "SUCCESS" }, t);
    await send("PATCH", "/v1/actions/runs/r_2", { status: "FAILURE" }, t);
    expect(state.callsFor("r_1").map((c) => c.endpoint)).toEqual(["postLog", "upsertEntity", "patchRun"]);
    expect(state.callsFor("r_1")[1]?.query).toEqual({ upsert: "true", merge: "true", run_id: "r_1" });
    expect(state.counts()).toMatchObject({ token: 1, postLog: 1, upsertEntity: 1, patchRun: 2 });
    expect(state.count("patchRun")).toBe(2);
    expect(state.terminalStatus("r_2")).toBe("FAILURE");
  });
});
