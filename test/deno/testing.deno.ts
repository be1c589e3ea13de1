import { expect, test } from "bun:test";
import * as v from "valibot";
import { defineActions } from "portside/actions";
import { defineHandlers } from "portside/handlers";
import { invoke } from "portside/testing";
import examples from "../../src/examples/handlers.ts";

/**
 * `portside/testing` under `deno test` (bun:test mapped to Deno's runner by import-map.json; started and read
 * by test/deno/deno-testing.test.ts): the example handlers, a secret input and a typed module's input check.
 */
test("on Deno: invoke runs the example deploy handler through the pipeline", async () => {
  expect("Deno" in globalThis).toBe(true);
  const result = await invoke(examples, "deploy", { inputs: { version: "1.2.3" }, entity: "checkout", runId: "r_deno_kit" });
  expect(result).toMatchObject({
    status: "SUCCESS",
    summary: "Deployed checkout 1.2.3 to staging",
    link: "https://ci.example.com/deployments/r_deno_kit",
    logs: ["Deploying checkout 1.2.3 to staging", "Deployment of checkout 1.2.3 finished"],
    entities: [{ blueprint: "deployment", identifier: "checkout-1-2-3-staging", properties: { version: "1.2.3", environment: "staging" } }],
  });
});

test("on Deno: a secret input is decrypted for the handler and redacted in what reaches Port", async () => {
  const secret = "deno-Hq7wXv2pLm9sTb4k";
  const handlers = defineHandlers({ runs: { login: async (run) => void (await run.log(`inputs ${JSON.stringify(run.inputs)}`)) } });
  const result = await invoke(handlers, "login", { inputs: { token: secret }, secretInputs: ["token"] });
  expect(result.logs).toEqual(['inputs {"token":"[secret input token]"}']);
  expect(JSON.stringify(result)).not.toContain(secret);
});

test("on Deno: a typed module's inputs are checked before the handler starts", async () => {
  const actions = defineActions({ deploy: { operation: "DAY-2", blueprint: "microservice", invocation: "KAFKA", inputs: v.object({ version: v.string() }) } });
  const handlers = defineHandlers({ actions, runs: { deploy: async () => {} } });
  const result = await invoke(handlers, "deploy", { inputs: { version: 7 } as never });
  expect(result).toMatchObject({ status: "FAILURE", summary: expect.stringContaining("inputs.version: expected a string, got a number") });
});
