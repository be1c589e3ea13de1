import { expect, test } from "bun:test";
import { denoTest } from "../support/deno-test.ts";

/**
 * The ledger contract (test/ledger/contract.ts, the suite every ledger passes under Bun) on Deno's SQLite
 * ledger: `deno test` runs test/deno/sqlite-ledger.deno.ts, with bun:test mapped to Deno's runner
 * (test/deno/bun-test-shim.ts). Every contract test must run there and pass.
 */
test("Deno's SQLite ledger (node:sqlite) passes the ledger contract under deno test", async () => {
  const { out, passed, failed } = await denoTest("test/deno/sqlite-ledger.deno.ts");
  const ran = out.split("\n").filter((line) => line.startsWith("deno sqlite ledger contract > ")).length;
  expect(failed).toBe(0);
  // The whole contract, not a part of it: as many tests as the suite registers under Bun (40 today).
  expect(passed).toBe(ran);
  expect(ran).toBeGreaterThanOrEqual(40);
}, 180_000);
