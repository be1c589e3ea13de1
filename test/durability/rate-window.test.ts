import { afterEach, expect, test } from "bun:test";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";

/**
 * Port's rate limit is one budget for the organisation. Once a call meets a 429, every other call waits for
 * the pause to pass instead of being sent into the window and refused too; then one probe goes, then all.
 */
let h: Harness;
afterEach(async () => h?.stop());

test("a 429 window: after the first refusal nothing more is sent until it passes; then every report is delivered", async () => {
  h = await createHarness({
    handlers: {
      runs: {
        deploy: async (run) => {
          await run.log(`deploying ${run.id}`);
          return { summary: `done ${run.id}` };
        },
      },
    },
  });
  const state = h.emulator.state;
  await h.post("/sink/runs", JSON.stringify(runMessage("r_warm")));
  await h.waitForTerminal(["r_warm"]); // the token is fetched before the window

  state.refuseFor(2_000);
  const windowEndMs = state.refusingUntilMs;
  await h.post("/sink/runs", JSON.stringify(runMessage("r_first")));
  await h.waitUntil(() => state.calls.some((c) => c.status === 429), "the first call to meet the window");
  const ids = Array.from({ length: 40 }, (_, i) => `r_window_${i}`);
  await h.post("/sink/runs", ids.map((id) => JSON.stringify(runMessage(id))).join("\n"));
  await h.waitForTerminal(["r_first", ...ids], 20_000);

  const inWindow = state.calls.filter((c) => c.atMs >= windowEndMs - 2_000 && c.atMs < windowEndMs);
  expect(inWindow.map((c) => `${c.endpoint} ${c.status}`)).toEqual(["postLog 429"]);
  expect(state.calls.filter((c) => c.status === 429)).toHaveLength(1);
  for (const id of ["r_first", ...ids]) {
    expect(
      state
        .callsFor(id)
        .filter((c) => c.status < 300)
        .map((c) => c.endpoint),
    ).toEqual(["postLog", "patchRun"]);
    expect(state.runs.get(id)).toMatchObject({ status: "SUCCESS", summary: `done ${id}` });
  }
  expect(h.logs.filter((l) => l.includes('"port.rate.paused"'))).toHaveLength(1);
}, 30_000);
