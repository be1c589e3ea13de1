import { expect, test } from "bun:test";
import { denoTest } from "../../../test/support/deno-test.ts";

/**
 * The jq tests (jq.test.ts) under Deno: `deno test` runs them unchanged, with bun:test mapped to Deno's
 * runner (test/deno/bun-test-shim.ts), so the jq host is proven to load and evaluate there too.
 */
test("the jq engine loads and evaluates under deno test (every jq test passes there)", async () => {
  const { passed, failed } = await denoTest("src/targets/webhook/jq.test.ts");
  expect(failed).toBe(0);
  expect(passed).toBeGreaterThanOrEqual(7);
}, 180_000);
