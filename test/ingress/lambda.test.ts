import { describe, expect, test } from "bun:test";
import { createRetention } from "../../src/entry/assemble.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { createLambdaIngress, type LambdaContext, LambdaEventError, type LambdaKafkaEvent } from "../../src/ingress/lambda.ts";
import { createLogger } from "../../src/log.ts";
import { toBase64 } from "../../src/shared/base64.ts";
import { createHarness, type Harness, ORG, runMessage } from "../support/harness.ts";
import { runIdsIn } from "../support/run-ids.ts";
import { ingressContract } from "./contract.ts";

/**
 * The Lambda entry's adapter over the service: one invocation of a Kafka event source is one batch; it
 * answers (the event source moves on) only after the ledger recorded it and its runs were reported, and
 * throws (the batch comes again) otherwise.
 */
const RUNS = `${ORG}.runs`;
const encoder = new TextEncoder();
const context = (remainingMs = 20_000): LambdaContext => {
  const deadline = Date.now() + remainingMs;
  return { awsRequestId: "req-test", getRemainingTimeInMillis: () => deadline - Date.now() };
};

let nextOffset = 0;
/** An event of one partition with these values; Port knows the runs in it, as it would have created them. */
function event(values: (string | null)[], topic = RUNS, eventSource: LambdaKafkaEvent["eventSource"] = "aws:kafka"): LambdaKafkaEvent {
  for (const id of runIdsIn(values.filter((v) => v !== null).join("\n"))) emulator?.state.declareRun(id);
  return {
    eventSource,
    records: {
      [`${topic}-0`]: values.map((value) => ({
        topic,
        partition: 0,
        offset: nextOffset++,
        timestamp: Date.now(),
        timestampType: "CREATE_TIME",
        key: null,
        value: value === null ? null : toBase64(encoder.encode(value)),
        headers: [],
      })),
    },
  };
}

/** The emulator of the harness in use (runs are declared there). */
let emulator: Harness["emulator"] | undefined;

function lambdaOver(h: Harness, reserveMs?: number) {
  emulator = h.emulator;
  const logger = createLogger({ level: "error", sink: () => {} });
  return createLambdaIngress({ service: h.service, topics: h.config.topics, logger, ...(reserveMs === undefined ? {} : { reserveMs: () => reserveMs }) });
}

ingressContract("AWS Lambda (MSK event)", (h) => {
  const handle = lambdaOver(h);
  return {
    async deliver(values) {
      try {
        await handle(event(values), context());
        return { acked: true };
      } catch {
        return { acked: false };
      }
    },
  };
});

