import { afterEach, expect, test } from "bun:test";
import { ACTION_ID_MAX } from "../../src/messages/run-schemas.ts";
import { createHarness, type Harness, runMessage } from "../support/harness.ts";

/**
 * Action identifiers are bounded as Port bounds them: at most 100 characters of letters, digits and
 * `@_.:\/=-`. A run with anything else is parked, saying what was expected and how long the value was,
 * and the value itself appears in no log line, no reply and no call to Port.
 */
let h: Harness;
afterEach(() => h.stop());

const huge = `deploy_${"q".repeat(2 * 1024 * 1024)}`;

test("a 2 MB action id is parked; with UNHANDLED_RUNS=fail Port hears FAILURE, and the id is repeated nowhere", async () => {
  h = await createHarness({ env: { UNHANDLED_RUNS: "fail" }, handlers: { runs: { deploy: async () => ({ summary: "done" }) } } });
  const res = await h.post("/sink/runs", JSON.stringify(runMessage("r_huge_action", huge)));
  const reply = await res.text();
  expect(JSON.parse(reply)).toMatchObject({ records: 1, parked: 1, accepted: 0, ignored: 0 });
  await h.waitForTerminal(["r_huge_action"]);
  expect(h.emulator.state.terminalStatus("r_huge_action")).toBe("FAILURE");
  expect(h.emulator.state.runs.get("r_huge_action")?.summary).toContain(`at most ${ACTION_ID_MAX} characters), got one of 2,097,159 characters`);
  const [letter] = await h.ledger.listDeadLetters();
  expect(letter?.reason).toBe(
    "invalid legacy run: action: expected a Port action identifier (letters, digits and @_.:\\/=-, at most 100 characters), got one of 2,097,159 characters",
  );
  const everywhere = [reply, ...h.logs, JSON.stringify(h.emulator.state.calls), JSON.stringify(letter)].join("\n");
  expect(everywhere).not.toContain("q".repeat(100));
});

test("ignored or not: a run whose action id is too long or has other characters is parked, never left alone with it", async () => {
  h = await createHarness({ handlers: { runs: { ["x".repeat(ACTION_ID_MAX)]: async () => ({ summary: "longest" }) } } });
  const bodies = [
    runMessage("r_longest", "x".repeat(ACTION_ID_MAX)),
    runMessage("r_too_long", "x".repeat(ACTION_ID_MAX + 1)),
    runMessage("r_spaced", "deploy now"),
    runMessage("r_someone_elses", "their_action"),
  ];
  const res = await h.post("/sink/runs", bodies.map((b) => JSON.stringify(b)).join("\n"));
  expect(await res.json()).toMatchObject({ records: 4, accepted: 1, parked: 2, ignored: 1 });
  await h.waitForTerminal(["r_longest"]);
  expect(h.emulator.state.terminalStatus("r_longest")).toBe("SUCCESS");
  const letters = await h.ledger.listDeadLetters();
  expect(letters.map((l) => [l.runId, l.reason.replace(/^.*got /, "got ")])).toEqual([
    ["r_too_long", "got one of 101 characters"],
    ["r_spaced", "got one with other characters"],
  ]);
  // Not portside's to report (UNHANDLED_RUNS=ignore): parked only.
  expect(h.emulator.state.callsFor("r_too_long")).toEqual([]);
  expect(h.service.stats().ignoredBy).toEqual({ unhandled_action: 1 });
  expect(h.logs.filter((line) => line.includes('"ingest.unhandled_run"')).map((line) => JSON.parse(line).action)).toEqual(["their_action"]);
});
