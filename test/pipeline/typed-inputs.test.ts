import { afterEach, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { defineActions, portInputs } from "../../src/actions/index.ts";
import { defineHandlers } from "../../src/targets/define.ts";
import { createHarness, type Harness, runMessage } from "../support/harness.ts";

/**
 * A handler module typed by its actions (what `actions pull` generates): a run's inputs are checked against
 * the action's definition before the handler starts — a FAILURE naming the field and the rule when they do
 * not match, the value nowhere — and the handler sees the schema's output (secret inputs wrapped).
 */
const SECRET_VALUE = "hunter2-must-not-travel";

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
  passthrough: { operation: "CREATE", blueprint: null, invocation: "WEBHOOK", inputs: null },
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe("inputs checked against the action's definition", () => {
  test("matching inputs reach the handler as the schema gives them: typed, unknown keys dropped, a secret input printing [redacted]", async () => {
    const seen: unknown[] = [];
    const handlers = defineHandlers({
      actions,
      runs: {
        deploy: async (run) => {
          seen.push(JSON.parse(JSON.stringify(run.inputs)), run.inputs.token?.reveal(), `${run.inputs.token}`);
          await run.log(`inputs: ${JSON.stringify(run.inputs)}`);
          return { summary: `deployed ${run.inputs.version}` };
        },
      },
    });
    h = await createHarness({ handlers });
    h.emulator.state.declareRun("r_typed_ok");
    await h.post(
      "/sink/runs",
      JSON.stringify(runMessage("r_typed_ok", "deploy", { inputs: { version: "1.2.3", replicas: 2, token: SECRET_VALUE, extra: "x" } })),
    );
    await h.waitForTerminal(["r_typed_ok"]);
    expect(h.emulator.state.runs.get("r_typed_ok")).toMatchObject({ status: "SUCCESS", summary: "deployed 1.2.3" });
    expect(seen).toEqual([{ version: "1.2.3", replicas: 2, token: "[redacted]" }, SECRET_VALUE, "[redacted]"]);
    expect(JSON.stringify(h.emulator.state.calls)).not.toContain(SECRET_VALUE);
  });

  test("inputs that do not match: FAILURE naming each field and its rule, the handler never starts, the values nowhere", async () => {
    let started = 0;
    h = await createHarness({ handlers: defineHandlers({ actions, runs: { deploy: async () => void started++ } }) });
    h.emulator.state.declareRun("r_typed_bad");
    const inputs = { version: SECRET_VALUE, replicas: 0, token: 12345 };
    await h.post("/sink/runs", JSON.stringify(runMessage("r_typed_bad", "deploy", { inputs })));
    await h.waitForTerminal(["r_typed_bad"]);
    const run = h.emulator.state.runs.get("r_typed_bad");
    expect(run?.status).toBe("FAILURE");
    expect(run?.summary).toBe(
      'The inputs of "deploy" do not match its definition in Port (the handler module\'s actions): inputs.version: must match /^\\d+\\.\\d+\\.\\d+$/; inputs.replicas: must be >=1; inputs.token: expected a string, got a number',
    );
    expect(started).toBe(0);
    const story = JSON.stringify(await h.service.history.get("r_typed_bad"));
    for (const text of [JSON.stringify(h.emulator.state.calls), h.logs.join("\n"), story]) {
      expect(text).not.toContain(SECRET_VALUE);
      expect(text).not.toContain("12345");
    }
  });

  test("an action whose template does not pass the inputs through (inputs: null) is not checked", async () => {
    const got: unknown[] = [];
    h = await createHarness({ handlers: defineHandlers({ actions, runs: { passthrough: async (run) => void got.push(run.inputs) } }) });
    h.emulator.state.declareRun("r_typed_raw");
    await h.post("/sink/runs", JSON.stringify(runMessage("r_typed_raw", "passthrough", { inputs: { anything: [1, 2] } })));
    await h.waitForTerminal(["r_typed_raw"]);
    expect(got).toEqual([{ anything: [1, 2] }]);
  });
});
