import { describe, expect, test } from "bun:test";
import type { PutEventsRequestEntry, PutEventsResultEntry } from "@aws-sdk/client-eventbridge";
import { silentLogger } from "../../log.ts";
import { classifyCallError, createPublisher, type SendPutEvents } from "./publisher.ts";

const entries = (...names: string[]): PutEventsRequestEntry[] => names.map((n) => ({ Source: "s", DetailType: "d", Detail: JSON.stringify({ n }) }));
const nameOf = (e: PutEventsRequestEntry) => (JSON.parse(e.Detail ?? "{}") as { n: string }).n;

/** A publisher over a scripted `send`, with a fake clock whose sleeps advance time. */
function setup(send: SendPutEvents, retryForMs = 60_000) {
  let now = 0;
  const sleeps: number[] = [];
  const publisher = createPublisher({
    send,
    limiter: { take: async () => {} },
    policy: { initialMs: 100, maxMs: 1_000, factor: 2, maxAttempts: Infinity },
    retryForMs,
    clock: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    random: () => 1,
    logger: silentLogger,
  });
  return { publisher, sleeps };
}

/** Answers per entry name: a function of the name and how often that name was seen. */
function scripted(answer: (name: string, attempt: number) => PutEventsResultEntry) {
  const seen = new Map<string, number>();
  const calls: string[][] = [];
  const send: SendPutEvents = async (batch) => {
    calls.push(batch.map(nameOf));
    return {
      Entries: batch.map((e) => {
        const n = nameOf(e);
        seen.set(n, (seen.get(n) ?? 0) + 1);
        return answer(n, seen.get(n) as number);
      }),
    };
  };
  return { send, calls };
}

describe("per-entry results", () => {
  test("throttled and internal-failure entries are resent alone with growing backoff; others settle at once", async () => {
    const { send, calls } = scripted((n, attempt) => {
      if (n === "slow" && attempt <= 2) return { ErrorCode: "ThrottlingException", ErrorMessage: "Rate exceeded" };
      if (n === "flaky" && attempt === 1) return { ErrorCode: "InternalFailure", ErrorMessage: "oops" };
      if (n === "bad") return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed." };
      return { EventId: `id-${n}` };
    });
    const { publisher, sleeps } = setup(send);
    const outcomes = await publisher.putBatch(entries("ok", "slow", "flaky", "bad"));
    expect(outcomes).toEqual([
      { type: "published", eventId: "id-ok", attempts: 1 },
      { type: "published", eventId: "id-slow", attempts: 3 },
      { type: "published", eventId: "id-flaky", attempts: 2 },
      { type: "rejected", code: "MalformedDetail", message: "Detail is malformed.", attempts: 1 },
    ]);
    expect(calls).toEqual([["ok", "slow", "flaky", "bad"], ["slow", "flaky"], ["slow"]]);
    expect(sleeps).toEqual([100, 200]);
  });

  test("an entry still throttled when the retry time is up gives up with the last error", async () => {
    const { send } = scripted(() => ({ ErrorCode: "ThrottlingException", ErrorMessage: "Rate exceeded" }));
    const { publisher, sleeps } = setup(send, 1_000);
    const [outcome] = await publisher.putBatch(entries("slow"));
    expect(outcome).toEqual({ type: "gave_up", code: "ThrottlingException", message: "Rate exceeded", attempts: 4 });
    expect(sleeps).toEqual([100, 200, 400]);
  });
});

describe("whole-call failures", () => {
  test("a 5xx call is retried for every entry; a client error settles them all as rejected", async () => {
    let calls = 0;
    const serverError = Object.assign(new Error("boom"), { name: "InternalException", $fault: "server", $metadata: { httpStatusCode: 500 } });
    const { publisher } = setup(async (batch) => {
      calls++;
      if (calls === 1) throw serverError;
      return { Entries: batch.map((e) => ({ EventId: nameOf(e) })) };
    });
    expect((await publisher.putBatch(entries("a", "b"))).map((o) => o.type)).toEqual(["published", "published"]);

    const denied = Object.assign(new Error("not allowed"), { name: "AccessDeniedException", $fault: "client", $metadata: { httpStatusCode: 400 } });
    const { publisher: refused } = setup(async () => {
      throw denied;
    });
    expect(await refused.putBatch(entries("a"))).toEqual([{ type: "rejected", code: "AccessDeniedException", message: "not allowed", attempts: 1 }]);
  });

  test("classification", () => {
    const err = (fields: Record<string, unknown>) => Object.assign(new Error(String(fields.message ?? "x")), fields);
    expect(classifyCallError(err({ name: "ThrottlingException", $fault: "client", $metadata: { httpStatusCode: 400 } })).retriable).toBe(true);
    expect(classifyCallError(err({ name: "Whatever", $metadata: { httpStatusCode: 429 } })).retriable).toBe(true);
    expect(classifyCallError(err({ name: "InternalException", $fault: "server", $metadata: { httpStatusCode: 503 } })).retriable).toBe(true);
    expect(classifyCallError(err({ name: "ValidationException", $fault: "client", $metadata: { httpStatusCode: 400 } })).retriable).toBe(false);
    expect(classifyCallError(err({ name: "Error", message: "connect ECONNREFUSED 127.0.0.1:1" })).retriable).toBe(true);
    expect(classifyCallError(err({ name: "TimeoutError", message: "socket timed out" })).retriable).toBe(true);
    expect(classifyCallError(err({ name: "CredentialsProviderError", message: "Could not load credentials from any providers" }))).toMatchObject({
      retriable: true,
      message: expect.stringContaining("credential provider chain"),
    });
    expect(classifyCallError(err({ name: "Error", message: "Region is missing" }))).toMatchObject({
      retriable: false,
      message: "Region is missing: set AWS_REGION",
    });
  });
});

test("close() abandons a batch mid-retry: no more calls, and its promise never settles", async () => {
  let calls = 0;
  let release: () => void = () => {};
  const { publisher } = setup(async (batch) => {
    calls++;
    if (calls === 2) await new Promise<void>((resolve) => (release = resolve));
    return { Entries: batch.map(() => ({ ErrorCode: "ThrottlingException", ErrorMessage: "Rate exceeded" })) };
  });
  let settled = false;
  void publisher.putBatch(entries("a")).finally(() => (settled = true));
  while (calls < 2) await Promise.resolve();
  publisher.close();
  release();
  for (let i = 0; i < 20; i++) await Promise.resolve();
  expect(calls).toBe(2);
  expect(settled).toBe(false);
});

test("what AWS (or whatever answers at the endpoint) says is kept short: a code to 100 characters, a message to 500", async () => {
  const { send } = scripted(() => ({ ErrorCode: `Bad${"C".repeat(5_000)}`, ErrorMessage: "m".repeat(100_000) }));
  const { publisher } = setup(send);
  const [outcome] = await publisher.putBatch(entries("bad"));
  expect(outcome?.type).toBe("rejected");
  const { code, message } = outcome as { code: string; message: string };
  expect([code.length, message.length]).toEqual([100, 500]);
  expect(message.endsWith("…")).toBe(true);
  const failure = classifyCallError(Object.assign(new Error("e".repeat(100_000)), { name: `N${"n".repeat(5_000)}`, $fault: "client" }));
  expect([failure.code.length, failure.message.length, failure.retriable]).toEqual([100, 500, false]);
});
