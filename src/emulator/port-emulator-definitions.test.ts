import { describe, expect, test } from "bun:test";
import examples from "../examples/port-actions.json" with { type: "json" };
import { createPortClient } from "../port/client.ts";
import { testRetryPolicy } from "../shared/retry.ts";
import { createPortEmulator } from "./port-emulator.ts";
import { declareAction, triggerAction } from "./port-emulator-actions.ts";
import { declareActions } from "./port-emulator-definitions.ts";

const CREDENTIALS = { clientId: "id-1", clientSecret: "secret-1" };

const form = (properties: Record<string, unknown>, required: string[] = []) => ({ properties, required });
const selfService = (operation: string, blueprintIdentifier: string | undefined, userInputs = form({})) => ({
  type: "self-service",
  operation,
  ...(blueprintIdentifier ? { blueprintIdentifier } : {}),
  userInputs,
});
const DEFINITIONS = [
  {
    identifier: "deploy",
    title: "Deploy",
    icon: "Deployment",
    trigger: selfService("DAY-2", "service", form({ version: { type: "string", pattern: "^\\d+$" } }, ["version"])),
    invocationMethod: { type: "KAFKA" },
    requiredApproval: false,
  },
  {
    identifier: "create_env",
    trigger: selfService("CREATE", "environment"),
    invocationMethod: { type: "WEBHOOK", url: "http://127.0.0.1:9/hook", body: { "{{ spreadValue() }}": "{{ .inputs }}" } },
  },
  { identifier: "open_pr", trigger: selfService("DAY-2", "service"), invocationMethod: { type: "GITHUB", org: "acme", repo: "r", workflow: "w.yml" } },
  {
    identifier: "nightly",
    trigger: { type: "automation", event: { type: "TIMER_PROPERTY_EXPIRED", blueprintIdentifier: "environment" } },
    invocationMethod: { type: "KAFKA" },
    publish: true,
  },
];

