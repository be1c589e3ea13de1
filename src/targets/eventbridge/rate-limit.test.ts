import { expect, test } from "bun:test";
import { createTokenBucket } from "./rate-limit.ts";

test("after the burst, calls are spaced at the configured rate", async () => {
  let now = 0;
  const slept: number[] = [];
  const bucket = createTokenBucket({
    ratePerSecond: 10,
    burst: 2,
    clock: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  });
  const times: number[] = [];
  await Promise.all(Array.from({ length: 5 }, () => bucket.take().then(() => times.push(now))));
  // Two at once, then one every 100 ms, first come first served.
  expect(times).toEqual([0, 0, 100, 200, 300]);
  expect(slept).toEqual([100, 100, 100]);
});

test("a quiet spell refills the bucket, up to the burst", async () => {
  let now = 0;
  const sleep = async (ms: number) => {
    now += ms;
  };
  const bucket = createTokenBucket({ ratePerSecond: 1, burst: 3, clock: () => now, sleep });
  for (let i = 0; i < 3; i++) await bucket.take();
  now += 60_000;
  const before = now;
  for (let i = 0; i < 3; i++) await bucket.take();
  expect(now).toBe(before);
  await bucket.take();
  expect(now).toBe(before + 1000);
});
