import { describe, expect, test } from "bun:test";
import { finalReports, runKind } from "./run-kinds.ts";

describe("run kinds", () => {
  test("wfnr_ ids are workflow node runs; everything else is an action run", () => {
    expect(runKind("wfnr_abc")).toBe("workflowNode");
    expect(runKind("r_abc")).toBe("action");
    expect(runKind("run_abc")).toBe("action");
    expect(runKind("xwfnr_abc")).toBe("action");
  });

  test("an action run's final patch is one update, as it is", () => {
    const patch = { status: "SUCCESS" as const, summary: "ok", link: ["a", "b"], externalRunId: "x", statusLabel: "done" };
    expect(finalReports("r_1", patch)).toEqual([{ runId: "r_1", call: { kind: "update", patch } }]);
  });

  test("a node run's summary, links and external id become log lines before its status; the label is left out", () => {
    const reports = finalReports("wfnr_1", {
      status: "FAILURE",
      summary: "broke",
      link: ["https://a", "https://b"],
      externalRunId: "ci-7",
      statusLabel: "Red",
    });
    expect(reports.map((r) => r.call)).toEqual([
      { kind: "log", message: "broke", level: "ERROR" },
      { kind: "log", message: "Link: https://a", level: "INFO" },
      { kind: "log", message: "Link: https://b", level: "INFO" },
      { kind: "log", message: "External run id: ci-7", level: "INFO" },
      { kind: "update", patch: { status: "FAILURE" } },
    ]);
    expect(finalReports("wfnr_1", { status: "SUCCESS", summary: "fine" }).map((r) => r.call)).toEqual([
      { kind: "log", message: "fine", level: "INFO" },
      { kind: "update", patch: { status: "SUCCESS" } },
    ]);
  });
});
