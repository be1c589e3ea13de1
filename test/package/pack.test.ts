import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { strToU8, zlibSync } from "fflate";
import { legacyRunMessage } from "../../src/testing/run-message.ts";
import { freePort, waitForHttp } from "../support/net.ts";
import { baseEnv, killRunning, npm, ok, once, packed, repo, running, sh, work } from "../support/pack.ts";

/**
 * portside as a package a team's own repository depends on, proven without a registry: `npm pack` of this
 * checkout, then a fresh project in a temp dir outside the repository installs the tarball (with npm, from
 * the registry and its cache: typescript and fflate, a dependency of the team's own that portside does not
 * have), type-checks its handler module with the tsconfig `tsc --init` writes, and runs it through the
 * `portside` command. Then the team image's steps (connectors/team/Dockerfile) without a Docker engine:
 * `npm ci --omit=dev` and the image's HANDLERS and CMD. Real npm, Node.js, Bun and tsc; slow (a minute or
 * two), every step timed and printed.
 */
const project = join(work, "team-handlers");
afterEach(killRunning);

/** The TypeScript the repository uses (in npm's cache already), and the newest major, as a fresh `npm install typescript` gets it. */
const TYPESCRIPT = (JSON.parse(readFileSync(join(repo, "node_modules/typescript/package.json"), "utf8")) as { version: string }).version;
const TYPESCRIPT_NEXT = "7.0.2";
/** The team's own dependency: pure JavaScript with its own types, not a dependency of portside (a devDependency only). */
const FFLATE = (JSON.parse(readFileSync(join(repo, "node_modules/fflate/package.json"), "utf8")) as { version: string }).version;

/** The team's handler module: portside's types, fflate inside the handler. */
const HANDLERS = `import { strFromU8, strToU8, unzlibSync, zlibSync } from "fflate";
import { defineHandlers } from "portside/handlers";

export default defineHandlers({
  runs: {
    pack: async (run) => {
      const text = String(run.inputs.text ?? "");
      const packed = zlibSync(strToU8(text), { level: 9 });
      if (strFromU8(unzlibSync(packed)) !== text) throw new Error("fflate did not give the text back");
      await run.log(\`packed \${text.length} bytes into \${packed.length}\`);
      return { summary: \`Packed \${text.length} bytes into \${packed.length} with fflate\` };
    },
  },
});
`;
const TEXT = "portside runs your code for Port. ".repeat(20);
/** Its check with the test kit, as a team's test would call it. */
const CHECK = `import { invoke } from "portside/testing";
import handlers from "./handlers.js";

const result = await invoke(handlers, "pack", { inputs: { text: ${JSON.stringify(TEXT)} } });
console.log(JSON.stringify({ status: result.status, summary: result.summary, logs: result.logs }));
`;
/** Wrong on purpose: the types are portside's, not \`any\`. */
const WRONG = `import { defineHandlers } from "portside/handlers";
import { invoke } from "portside/testing";

const handlers = defineHandlers({ runs: { pack: async (run) => { await run.lgo("x"); } } });
await invoke(handlers, "pack", { inputs: {}, entity: 7 });
`;
const expectedSummary = (text: string) => `Packed ${text.length} bytes into ${zlibSync(strToU8(text), { level: 9 }).length} with fflate`;

/** The fresh project: npm init, the tarball and fflate as dependencies, typescript as a devDependency. */
const installed = once(async () => {
  const { tarball } = await packed();
  mkdirSync(project);
  await ok("npm init -y", [npm, "init", "-y"], project);
  await ok("npm pkg set type=module", [npm, "pkg", "set", "type=module"], project);
  await ok(`npm install <tarball> fflate@${FFLATE}`, [npm, "install", "--prefer-offline", "--no-audit", "--no-fund", tarball, `fflate@${FFLATE}`], project);
  await ok(
    `npm install -D typescript@${TYPESCRIPT}`,
    [npm, "install", "-D", "--prefer-offline", "--no-audit", "--no-fund", `typescript@${TYPESCRIPT}`],
    project,
  );
  writeFileSync(join(project, "handlers.ts"), HANDLERS);
  writeFileSync(join(project, "check.ts"), CHECK);
  return project;
});