describe("the AWS Lambda ingress", () => {
  test("answers only once the batch's runs are reported to Port, for a self-managed Kafka event too", async () => {
    const h = await createHarness({ start: false, handlers: { runs: { deploy: async () => ({ summary: "done" }) } } });
    try {
      const ids = ["r_lam_1", "r_lam_2", "r_lam_3"];
      const result = await lambdaOver(h)(
        event(
          ids.map((id) => JSON.stringify(runMessage(id))),
          RUNS,
          "SelfManagedKafka",
        ),
        context(),
      );
      expect(result).toEqual({ batchItemFailures: [] });
      // Not started in the background: the invocation itself ran the handlers and delivered the reports.
      for (const id of ids) expect(h.emulator.state.terminalStatus(id)).toBe("SUCCESS");
      expect((await h.ledger.counts()).pendingReports).toBe(0);
    } finally {
      await h.stop();
    }
  });

  test("a tombstone and a value that is not base64 are parked; the invocation succeeds", async () => {
    const h = await createHarness({ start: false });
    try {
      const input = event([null]);
      const first = input.records[`${RUNS}-0`];
      first?.push({ topic: RUNS, partition: 0, offset: nextOffset++, value: "%%% not base64 %%%" });
      expect(await lambdaOver(h)(input, context())).toEqual({ batchItemFailures: [] });
      const parked = await h.ledger.listDeadLetters();
      expect(parked.map((l) => l.reason)).toEqual([expect.stringMatching(/empty/i), "the record's value is not base64"]);
    } finally {
      await h.stop();
    }
  });

  test("Port unreachable until the deadline: it throws saying what is left, and the batch delivered again finishes it", async () => {
    const h = await createHarness({ start: false, handlers: { runs: { deploy: async () => ({ summary: "done" }) } } });
    try {
      const handle = lambdaOver(h, 100);
      h.emulator.state.failNext(1_000_000, 503);
      const batch = event([JSON.stringify(runMessage("r_lam_late"))]);
      const thrown = await handle(batch, context(1_000)).catch((error: Error) => error);
      expect(thrown).toBeInstanceOf(Error);
      expect((thrown as Error).message).toMatch(
        /^portside: not finished before the invocation's deadline \(0 of its records unfinished, 1 of its runs with reports to Port undelivered, 0 handlers running/,
      );
      expect(h.emulator.state.terminalStatus("r_lam_late")).toBeUndefined();
      h.emulator.state.faults.length = 0;
      await Bun.sleep(150); // the outbox's backoff in the harness is at most 100 ms
      expect(await handle(batch, context(10_000))).toEqual({ batchItemFailures: [] });
      expect(h.emulator.state.terminalStatus("r_lam_late")).toBe("SUCCESS");
      expect(h.service.stats().duplicate).toBe(1);
    } finally {
      await h.stop();
    }
  });

  test("a handler that hangs holds up only its own batch: later invocations finish and report their runs", async () => {
    let release = () => {};
    const hanging = new Promise<void>((resolve) => (release = resolve));
    const h = await createHarness({
      start: false,
      handlers: {
        runs: {
          hang: async () => {
            await hanging;
            return { summary: "at last" };
          },
          deploy: async () => ({ summary: "done" }),
        },
      },
    });
    try {
      const handle = lambdaOver(h, 100);
      const hung = event([JSON.stringify(runMessage("r_hangs", "hang"))]);
      const thrown = await handle(hung, context(600)).catch((error: Error) => error);
      expect((thrown as Error).message).toMatch(
        /\(1 of its records unfinished, 0 of its runs with reports to Port undelivered, 1 handlers running on this instance\)/,
      );
      // Later invocations on the same warm instance: their own runs are done and reported at once.
      for (const id of ["r_after_hang_1", "r_after_hang_2"]) {
        const started = Date.now();
        expect(await handle(event([JSON.stringify(runMessage(id))]), context(20_000))).toEqual({ batchItemFailures: [] });
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(h.emulator.state.terminalStatus(id)).toBe("SUCCESS");
      }
      // The hung batch delivered again is still not done; once its handler ends, it is.
      expect(await handle(hung, context(400)).catch((error: Error) => error.message)).toMatch(/1 of its records unfinished/);
      release();
      expect(await handle(hung, context(20_000))).toEqual({ batchItemFailures: [] });
      expect(h.emulator.state.terminalStatus("r_hangs")).toBe("SUCCESS");
    } finally {
      release();
      await h.stop();
    }
  });

  test("a warm instance purges its ledger: what is older than RETENTION_HOURS goes after the next invocation", async () => {
    let now = Date.now();
    const h = await createHarness({
      start: false,
      clock: () => now,
      env: { RETENTION_HOURS: "1", DEAD_LETTER_RETENTION_HOURS: "1" },
      handlers: { runs: { deploy: async () => ({ summary: "done" }) } },
    });
    try {
      const logger = createLogger({ level: "error", sink: () => {} });
      const retention = createRetention({ ledger: h.ledger, config: h.config, logger, clock: () => now });
      emulator = h.emulator;
      const handle = createLambdaIngress({ service: h.service, topics: h.config.topics, logger, retention });
      await handle(event([JSON.stringify(runMessage("r_old_1")), JSON.stringify(runMessage("r_old_2")), "{not json"]), context());
      expect(await h.ledger.counts()).toMatchObject({ doneWork: 2, deadLetters: 1 });
      // Purged at most every 15 minutes, and only what is older than the retention.
      now += 30 * 60_000;
      await handle(event([JSON.stringify(runMessage("r_new"))]), context());
      expect(await h.ledger.counts()).toMatchObject({ doneWork: 3, deadLetters: 1 });
      now += 2 * 3600_000;
      await handle(event([JSON.stringify(runMessage("r_newer"))]), context());
      expect(await h.ledger.counts()).toMatchObject({ doneWork: 1, deadLetters: 0 });
    } finally {
      await h.stop();
    }
  });

  test("an event that is not from a Kafka event source is refused, naming the field and not its value", async () => {
    const h = await createHarness({ start: false });
    try {
      const handle = lambdaOver(h);
      const sqs = { Records: [{ eventSource: "aws:sqs", body: "secret-looking-body" }] };
      const thrown = await handle(sqs, context()).catch((error: Error) => error);
      expect(thrown).toBeInstanceOf(LambdaEventError);
      expect((thrown as Error).message).toBe(
        'portside: this invocation is not a Kafka event from an MSK or self-managed Kafka event source (eventSource Invalid key: Expected "eventSource" but received undefined); point the function at a Kafka trigger',
      );
      expect((thrown as Error).message).not.toContain("secret-looking-body");
      expect(h.service.stats().records).toBe(0);
    } finally {
      await h.stop();
    }
  });

  test("records of a topic the function was not configured for are refused whole (nothing recorded, nothing lost)", async () => {
    const h = await createHarness({ start: false });
    try {
      const thrown = await lambdaOver(h)(event([JSON.stringify(runMessage("r_lam_other"))], "someone.else.topic"), context()).catch((e: Error) => e);
      expect(thrown).toBeInstanceOf(LambdaEventError);
      expect((thrown as Error).message).toBe(
        `portside: records from topic "someone.else.topic", which is neither KAFKA_RUNS_TOPIC (${ORG}.runs) nor KAFKA_CHANGES_TOPIC (${ORG}.change.log); set those to the topics this function is triggered by`,
      );
      expect((await h.ledger.counts()).pendingWork).toBe(0);
    } finally {
      await h.stop();
    }
  });
});