function setup() {
  const emulator = createPortEmulator(CREDENTIALS);
  declareActions(emulator.state, { ok: true, actions: DEFINITIONS });
  let token = "";
  const get = async (path: string) => {
    if (!token) {
      const res = await emulator.app.request("http://port.emulator/v1/auth/access_token", { method: "POST", body: JSON.stringify(CREDENTIALS) });
      token = ((await res.json()) as { accessToken: string }).accessToken;
    }
    const res = await emulator.app.request(`http://port.emulator${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { actions: { identifier: string }[] } };
  };
  const identifiers = async (query: string) => (await get(`/v1/actions?version=v2${query}`)).body.actions.map((a) => a.identifier);
  return { ...emulator, get, identifiers };
}

describe("port emulator: action definitions (GET /v1/actions)", () => {
  test("lists the definitions as declared, in declaration order; records the call as listActions", async () => {
    const { get, state } = setup();
    const { status, body } = await get("/v1/actions?version=v2");
    expect(status).toBe(200);
    expect(body).toEqual({ ok: true, actions: DEFINITIONS });
    expect(state.count("listActions")).toBe(1);
  });

  test("Port's filters: action_identifier and blueprint_identifier (repeatable), operation, trigger_type", async () => {
    const { identifiers } = setup();
    expect(await identifiers("&action_identifier=deploy&action_identifier=nightly&action_identifier=nope")).toEqual(["deploy", "nightly"]);
    expect(await identifiers("&blueprint_identifier=environment")).toEqual(["create_env", "nightly"]);
    expect(await identifiers("&operation=DAY-2")).toEqual(["deploy", "open_pr"]);
    expect(await identifiers("&trigger_type=automation")).toEqual(["nightly"]);
  });

  test("one definition by identifier; 404 for an unknown one; only version=v2 is served (422 otherwise)", async () => {
    const { get, state } = setup();
    expect(await get("/v1/actions/deploy?version=v2")).toEqual({ status: 200, body: { ok: true, action: DEFINITIONS[0] } as never });
    expect((await get("/v1/actions/nope?version=v2")).status).toBe(404);
    expect(state.count("getAction")).toBe(2);
    for (const path of ["/v1/actions", "/v1/actions?version=v1", "/v1/actions/deploy"]) {
      const { status, body } = await get(path);
      expect(status).toBe(422);
      expect(body.message).toContain("?version=v2");
    }
  });

  test("an action declared without Port's trigger is triggered as before but not listed; the shorthand blueprint goes where Port has it", async () => {
    const { state, identifiers, get } = setup();
    declareAction(state, { identifier: "quick", blueprint: "service", invocationMethod: { type: "WEBHOOK", url: "http://127.0.0.1:9/q", agent: true } });
    expect(triggerAction(state, Date.now, "quick", { properties: {} })?.action).toEqual({ identifier: "quick", blueprint: "service" });
    expect(await identifiers("")).not.toContain("quick");
    expect((await get("/v1/actions/quick?version=v2")).status).toBe(404);
    declareAction(state, {
      identifier: "short",
      blueprint: "service",
      trigger: { type: "self-service", operation: "DAY-2" },
      invocationMethod: { type: "KAFKA" },
    });
    expect((await get("/v1/actions/short?version=v2")).body.action).toEqual({
      identifier: "short",
      trigger: { type: "self-service", operation: "DAY-2", blueprintIdentifier: "service" },
      invocationMethod: { type: "KAFKA" },
    });
  });

  test("a declared definition's runs carry its blueprint; another invocation type's runs are created and sent nowhere", () => {
    const { state } = setup();
    expect(triggerAction(state, Date.now, "deploy", { properties: { version: "1" } })?.action).toEqual({
      identifier: "deploy",
      title: "Deploy",
      blueprint: "service",
    });
    expect(triggerAction(state, Date.now, "open_pr", { properties: {} })?.payload).toEqual({ type: "GITHUB" });
  });
});

describe("port emulator: a definitions file", () => {
  test("a list, or Port's answer {ok, actions}; a definition it cannot take is refused naming the action and the field", () => {
    const { state } = createPortEmulator();
    expect(declareActions(state, DEFINITIONS).map((a) => a.identifier)).toEqual(["deploy", "create_env", "open_pr", "nightly"]);
    expect(() => declareActions(state, [{ identifier: "bad", trigger: selfService("LATER", "x"), invocationMethod: { type: "KAFKA" } }])).toThrow(
      'action "bad": trigger.operation: expected one of "CREATE", "DAY-2", "DELETE", got a string',
    );
    expect(() =>
      declareActions(state, [{ identifier: "jq", invocationMethod: { type: "WEBHOOK", url: "http://x.test/", body: { v: "{{ .inputs | keys }}" } } }]),
    ).toThrow('action "jq": renders template paths only, not ".inputs | keys"');
    expect(() => declareActions(state, [{ trigger: selfService("CREATE", "x") }])).toThrow("action #1: identifier: required, but missing");
    expect(() => declareActions(state, { definitions: [] })).toThrow('expected a list of action definitions, or Port\'s answer {"actions": [...]}');
  });

  test("the example actions (src/examples/port-actions.json) load: the example handlers' and the demos'", () => {
    const { state } = createPortEmulator();
    expect(declareActions(state, examples).map((a) => a.identifier)).toEqual(["check_health", "create_vm", "deploy", "restart_service"]);
  });
});

describe("the Port client reads the definitions", () => {
  test("actionDefinitions: version=v2, only the identifiers asked for, each read by its schema; one call, listActions", async () => {
    const { app, state } = setup();
    const fetch = (input: string | URL | Request, init?: RequestInit) => Promise.resolve(app.fetch(new Request(input, init)));
    const client = createPortClient({ baseUrl: "http://port.emulator", ...CREDENTIALS, fetch, timeoutMs: 5_000, retry: testRetryPolicy });
    expect((await client.actionDefinitions()).map((d) => d.identifier)).toEqual(["deploy", "create_env", "open_pr", "nightly"]);
    const [deploy] = await client.actionDefinitions(["deploy"]);
    expect(deploy?.trigger).toEqual(DEFINITIONS[0]?.trigger as never);
    expect(client.calls.listActions).toBe(2);
    expect(state.calls.filter((c) => c.endpoint === "listActions").map((c) => c.query)).toEqual([
      { version: "v2" },
      { version: "v2", action_identifier: "deploy" },
    ]);
  });

  test("a definition portside cannot read is refused naming the action and the field", async () => {
    const { app, state } = setup();
    state.actions.set("odd", {
      identifier: "odd",
      invocationMethod: { type: "KAFKA" },
      definition: {
        identifier: "odd",
        trigger: { type: "self-service", operation: "DAY-2", userInputs: { properties: { x: { type: "text" } } } },
        invocationMethod: { type: "KAFKA" },
      },
    });
    const fetch = (input: string | URL | Request, init?: RequestInit) => Promise.resolve(app.fetch(new Request(input, init)));
    const client = createPortClient({ baseUrl: "http://port.emulator", ...CREDENTIALS, fetch, timeoutMs: 5_000, retry: testRetryPolicy });
    await expect(client.actionDefinitions()).rejects.toThrow(
      'Port\'s action definitions are not what portside reads: action "odd": trigger.userInputs.properties.x.type: expected one of "string", "number", "boolean", "object", "array", got a string',
    );
  });
});