/** The team Dockerfile's instructions, continuation lines joined. */
function dockerfile(): { env: Record<string, string>; cmd: string[]; healthcheck: string[]; copies: string[] } {
  const text = readFileSync(join(repo, "connectors/team/Dockerfile"), "utf8").replace(/\\\n/g, " ");
  const lines = text.split("\n").filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#"));
  const env: Record<string, string> = {};
  for (const line of lines.filter((l) => l.startsWith("ENV "))) {
    for (const [, name, value] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[name as string] = value as string;
  }
  /** An exec-form (JSON) command after `marker` on the line starting with `instruction`. */
  const exec = (instruction: string, marker: string): string[] => {
    const line = lines.find((l) => l.startsWith(`${instruction} `)) ?? "";
    return JSON.parse(line.slice(line.indexOf(marker) + marker.length)) as string[];
  };
  const copies = lines.filter((l) => l.startsWith("COPY ")).flatMap((l) => l.slice(5).trim().split(/\s+/).slice(0, -1));
  return { env, cmd: exec("CMD", "CMD "), healthcheck: exec("HEALTHCHECK", " CMD "), copies };
}

/** A run Port would publish for the handler, posted to the sink, and its story read back until it ends. */
async function postRunAndWait(url: string, org: string, text: string): Promise<{ phase: string; summary: string | null }> {
  const runId = `r_pack_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const posted = await fetch(`${url}/sink/runs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(legacyRunMessage({ runId, action: "pack", orgId: org, inputs: { text } })),
  });
  expect(posted.status).toBe(200);
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await Bun.sleep(200)) {
    const res = await fetch(`${url}/admin/runs/${runId}`);
    if (res.ok) {
      const story = (await res.json()) as { phase: string; summary: string | null };
      if (story.phase === "SUCCESS" || story.phase === "FAILURE") return story;
    }
  }
  throw new Error(`run ${runId} did not end in 30 s`);
}

