import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { freePort } from "../support/net.ts";
import { baseEnv, killRunning, packed, repo } from "../support/pack.ts";
import { parseRunnable, readmePath, runSteps } from "./runnable.ts";

/**
 * Every README command block marked as runnable (see runnable.ts for the markers, the environment and the one
 * rewrite: `npm install portside` installs `npm pack`'s tarball of this checkout), run in order as a new user
 * would, in one fresh project dir outside the repository; each step's line, command, exit and time printed.
 * Real npm (registry and cache), Node.js, Bun, tsc and portside: minutes, not seconds.
 *
 * README_PATH reads another file instead of README.md (a scratch copy with markers, to try them).
 */
const MIN_STEPS = 5;
const path = readmePath();
const source = basename(path);
const project = mkdtempSync(join(tmpdir(), "portside-readme-"));
afterEach(killRunning);
afterAll(() => rmSync(project, { recursive: true, force: true }));

test(`${source}: every block marked <!-- run … --> runs in order in a fresh project, and its sample outputs match`, async () => {
  const steps = parseRunnable(readFileSync(path, "utf8"), source);
  // Never a silent pass: a README that lost its markers fails here.
  if (steps.length < MIN_STEPS) {
    throw new Error(`${path} has ${steps.length} runnable steps (<!-- run … --> markers); at least ${MIN_STEPS} are expected`);
  }
  const { tarball } = await packed();
  const port = await freePort();
  console.log(`[readme] ${steps.length} steps of ${path} in ${project}, PORT=${port}`);
  const started = performance.now();
  const reports = await runSteps(steps, {
    source,
    project,
    repo,
    tarball,
    env: { ...baseEnv, PORT: String(port), PORTSIDE_URL: `http://127.0.0.1:${port}` },
    log: (line) => console.log(`[readme] ${line}`),
  });
  console.log(`[readme] ${reports.length} steps passed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  expect(reports.map((r) => r.step)).toEqual(steps);
}, 600_000);
