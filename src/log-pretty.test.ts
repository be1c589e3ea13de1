import { describe, expect, test } from "bun:test";
import { createLogger } from "./log.ts";
import { prettyFormat } from "./log-pretty.ts";

/** LOG_FORMAT=pretty: the same lines as the JSON ones, for people; a run's dev lines as its story. */
describe("pretty log lines", () => {
  const lines: string[] = [];
  const logger = createLogger({
    now: () => Date.parse("2026-05-04T10:11:12.345Z"),
    sink: (line) => lines.push(line),
    format: prettyFormat({ color: false, quiet: ["run.started"] }),
  });

  test("time, level, event, message, then the other fields; errors as name and message; quiet events left out", () => {
    lines.length = 0;
    logger.warn("portside.open_mode", { message: "Started OPEN for local use" });
    logger.info("portside.listening", { url: "http://127.0.0.1:3000", actions: ["deploy"] });
    logger.error("process.unhandled_rejection", { error: new TypeError("bad thing") });
    logger.info("run.started", { runId: "r_1" });
    expect(lines).toEqual([
      "10:11:12 WARN  portside.open_mode  Started OPEN for local use",
      '10:11:12 INFO  portside.listening  url=http://127.0.0.1:3000 actions=["deploy"]',
      "10:11:12 ERROR process.unhandled_rejection  error=TypeError: bad thing",
    ]);
  });

  test("a run's lines: received, each log line (one per line of a message), entity, status with summary and time", () => {
    lines.length = 0;
    const run = { runId: "r_1a2b", action: "deploy" };
    logger.info("dev.run_received", { ...run, source: "sink/runs" });
    logger.info("dev.run_log", { ...run, message: "first\nsecond" });
    logger.info("dev.run_entity", { ...run, entity: "deployment/d-1" });
    logger.info("dev.run_ended", { ...run, status: "SUCCESS", summary: "Deployed", seconds: 0.0123 });
    logger.info("dev.run_ended", { ...run, status: "FAILURE", summary: "boom", seconds: 2.5 });
    expect(lines.join("\n").split("\n")).toEqual([
      "10:11:12 deploy r_1a2b  received from sink/runs",
      "10:11:12 deploy r_1a2b  log  first",
      "10:11:12 deploy r_1a2b  log  second",
      "10:11:12 deploy r_1a2b  entity  deployment/d-1",
      "10:11:12 deploy r_1a2b  SUCCESS  Deployed (12 ms)",
      "10:11:12 deploy r_1a2b  FAILURE  boom (2.5 s)",
    ]);
  });

  test("colours only when asked", () => {
    const coloured: string[] = [];
    createLogger({ sink: (line) => coloured.push(line), format: prettyFormat({ color: true }) }).info("dev.run_ended", {
      runId: "r_1",
      action: "deploy",
      status: "SUCCESS",
    });
    expect(coloured[0]).toContain("\u001b[32mSUCCESS\u001b[0m");
    expect(lines.join("")).not.toContain("\u001b[");
  });
});
