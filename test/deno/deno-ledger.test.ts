import { expect, test } from "bun:test";

/**
 * The ledger contract (test/ledger/contract.ts, the suite every ledger passes under Bun) on Deno's SQLite
 * ledger: `deno test` runs test/deno/sqlite-ledger.deno.ts, with bun:test mapped to Deno's runner
 * (test/deno/bun-test-shim.ts). Every contract test must run there and pass.
 */
const repo = new URL("../..", import.meta.url).pathname;

test("Deno's SQLite ledger (node:sqlite) passes the ledger contract under deno test", async () => {
  const child = Bun.spawn(
    [`${repo}node_modules/.bin/deno`, "test", "--allow-all", "--import-map", "test/deno/import-map.json", "test/deno/sqlite-ledger.deno.ts"],
    {
      cwd: repo,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const code = await child.exited;
  const verdict = /^(ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed/m.exec(out);
  if (code !== 0 || !verdict) throw new Error(`deno test did not pass (exit ${code}):\n${out.slice(-4000)}\n${err.slice(-2000)}`);
  const ran = out.split("\n").filter((line) => line.startsWith("deno sqlite ledger contract > ")).length;
  expect(verdict[1]).toBe("ok");
  expect(Number(verdict[4])).toBe(0);
  // The whole contract, not a part of it: as many tests as the suite registers under Bun (40 today).
  expect(Number(verdict[2])).toBe(ran);
  expect(ran).toBeGreaterThanOrEqual(40);
}, 180_000);
