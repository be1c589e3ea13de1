import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { firstUnmatched, outputSamples, readmePath } from "./runnable.ts";

/**
 * `npm run demo`, `npm run demo -- --polling` and `npm run demo -- --webhooks` as a person runs them: the package's demo script as a real
 * process, its printed lines read until it says how the sample runs ended, then Ctrl-C (SIGTERM here). Each runs once; its
 * `demo:` lines are checked here and against README's sample of them: the block after `<!-- output: npm run demo -->` (and
 * `… -- --polling`, `… -- --webhooks`), each line found in order, `…` standing for any characters within a line (see runnable.ts).
 */
const repo = new URL("../..", import.meta.url).pathname;
const script = (JSON.parse(readFileSync(`${repo}package.json`, "utf8")) as { scripts: { demo: string } }).scripts.demo;

let running: ReturnType<typeof Bun.spawn> | undefined;
afterEach(() => {
  running?.kill("SIGKILL");
  running = undefined;
});

/** Runs the demo script with `args` added; resolves with its `demo:` lines and how it exited after SIGTERM. */
async function runDemo(args: string[]): Promise<{ lines: string[]; exitCode: number }> {
  const [command, ...scriptArgs] = script.split(" ");
  expect(command).toBe("bun");
  const proc = Bun.spawn([process.execPath, ...scriptArgs, ...args], {
    cwd: repo,
    // A memory ledger and any free ports: nothing written to the checkout, nothing in the way of other tests.
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LEDGER: "memory", PORT: "0", LOG_LEVEL: "warn" },
    stdout: "pipe",
    stderr: "pipe",
  });
  running = proc;
  const lines: string[] = [];
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const deadline = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    buffered += decoder.decode(r.value, { stream: true });
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    lines.push(...parts);
    if (parts.some((line) => /^demo: (every sample run finished|some runs did not finish)/.test(line))) break;
  }
  clearTimeout(deadline);
  reader.releaseLock();
  proc.kill("SIGTERM");
  const exitCode = await proc.exited;
  const printed = lines.filter((line) => line.startsWith("demo:"));
  if (!printed.some((line) => line.startsWith("demo: every sample run finished"))) {
    throw new Error(`the demo did not finish its runs:\n${lines.join("\n")}\n${await new Response(proc.stderr as ReadableStream).text()}`);
  }
  return { lines: printed, exitCode };
}

/** One run of the demo per `args`, shared by the test of its behaviour and the one of README's sample. */
const demos = new Map<string, Promise<{ lines: string[]; exitCode: number }>>();
function demo(args: string[]): Promise<{ lines: string[]; exitCode: number }> {
  const key = args.join(" ");
  let made = demos.get(key);
  if (!made) {
    made = runDemo(args);
    demos.set(key, made);
  }
  return made;
}

const runLines = (lines: string[]) => lines.filter((line) => /^demo: run \S+ \(/.test(line));

describe("the demo", () => {
  test("npm run demo: sample runs posted to the sink end SUCCESS in the Port emulator", async () => {
    const { lines, exitCode } = await demo([]);
    expect(lines.filter((line) => line.startsWith("demo: POST /sink/"))).toHaveLength(2);
    const runs = runLines(lines);
    expect(runs.map((line) => /\((\w+)\) → (\w+)/.exec(line)?.slice(1))).toEqual([
      ["deploy", "SUCCESS"],
      ["create_vm", "SUCCESS"],
    ]);
    expect(exitCode).toBe(0);
  }, 90_000);

  test("npm run demo -- --polling: runs triggered in the emulator are claimed by polling, acknowledged, one handled and one forwarded, both SUCCESS", async () => {
    const { lines, exitCode } = await demo(["--polling"]);
    // No Kafka and no sink: nothing is posted; the runs come by polling.
    expect(lines.filter((line) => line.includes("/sink/"))).toEqual([]);
    const runs = runLines(lines);
    expect(runs.map((line) => /\((\w+)\) → (\w+)/.exec(line)?.slice(1))).toEqual([
      ["deploy", "SUCCESS"],
      ["restart_service", "SUCCESS"],
    ]);
    expect(runs[0]).toEndWith("SUCCESS — Deployed checkout-service 2.15.0 to production");
    expect(runs[1]).toEndWith("→ SUCCESS");
    expect(lines.filter((line) => line === "demo:     claimed by polling, acknowledged")).toHaveLength(2);
    const forwardedId = /^demo: run (\S+) \(restart_service\)/.exec(runs[1] ?? "")?.[1];
    expect(lines).toContain(`demo:     forwarded POST /restart (Idempotency-Key ${forwardedId})`);
    expect(lines).toContain('demo:     response {"restarted":"checkout-service","by":"the demo\'s webhook receiver"}');
    expect(exitCode).toBe(0);
  }, 90_000);

  test("npm run demo -- --webhooks: runs triggered in the emulator are sent signed to portside, one answered 202 and reported, one answered with its result", async () => {
    const { lines, exitCode } = await demo(["--webhooks"]);
    expect(lines.filter((line) => line.includes("/sink/"))).toEqual([]);
    const runs = runLines(lines);
    expect(runs.map((line) => /\((\w+)\) → (\w+)/.exec(line)?.slice(1))).toEqual([
      ["deploy", "SUCCESS"],
      ["check_health", "SUCCESS"],
    ]);
    expect(runs[0]).toEndWith("SUCCESS — Deployed checkout-service 2.16.0 to staging");
    expect(lines.filter((line) => line === "demo:     webhook answered 202")).toHaveLength(1);
    expect(lines.filter((line) => line === "demo:     webhook answered 200")).toHaveLength(1);
    const syncId = /^demo: run (\S+) \(check_health\)/.exec(runs[1] ?? "")?.[1];
    expect(lines).toContain(`demo:     response {"status":"SUCCESS","runId":"${syncId}","summary":"checkout-service is healthy"}`);
    expect(exitCode).toBe(0);
  }, 90_000);
});

/** The commands README shows the output of, and the demo's arguments for each. */
const SAMPLES: Record<string, string[]> = {
  "npm run demo": [],
  "npm run demo -- --polling": ["--polling"],
  "npm run demo -- --webhooks": ["--webhooks"],
};

describe("README's sample output of the demo", () => {
  const path = readmePath();
  const source = basename(path);
  const samples = outputSamples(readFileSync(path, "utf8"), source);

  test("every <!-- output: … --> block of README names a command this file runs", () => {
    const unknown = samples.filter((s) => !Object.hasOwn(SAMPLES, s.command)).map((s) => `${source}:${s.line} <!-- output: ${s.command} -->`);
    expect(unknown).toEqual([]);
  });

  for (const [command, args] of Object.entries(SAMPLES)) {
    test(`<!-- output: ${command} -->: README's lines are what the demo prints, in order`, async () => {
      const sample = samples.find((s) => s.command === command);
      if (!sample) throw new Error(`${path} has no block marked <!-- output: ${command} --> (a plain \`\`\` block right after it)`);
      expect(sample.expected.length).toBeGreaterThan(0);
      const { lines } = await demo(args);
      const missing = firstUnmatched(sample.expected, lines);
      if (missing) {
        throw new Error(
          `${source}:${missing.line}: this line of the sample of \`${command}\` is not what the demo printed (in order, after the lines before it):\n  ${missing.text}\n--- what it printed ---\n${lines.join("\n")}`,
        );
      }
    }, 90_000);
  }
});
