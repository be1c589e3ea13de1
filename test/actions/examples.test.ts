import { afterEach, describe, expect, test } from "bun:test";
import handlers from "../../src/examples/handlers.ts";
import { createHarness, type Harness, runMessage } from "../support/harness.ts";
import { cli } from "./cli.ts";

/**
 * The example handlers are typed by a generated module, src/examples/port-actions.ts, written by
 * `npm run -s cli -- actions pull --open` from the example actions (src/examples/port-actions.json): it is up to
 * date with them, and the handlers' runs are checked against it before they start.
 */
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe("the example actions module", () => {
  test("the example module (src/examples/port-actions.ts) is what `actions pull --open` writes from the example actions", async () => {
    expect(await cli(["actions", "check", "--open", "--out", "src/examples/port-actions.ts"])).toEqual({
      code: 0,
      stdout:
        "src/examples/port-actions.ts matches Port's action definitions (4 action(s), from the local Port emulator (--open) loaded with src/examples/port-actions.json)\n",
      stderr: "",
    });
  }, 30_000);

  test("the example handlers take a deploy whose inputs match, and refuse one whose version is not x.y.z, naming the rule", async () => {
    h = await createHarness({ handlers });
    h.emulator.state.declareRun("r_example_ok");
    h.emulator.state.declareRun("r_example_bad");
    const post = (id: string, inputs: Record<string, unknown>) =>
      h?.post("/sink/runs", JSON.stringify(runMessage(id, "deploy", { entity: "checkout-service", inputs })));
    await post("r_example_ok", { version: "2.14.0", environment: "production" });
    await post("r_example_bad", { version: "latest-and-greatest", environment: "staging" });
    await h.waitForTerminal(["r_example_ok", "r_example_bad"]);
    expect(h.emulator.state.runs.get("r_example_ok")).toMatchObject({ status: "SUCCESS", summary: "Deployed checkout-service 2.14.0 to production" });
    expect(h.emulator.state.runs.get("r_example_bad")).toMatchObject({
      status: "FAILURE",
      summary: 'The inputs of "deploy" do not match its definition in Port (the handler module\'s actions): inputs.version: must match /^\\d+\\.\\d+\\.\\d+$/u',
    });
  });
});
