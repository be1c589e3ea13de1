import { expect, test } from "bun:test";
import { denoTest } from "../support/deno-test.ts";

/**
 * The test kit (`portside/testing`) works under Deno's test runner: `deno test` runs
 * test/deno/testing.deno.ts (bun:test mapped to Deno's runner) and every test there passes.
 */
test("invoke works under deno test", async () => {
  const { out, passed, failed } = await denoTest("test/deno/testing.deno.ts");
  expect(failed).toBe(0);
  expect(passed).toBe(3);
  expect(out).toContain("on Deno: invoke runs the example deploy handler through the pipeline ... ok");
}, 120_000);
