import { expect, test } from "bun:test";

/**
 * The jq tests (jq.test.ts) under Deno: `deno test` runs them unchanged, with bun:test mapped to Deno's
 * runner (test/deno/bun-test-shim.ts), so the jq host is proven to load and evaluate there too.
 */
const repo = new URL("../../..", import.meta.url).pathname;

test("the jq engine loads and evaluates under deno test (every jq test passes there)", async () => {
  const child = Bun.spawn(
    [`${repo}node_modules/.bin/deno`, "test", "--allow-all", "--import-map", "test/deno/import-map.json", "src/targets/webhook/jq.test.ts"],
    {
      cwd: repo,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const code = await child.exited;
  const verdict = /^(ok|FAILED) \| (\d+) passed \| (\d+) failed/m.exec(out);
  if (code !== 0 || !verdict) throw new Error(`deno test did not pass (exit ${code}):\n${out.slice(-4000)}\n${err.slice(-2000)}`);
  expect(verdict[1]).toBe("ok");
  expect(Number(verdict[3])).toBe(0);
  expect(Number(verdict[2])).toBeGreaterThanOrEqual(7);
}, 180_000);
