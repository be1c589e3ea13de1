import { expect, test } from "bun:test";
import { settledKeys } from "./settled-keys.ts";

test("a wait given up is forgotten: nothing is kept for a key that never settles here; other waiters still hear of it", async () => {
  const keys = settledKeys();
  const giveUp = new AbortController();
  let gaveUpHeard = false;
  let stayedHeard = false;
  void keys.settled("run:elsewhere", giveUp.signal).then(() => (gaveUpHeard = true));
  void keys.settled("run:here", giveUp.signal).then(() => (gaveUpHeard = true));
  void keys.settled("run:here").then(() => (stayedHeard = true));
  expect(keys.waiting).toBe(2);
  giveUp.abort();
  // "run:elsewhere" (another replica ran it) is gone; "run:here" keeps the waiter that did not give up.
  expect(keys.waiting).toBe(1);
  keys.settle("run:here");
  await Bun.sleep(0);
  expect([stayedHeard, gaveUpHeard, keys.waiting]).toEqual([true, false, 0]);
  // Already given up: nothing is registered at all.
  void keys.settled("run:later", giveUp.signal);
  expect(keys.waiting).toBe(0);
  // Settled lately: resolved at once.
  await keys.settled("run:here", new AbortController().signal);
});