describe("configuration on AWS Lambda", () => {
  const base = { ORG_ID: ORG, PORT_CLIENT_ID: "id", PORT_CLIENT_SECRET: "secret" };
  test("needs no SINK_TOKEN (it serves no HTTP) and keeps its ledger in memory unless told", () => {
    const config = loadConfig(base, { entry: "lambda" });
    expect(config.sinkToken).toBeNull();
    expect(config.ledger).toEqual({ type: "memory" });
    expect(config.topics).toEqual({ runs: `${ORG}.runs`, changes: `${ORG}.change.log` });
  });
  test("refuses a SQLite ledger and open mode, saying why", () => {
    expect(() => loadConfig({ ...base, LEDGER: "sqlite:/tmp/x.sqlite" }, { entry: "lambda" })).toThrow(
      new ConfigError("LEDGER", "cannot be SQLite on AWS Lambda (no lasting disk); use redis://… to deduplicate redelivered batches, or memory"),
    );
    expect(() => loadConfig({ ...base, PORTSIDE_OPEN: "true" }, { entry: "lambda" })).toThrow(/^PORTSIDE_OPEN: is not available on AWS Lambda/);
  });
  test("refuses the ways in a Lambda cannot serve (it takes only the Kafka records it is given), naming each", () => {
    for (const name of ["PORT_POLLING", "EXECUTION_AGENT", "PORT_WEBHOOKS"])
      expect(() => loadConfig({ ...base, [name]: "true" }, { entry: "lambda" })).toThrow(new RegExp(`^${name}: is not available on AWS Lambda`));
  });
  test("the service still needs SINK_TOKEN", () => {
    expect(() => loadConfig(base)).toThrow(/^SINK_TOKEN: is not set/);
  });
});
