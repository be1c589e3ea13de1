/**
 * `deno test` on one file of this repository, with bun:test mapped to Deno's runner
 * (test/deno/bun-test-shim.ts): what it printed and its verdict line, or an error with its output when it
 * did not pass or printed none.
 */
const repo = new URL("../..", import.meta.url).pathname;

export async function denoTest(file: string): Promise<{ out: string; passed: number; failed: number }> {
  const child = Bun.spawn([`${repo}node_modules/.bin/deno`, "test", "--allow-all", "--import-map", "test/deno/import-map.json", file], {
    cwd: repo,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const code = await child.exited;
  const verdict = /^(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/m.exec(out);
  if (code !== 0 || verdict?.[1] !== "ok") throw new Error(`deno test did not pass (exit ${code}):\n${out.slice(-4000)}\n${err.slice(-2000)}`);
  return { out, passed: Number(verdict[2]), failed: Number(verdict[3]) };
}
