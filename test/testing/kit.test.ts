import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { defineActions, portInputs } from "portside/actions";
import { defineHandlers } from "portside/handlers";
import { eventBridge } from "portside/eventbridge";
import { InvokeError, invoke } from "portside/testing";

/**
 * `portside/testing`'s `invoke`: one handler run through the pipeline (ingest → memory ledger → executor →
 * reporter) against an in-process Port emulator, and what the emulator recorded as the answer. The same
 * checks as in production apply: inputs against the module's `actions`, secret inputs decrypted and
 * redacted, handler results checked.
 */
const SECRET = "pw-Zq8vKx3rTn5wYh7m";

const actions = defineActions({
  deploy: {
    operation: "DAY-2",
    blueprint: "microservice",
    invocation: "KAFKA",
    inputs: v.object({
      version: v.pipe(v.string(), v.regex(/^\d+\.\d+\.\d+$/)),
      replicas: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
      token: v.optional(portInputs.secret(v.string())),
    }),
  },
  rotate: {
    operation: "DAY-2",
    blueprint: "database",
    invocation: "KAFKA",
    inputs: v.object({ credentials: portInputs.secret(v.object({ user: v.string(), password: v.string() })) }),
  },
});

describe("invoke", () => {
  test("a typed module's handler sees its inputs as the schema gives them, and the run's operation and blueprint come from its action", async () => {
    const seen: unknown[] = [];
    const handlers = defineHandlers({
      actions,
      runs: {
        deploy: async (run) => {
          seen.push({ inputs: JSON.parse(JSON.stringify(run.inputs)), operation: run.operation, blueprint: run.blueprint, entity: run.entity });
          return { summary: `deployed ${run.inputs.version} x${run.inputs.replicas ?? 1}` };
        },
      },
    });
    const result = await invoke(handlers, "deploy", { inputs: { version: "1.2.3", replicas: 2 }, entity: "checkout" });
    expect(result).toMatchObject({ status: "SUCCESS", summary: "deployed 1.2.3 x2", logs: [], entities: [] });
    expect(seen).toEqual([
      {
        inputs: { version: "1.2.3", replicas: 2 },
        operation: "DAY-2",
        blueprint: "microservice",
        entity: { identifier: "checkout", blueprint: "microservice", properties: {} },
      },
    ]);
  });

  test("a typed module with inputs that do not match: FAILURE naming the field and the rule, the handler never starts, the value nowhere in the result", async () => {
    let started = 0;
    const handlers = defineHandlers({ actions, runs: { deploy: async () => void started++ } });
    const result = await invoke(handlers, "deploy", { inputs: { version: SECRET, replicas: 0 } });
    expect(result.status).toBe("FAILURE");
    expect(result.summary).toBe(
      'The inputs of "deploy" do not match its definition in Port (the handler module\'s actions): inputs.version: must match /^\\d+\\.\\d+\\.\\d+$/; inputs.replicas: must be >=1',
    );
    expect(started).toBe(0);
    expect(JSON.stringify(result)).not.toContain(SECRET);
  });

  test("secretInputs: encrypted as Port would, decrypted for the handler, redacted in everything it sends — logs, summary, entities — and in every call to the emulator", async () => {
    const clear: unknown[] = [];
    const handlers = defineHandlers({
      runs: {
        login: async (run) => {
          clear.push(run.inputs.token);
          await run.log(`inputs: ${JSON.stringify(run.inputs)}`);
          await run.upsertEntity("session", { identifier: "s-1", properties: { token: String(run.inputs.token) } });
          return { summary: `logged in with ${run.inputs.token}` };
        },
      },
    });
    const result = await invoke(handlers, "login", { inputs: { token: SECRET, user: "lee" }, secretInputs: ["token"] });
    expect(clear).toEqual([SECRET]);
    expect(result).toMatchObject({
      status: "SUCCESS",
      summary: "logged in with [secret input token]",
      logs: ['inputs: {"token":"[secret input token]","user":"lee"}'],
      entities: [{ blueprint: "session", identifier: "s-1", properties: { token: "[secret input token]" } }],
    });
    for (const text of [JSON.stringify(result.logs), JSON.stringify(result.calls), JSON.stringify(result.run), JSON.stringify(result)]) {
      expect(text).not.toContain(SECRET);
    }
  });

  test("a typed module's secret inputs (portInputs.secret) are encrypted without being named: the handler reveals them, Port never sees them; an object input comes back an object", async () => {
    const revealed: unknown[] = [];
    const handlers = defineHandlers({
      actions,
      runs: {
        deploy: async (run) => {
          revealed.push(run.inputs.token?.reveal());
          await run.log(`inputs: ${JSON.stringify(run.inputs)}; token ${run.inputs.token?.reveal()}`);
        },
        rotate: async (run) => {
          revealed.push(run.inputs.credentials.reveal());
          await run.log(`rotating for ${run.inputs.credentials.reveal().user} with ${run.inputs.credentials.reveal().password}`);
        },
      },
    });
    const deploy = await invoke(handlers, "deploy", { inputs: { version: "1.0.0", token: SECRET } });
    expect(deploy.logs).toEqual(['inputs: {"version":"1.0.0","token":"[redacted]"}; token [secret input token]']);
    const rotate = await invoke(handlers, "rotate", { inputs: { credentials: { user: "app", password: SECRET } } });
    // Every leaf of an object input is secret, its user name too.
    expect(rotate).toMatchObject({ status: "SUCCESS", logs: ["rotating for [secret input credentials] with [secret input credentials]"] });
    expect(revealed).toEqual([SECRET, { user: "app", password: SECRET }]);
    expect(JSON.stringify([deploy, rotate])).not.toContain(SECRET);
  });

  test("a handler that throws: FAILURE with its message; an invalid result: FAILURE naming the field", async () => {
    const handlers = defineHandlers({
      runs: {
        broken: async (run) => {
          await run.log("starting");
          throw new Error("the cluster said no");
        },
        typo: async () => ({ status: "FAILED" }) as never,
      },
    });
    expect(await invoke(handlers, "broken")).toMatchObject({
      status: "FAILURE",
      summary: 'Handler for "broken" failed: the cluster said no',
      logs: ["starting"],
    });
    const typo = await invoke(handlers, "typo");
    expect(typo.status).toBe("FAILURE");
    expect(typo.summary).toStartWith('Handler for "typo" returned an invalid result: status:');
  });

  test("entity writes of every kind, to blueprints the emulator was never told of, in the order written, with operation, properties and relations", async () => {
    const handlers = defineHandlers({
      runs: {
        tidy: async (run) => {
          await run.upsertEntity("bucket", { identifier: "b-1", title: "B1", properties: { size: 1 }, relations: { owner: "team-a" } });
          await run.updateEntity("bucket", "b-1", { properties: { size: 2 } });
          await run.upsertEntities("file", [{ identifier: "f-1" }, { identifier: "f-2" }]);
          await run.deleteEntity("file", "f-2");
          return {
            summary: `on ${run.entity?.identifier} (${String(run.entity?.properties?.tier)}) for ${run.user.email}`,
            externalRunId: "ext-1",
            link: ["https://a.example", "https://b.example"],
          };
        },
      },
    });
    const result = await invoke(handlers, "tidy", {
      entity: { identifier: "store-1", blueprint: "store", properties: { tier: "gold" } },
      user: "ops@example.com",
    });
    expect(result).toMatchObject({
      status: "SUCCESS",
      summary: "on store-1 (gold) for ops@example.com",
      externalRunId: "ext-1",
      link: ["https://a.example", "https://b.example"],
    });
    expect(result.entities).toEqual([
      { blueprint: "bucket", identifier: "b-1", title: "B1", properties: { size: 2 }, relations: { owner: "team-a" } },
      { blueprint: "bucket", identifier: "b-1", operation: "UPDATE", title: "B1", properties: { size: 2 }, relations: { owner: "team-a" } },
      { blueprint: "file", identifier: "f-1", properties: {}, relations: {} },
      { blueprint: "file", identifier: "f-2" },
      { blueprint: "file", identifier: "f-2", operation: "DELETE" },
    ]);
    expect(result.run).toMatchObject({ id: result.runId, status: "SUCCESS" });
  });

  test("an action without a handler, or routed to a target: InvokeError saying so, nothing run", async () => {
    const handlers = defineHandlers({ runs: { deploy: async () => {}, publish: eventBridge() } });
    const missing = invoke(handlers, "deplyo");
    await expect(missing).rejects.toThrow(InvokeError);
    await expect(missing).rejects.toThrow(
      'no handler for action "deplyo" in the handler module (it has "deploy", "publish"); add runs["deplyo"] or invoke one of those',
    );
    await expect(invoke(handlers, "publish")).rejects.toThrow(
      'action "publish" goes to a target (kind "eventbridge"), not to code in the handler module; invoke runs handlers only',
    );
    await expect(invoke({ runs: { deploy: "not a function" } } as never, "deploy")).rejects.toThrow(/default export \.runs\.deploy must be a function/);
    await expect(invoke(handlers, "deploy", { runId: "wfnr_1" })).rejects.toThrow('runId "wfnr_1" is not an action run id Port would issue');
  });

  test("invocations are independent: concurrent ones each get their own run, ledger and emulator; the run id can be given", async () => {
    const handlers = defineHandlers({
      runs: {
        echo: async (run) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          await run.log(`echo ${String(run.inputs.n)}`);
          return { summary: run.id };
        },
      },
    });
    const results = await Promise.all(Array.from({ length: 10 }, (_, n) => invoke(handlers, "echo", { inputs: { n }, runId: `r_echo_${n}` })));
    expect(results.map((r) => [r.summary, r.logs])).toEqual(Array.from({ length: 10 }, (_, n) => [`r_echo_${n}`, [`echo ${n}`]]));
    expect(results.every((r) => r.calls.every((call) => call.runId === undefined || call.runId === r.runId))).toBe(true);
  });

  test("fast enough for unit tests: the time per invoke, printed", async () => {
    const handlers = defineHandlers({
      runs: {
        deploy: async (run) => {
          await run.log("go");
          await run.upsertEntity("deployment", { identifier: "d-1" });
          return { summary: "done" };
        },
      },
    });
    await invoke(handlers, "deploy");
    const n = 100;
    const started = performance.now();
    for (let i = 0; i < n; i++) await invoke(handlers, "deploy");
    const ms = (performance.now() - started) / n;
    console.log(`invoke: ${ms.toFixed(1)} ms per call (${n} sequential, handler logging once and writing one entity)`);
    // A guard against a regression to something slow (a timer, a socket), not a benchmark.
    expect(ms).toBeLessThan(100);
  }, 30_000);
});
