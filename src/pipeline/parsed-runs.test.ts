import { expect, test } from "bun:test";
import type { Run } from "../messages/views.ts";
import { createParsedRuns, PARSED_RUNS_MAX_CHARS } from "./parsed-runs.ts";

const run = (id: string) => ({ id }) as unknown as Run;

test("what the cache holds is bounded by the texts' size as well as their number: large runs push older ones out sooner", () => {
  const cache = createParsedRuns(256);
  // Each text a quarter of a generation's characters: four fill it, so the first is gone after ten.
  const text = (n: number) => `${n}:${"x".repeat(PARSED_RUNS_MAX_CHARS / 4)}`;
  for (let n = 0; n < 10; n++) cache.remember(text(n), null, run(`r_${n}`));
  expect(cache.take(text(0), null)).toBeUndefined();
  expect(cache.take(text(9), null)).toEqual(run("r_9"));
  // Small ones are kept by number, as before: 2 × 256 at most.
  const small = createParsedRuns(4);
  for (let n = 0; n < 9; n++) small.remember(`t${n}`, null, run(`r_${n}`));
  expect([small.take("t0", null), small.take("t8", null)]).toEqual([undefined, run("r_8")]);
  expect(small.take("t8", null)).toBeUndefined();
});
