import { expect, test } from "bun:test";
import type { PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { createBatcher } from "./batcher.ts";
import type { EntryOutcome } from "./publisher.ts";

const entry = (n: number): PutEventsRequestEntry => ({ Source: "s", DetailType: "d", Detail: `{"n":${n}}` });

function recorder() {
  const calls: PutEventsRequestEntry[][] = [];
  const send = async (entries: PutEventsRequestEntry[]): Promise<EntryOutcome[]> => {
    calls.push(entries);
    return entries.map((e) => ({ type: "published", eventId: `id-${e.Detail}`, attempts: 1 }));
  };
  return { calls, send };
}

test("a full batch of 10 goes at once; the rest waits for the linger time or a flush", async () => {
  const { calls, send } = recorder();
  const batcher = createBatcher({ maxRequestBytes: 1_000_000, lingerMs: 60_000, send });
  const outcomes = Array.from({ length: 13 }, (_, i) => batcher.submit(entry(i), 10));
  expect(calls.map((c) => c.length)).toEqual([10]);
  batcher.flush();
  expect(calls.map((c) => c.length)).toEqual([10, 3]);
  // Each caller gets the outcome of its own entry.
  expect(await outcomes[12]).toEqual({ type: "published", eventId: 'id-{"n":12}', attempts: 1 });
});

test("an entry that would push the request over the size limit starts a new batch", () => {
  const { calls, send } = recorder();
  const batcher = createBatcher({ maxRequestBytes: 100, lingerMs: 60_000, send });
  for (const i of [1, 2, 3]) void batcher.submit(entry(i), 40);
  batcher.flush();
  expect(calls.map((c) => c.length)).toEqual([2, 1]);
});

test("an entry larger than the limit is refused without a call", async () => {
  const { calls, send } = recorder();
  const batcher = createBatcher({ maxRequestBytes: 100, lingerMs: 1, send });
  expect(await batcher.submit(entry(1), 101)).toEqual({ type: "too_large", bytes: 101, limit: 100 });
  expect(await batcher.submit(entry(2), 100)).toMatchObject({ type: "published" });
  expect(calls.map((c) => c.length)).toEqual([1]);
});

test("the linger timer sends a partial batch", async () => {
  const { calls, send } = recorder();
  const batcher = createBatcher({ maxRequestBytes: 1000, lingerMs: 1, send });
  const outcome = await batcher.submit(entry(1), 10);
  expect(outcome.type).toBe("published");
  expect(calls).toHaveLength(1);
});