describe("portside as an npm package", () => {
  test("npm pack: bin/portside.mjs, the runtime sources and the exports' declarations; no test files, test keys, secrets, .portside data or connectors; size printed", async () => {
    const { info, root } = await packed();
    const paths = info.files.map((f) => f.path);
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      private?: boolean;
      bin: Record<string, string>;
      exports: Record<string, Record<string, string>>;
      dependencies: Record<string, string>;
      engines: { node: string };
    };
    expect(manifest.private).toBeUndefined();
    expect(manifest.bin).toEqual({ portside: "bin/portside.mjs" });
    expect(Object.keys(manifest.dependencies)).toContain("bun");
    expect(Object.keys(manifest.dependencies)).not.toContain("testcontainers");
    expect(manifest.engines.node).toBe(">=20");
    // Every export's target is in the tarball: the sources Bun and Deno run, the declarations TypeScript reads.
    const targets = Object.values(manifest.exports).flatMap((conditions) => Object.values(conditions).map((target) => target.replace(/^\.\//, "")));
    expect(targets.filter((target) => !paths.includes(target))).toEqual([]);
    for (const needed of [
      "bin/portside.mjs",
      "src/entry/cli.ts",
      "src/entry/main.ts",
      "src/examples/handlers.ts",
      "src/targets/webhook/default-mapping.json",
    ]) {
      expect(paths).toContain(needed);
    }
    expect((info.files.find((f) => f.path === "bin/portside.mjs")?.mode ?? 0) & 0o111).not.toBe(0);
    const unwanted = paths.filter((path) =>
      /\.test\.ts$|^test\/|^connectors\/|^\.ci\/|^\.portside|\.sqlite|\.pem$|\.key$|(^|\/)\.env|(^|\/)\.npmrc$|node_modules\/|^bench|BENCHMARKS|docker-compose/.test(
        path,
      ),
    );
    expect(unwanted).toEqual([]);
    // No secret in what is shipped: private keys, cloud and registry tokens, the tests' own tokens.
    const secretLike =
      /-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|ghp_[0-9A-Za-z]{36}|npm_[0-9A-Za-z]{36}|xox[abp]-[0-9A-Za-z-]{10,}|test-sink-token|test-admin-token/;
    const leaking = paths.filter((path) => secretLike.test(readFileSync(join(root, path), "latin1")));
    expect(leaking).toEqual([]);
    // Reasonable: the sources and declarations, no binaries (Bun comes as the `bun` dependency).
    expect(info.size).toBeLessThan(1024 * 1024);
    expect(info.unpackedSize).toBeLessThan(4 * 1024 * 1024);
  }, 180_000);

  test(`a fresh project outside the repository: npm install of the tarball, fflate and typescript; handlers.ts and a check with portside/testing type-check with \`tsc --init\`'s tsconfig (typescript ${TYPESCRIPT} and ${TYPESCRIPT_NEXT}) and a bundler one; a misspelt call is a type error`, async () => {
    const dir = await installed();
    expect(statSync(join(dir, "node_modules/bun/bin/bun.exe")).size).toBeGreaterThan(1_000_000);
    await ok("npx tsc --init", [npm, "exec", "--", "tsc", "--init"], dir);
    await ok(`tsc --noEmit (typescript ${TYPESCRIPT}, tsc --init's tsconfig)`, [npm, "exec", "--", "tsc", "--noEmit"], dir);
    writeFileSync(
      join(dir, "tsconfig.bundler.json"),
      JSON.stringify({
        compilerOptions: { target: "ES2022", module: "preserve", moduleResolution: "bundler", strict: true, noEmit: true, skipLibCheck: true },
        include: ["*.ts"],
      }),
    );
    await ok(`tsc -p tsconfig.bundler.json (typescript ${TYPESCRIPT})`, [npm, "exec", "--", "tsc", "-p", "tsconfig.bundler.json"], dir);
    await ok(
      `tsc --noEmit (typescript ${TYPESCRIPT_NEXT})`,
      [npm, "exec", "--yes", "--prefer-offline", `--package=typescript@${TYPESCRIPT_NEXT}`, "--", "tsc", "--noEmit"],
      dir,
    );
    writeFileSync(join(dir, "wrong.ts"), WRONG);
    const wrong = await sh([npm, "exec", "--", "tsc", "--noEmit"], dir);
    rmSync(join(dir, "wrong.ts"));
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout).toContain("wrong.ts(4,76): error TS2339: Property 'lgo' does not exist on type 'RunContext<Record<string, unknown>>'.");
    expect(wrong.stdout).toContain("wrong.ts(5,46): error TS2322");
  }, 300_000);

  test("npx portside --help prints the program's help; npx portside invoke runs handlers.ts to SUCCESS with fflate's result; check.ts with portside/testing too", async () => {
    const dir = await installed();
    const help = await ok("npx portside --help", [npm, "exec", "--", "portside", "--help"], dir);
    const direct = Bun.spawnSync([process.execPath, join(repo, "src/entry/cli.ts"), "--help"], { env: baseEnv });
    expect(help.stdout).toBe(direct.stdout.toString());
    const invoked = await ok(
      "npx portside invoke pack --handlers ./handlers.ts",
      [npm, "exec", "--", "portside", "invoke", "pack", "--inputs", JSON.stringify({ text: TEXT }), "--handlers", "./handlers.ts"],
      dir,
    );
    const lines = invoked.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^pack: run r_[0-9a-f]+ \(local Port emulator; nothing was sent to Port\)$/);
    expect(lines).toContain(`SUCCESS: ${expectedSummary(TEXT)}`);
    // The test kit from the tarball, under the Bun portside installed.
    const checked = await ok("bun check.ts (portside/testing)", [join(dir, "node_modules/.bin/bun"), "check.ts"], dir);
    expect(JSON.parse(checked.stdout)).toEqual({
      status: "SUCCESS",
      summary: expectedSummary(TEXT),
      logs: [`packed ${TEXT.length} bytes into ${zlibSync(strToU8(TEXT), { level: 9 }).length}`],
    });
  }, 120_000);

  test("the team image's steps without Docker (connectors/team/Dockerfile): npm ci --omit=dev, then its HANDLERS run through the launcher to SUCCESS", async () => {
    const dir = await installed();
    const image = dockerfile();
    expect(image.copies).toEqual(["package.json", "package-lock.json", "handlers.ts"]);
    expect(image.env.HANDLERS).toBe("/app/handlers.ts");
    expect(image.cmd).toEqual(["/app/node_modules/.bin/portside", "start"]);
    await ok("npm ci --omit=dev", [npm, "ci", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund"], dir);
    // What the image holds: portside, its Bun and the team's dependency (typescript stays only as valibot's optional peer).
    expect(existsSync(join(dir, "node_modules/fflate"))).toBe(true);
    expect(statSync(join(dir, "node_modules/bun/bin/bun.exe")).size).toBeGreaterThan(1_000_000);
    const handlers = (image.env.HANDLERS as string).replace(/^\/app\//, `${dir}/`);
    const invoked = await ok(
      "node_modules/.bin/portside invoke pack (after npm ci --omit=dev)",
      [join(dir, "node_modules/.bin/portside"), "invoke", "pack", "--inputs", JSON.stringify({ text: "a" })],
      dir,
      { HANDLERS: handlers },
    );
    expect(invoked.stdout).toContain(`SUCCESS: ${expectedSummary("a")}`);
  }, 180_000);

  test("installed with --ignore-scripts (as when npm's allowScripts blocks Bun's postinstall): npx portside runs on the binary of Bun's platform package", async () => {
    const { tarball } = await packed();
    const dir = join(work, "no-scripts");
    mkdirSync(dir);
    await ok("npm init -y", [npm, "init", "-y"], dir);
    await ok("npm pkg set type=module", [npm, "pkg", "set", "type=module"], dir);
    await ok(
      `npm install --ignore-scripts <tarball> fflate@${FFLATE}`,
      [npm, "install", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund", tarball, `fflate@${FFLATE}`],
      dir,
    );
    // The bun package's own bin/bun.exe is not the binary: its postinstall did not run.
    const bunExe = join(dir, "node_modules/bun/bin/bun.exe");
    expect(existsSync(bunExe) && statSync(bunExe).size > 1_000_000).toBe(false);
    writeFileSync(join(dir, "handlers.ts"), HANDLERS);
    const invoked = await ok(
      "npx portside invoke pack (installed with --ignore-scripts)",
      [npm, "exec", "--", "portside", "invoke", "pack", "--inputs", JSON.stringify({ text: TEXT }), "--handlers", "./handlers.ts"],
      dir,
    );
    expect(invoked.stdout).toContain(`SUCCESS: ${expectedSummary(TEXT)}`);
  }, 180_000);

  test("the team image's CMD, `portside start`: healthy by its HEALTHCHECK, a posted run ends SUCCESS, SIGTERM ends it with 0", async () => {
    const dir = await installed();
    const image = dockerfile();
    const port = await freePort();
    const org = "org_pack";
    mkdirSync(join(work, "data"), { recursive: true });
    const env = {
      ...baseEnv,
      ...image.env,
      // Loopback only, any free port, the ledger in the temp dir, open (no Port credentials: the emulator stands in).
      HOST: "127.0.0.1",
      PORT: String(port),
      LEDGER: `sqlite:${join(work, "data/ledger.sqlite")}`,
      HANDLERS: (image.env.HANDLERS as string).replace(/^\/app\//, `${dir}/`),
      ORG_ID: org,
      PORTSIDE_OPEN: "true",
      LOG_LEVEL: "warn",
    };
    const command = image.cmd.map((part) => part.replace(/^\/app\//, `${dir}/`));
    const child = Bun.spawn(command, { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
    running.add(child);
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/healthz`, 30_000);
    const health = await sh(image.healthcheck, dir, { PORT: String(port) }, 10_000);
    expect(health.code).toBe(0);
    expect(await postRunAndWait(url, org, TEXT)).toMatchObject({ phase: "SUCCESS", summary: expectedSummary(TEXT) });
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
  }, 120_000);

  test("`npx portside dev`: serves handlers.ts, a posted run ends SUCCESS; Ctrl-C (SIGINT to the process group) ends it", async () => {
    const dir = await installed();
    const port = await freePort();
    const org = "org_pack_dev";
    // In a session of its own (setsid), so that Ctrl-C can be sent as a terminal sends it: to the whole
    // process group — npm exec, its shell and portside — since npm does not pass a signal on.
    const child = Bun.spawn(["setsid", npm, "exec", "--", "portside", "dev"], {
      cwd: dir,
      env: { ...baseEnv, HOST: "127.0.0.1", PORT: String(port), HANDLERS: "./handlers.ts", ORG_ID: org, LEDGER: "memory", LOG_LEVEL: "warn" },
      stdout: "pipe",
      stderr: "pipe",
    });
    running.add(child);
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/healthz`, 30_000);
    expect(await postRunAndWait(url, org, TEXT)).toMatchObject({ phase: "SUCCESS", summary: expectedSummary(TEXT) });
    process.kill(-child.pid, "SIGINT");
    // npm exec ends as a shell does on Ctrl-C (128 + SIGINT); portside, which got it too, stops listening
    // within its shutdown (given 10 s here).
    expect(await child.exited).toBe(130);
    const answers = () =>
      fetch(`${url}/healthz`).then(
        () => true,
        () => false,
      );
    for (const deadline = Date.now() + 10_000; (await answers()) && Date.now() < deadline; ) await Bun.sleep(100);
    expect(await answers()).toBe(false);
  }, 120_000);
});
