import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { firstUnmatched, MarkdownError, outputSamples, parseRunnable, type RunOptions, runSteps, StepError, type Step, substitute } from "./runnable.ts";

/** The README runner (runnable.ts) on small markdown of its own: no network, no npm. */
const repo = new URL("../..", import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function options(extra: Partial<RunOptions> = {}): RunOptions {
  const project = mkdtempSync(join(tmpdir(), "portside-runnable-"));
  dirs.push(project);
  return {
    source: "FIXTURE.md",
    project,
    repo,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", PORT: "45678" },
    ...extra,
  };
}

const fence = "```";

/** Runs the markdown's steps; the StepError it throws, or undefined. */
async function failure(markdown: string, extra: Partial<RunOptions> = {}): Promise<StepError | undefined> {
  try {
    await runSteps(parseRunnable(markdown, "FIXTURE.md"), options(extra));
    return undefined;
  } catch (error) {
    if (error instanceof StepError) return error;
    throw error;
  }
}

/** Whether the process runs: not gone, not a zombie (this machine's init reaps orphans late). */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return false;
  }
}

function parseError(markdown: string): string {
  try {
    parseRunnable(markdown, "FIXTURE.md");
  } catch (error) {
    if (error instanceof MarkdownError) return error.message;
    throw error;
  }
  throw new Error("parsed without an error");
}

describe("parseRunnable", () => {
  test("every marker kind, with its line; unmarked blocks and markers inside a code block are left alone", () => {
    const markdown = [
      "# Title", // 1
      "", // 2
      "<!-- run -->", // 3
      `${fence}sh`, // 4
      "npm init -y", // 5
      fence, // 6
      "<!-- run: file src/handlers.ts -->", // 7
      `${fence}ts`, // 8
      "export default 1;", // 9
      fence, // 10
      '<!-- run: background "ready at" -->', // 11
      `${fence}sh`, // 12
      "npx portside dev", // 13
      fence, // 14
      "<!-- run: output -->", // 15
      fence, // 16
      "  first line  ", // 17
      "", // 18
      "second … line", // 19
      fence, // 20
      "<!-- run: repo -->", // 21
      `${fence}sh`, // 22
      "npm run -s cli -- --help", // 23
      fence, // 24
      `${fence}md`, // 25
      "<!-- run -->", // 26
      `${fence}sh`, // 27
      "echo not a step", // 28
      fence, // 29 closes the md block (a fence inside one is its text)
      `${fence}sh`, // 30
      "echo unmarked", // 31
      fence, // 32
    ].join("\n");
    expect(parseRunnable(markdown)).toEqual([
      { kind: "run", line: 3, code: "npm init -y", where: "project" },
      { kind: "file", line: 7, path: "src/handlers.ts", content: "export default 1;\n" },
      { kind: "background", line: 11, code: "npx portside dev", waitFor: "ready at" },
      {
        kind: "output",
        line: 15,
        expected: [
          { line: 17, text: "first line" },
          { line: 19, text: "second … line" },
        ],
      },
      { kind: "run", line: 21, code: "npm run -s cli -- --help", where: "repo" },
    ] satisfies Step[]);
  });

  test("an unknown marker word, a marker not right before a fence, any other comment before a fence and a wrong block language are errors naming the line", () => {
    expect(parseError(`text\n<!-- run: outptu -->\n${fence}\nx\n${fence}\n`)).toStartWith("FIXTURE.md:2: unknown marker <!-- run: outptu -->");
    expect(parseError(`<!-- run deploy -->\n${fence}sh\nx\n${fence}\n`)).toStartWith("FIXTURE.md:1: unknown marker");
    expect(parseError(`<!-- rnu -->\n${fence}sh\nx\n${fence}\n`)).toStartWith("FIXTURE.md:1: unknown marker <!-- rnu -->");
    expect(parseError(`<!-- run -->\n\n${fence}sh\nx\n${fence}\n`)).toBe(
      "FIXTURE.md:1: the marker <!-- run --> is not followed, on the next line, by a code fence",
    );
    expect(parseError(`<!-- run -->\n${fence}ts\nx\n${fence}\n`)).toStartWith("FIXTURE.md:1: <!-- run --> must mark a ```sh block, not ```ts");
    expect(parseError(`<!-- run: background ready -->\n${fence}sh\nx\n${fence}\n`)).toStartWith("FIXTURE.md:1: <!-- run: background ready --> must be");
    expect(parseError(`<!-- run: file ../x.ts -->\n${fence}ts\nx\n${fence}\n`)).toStartWith("FIXTURE.md:1: <!-- run: file ../x.ts --> needs a relative path");
    expect(parseError(`<!-- run: output -->\n${fence}\nx\n${fence}\n`)).toBe("FIXTURE.md:1: <!-- run: output --> with no run block before it");
    expect(parseError(`<!-- run -->\n${fence}sh\nx\n`)).toBe("FIXTURE.md:2: the code block opened here is never closed");
    expect(parseError(`<!-- run -->\n${fence}sh\nx\n${fence}\n<!-- run: output -->\n${fence}\n\n${fence}\n`)).toBe(
      "FIXTURE.md:5: <!-- run: output --> marks a block with no lines to find",
    );
    // A comment elsewhere is prose.
    expect(parseRunnable("<!-- a note -->\n\ntext\n")).toEqual([]);
  });

  test("output samples: <!-- output: <command> --> blocks, apart from the run steps", () => {
    const markdown = `<!-- output: npm run demo -- --polling -->\n${fence}text\ndemo: a\n\ndemo: … b\n${fence}\n`;
    expect(outputSamples(markdown)).toEqual([
      {
        command: "npm run demo -- --polling",
        line: 1,
        expected: [
          { line: 3, text: "demo: a" },
          { line: 5, text: "demo: … b" },
        ],
      },
    ]);
    expect(parseRunnable(markdown)).toEqual([]);
  });
});

describe("firstUnmatched", () => {
  const lines = (...texts: string[]) => texts.map((text, line) => ({ line, text }));
  const output = "npm warn something\nrun r_4f2a91 (deploy) → SUCCESS\n   log  Deploying checkout 1.2.3\nSUCCESS: Deployed checkout 1.2.3\n";

  test("in order, other lines between, whitespace at the ends ignored", () => {
    expect(firstUnmatched(lines("run r_4f2a91 (deploy) → SUCCESS", "  SUCCESS: Deployed checkout 1.2.3  "), output)).toBeUndefined();
    expect(firstUnmatched(lines("log  Deploying checkout 1.2.3"), output)).toBeUndefined();
    // Out of order: the second is not after the first.
    expect(firstUnmatched(lines("SUCCESS: Deployed checkout 1.2.3", "run r_4f2a91 (deploy) → SUCCESS"), output)?.text).toBe("run r_4f2a91 (deploy) → SUCCESS");
    // Whole lines: a part of one is not enough, and the same output line is not used twice.
    expect(firstUnmatched(lines("Deploying checkout"), output)?.text).toBe("Deploying checkout");
    expect(firstUnmatched(lines("npm warn something", "npm warn something"), output)?.text).toBe("npm warn something");
  });

  test("… is any characters within one line, the rest literal", () => {
    expect(firstUnmatched(lines("run … (deploy) → SUCCESS"), output)).toBeUndefined();
    expect(firstUnmatched(lines("run r_… (deploy) → …"), output)).toBeUndefined();
    expect(firstUnmatched(lines("…Deployed checkout…"), output)).toBeUndefined();
    // Not across lines, and regex characters are literal.
    expect(firstUnmatched(lines("npm warn … SUCCESS"), output)?.text).toBe("npm warn … SUCCESS");
    expect(firstUnmatched(lines("run r_4f2a91 (deploy) . SUCCESS"), output)?.text).toBe("run r_4f2a91 (deploy) . SUCCESS");
    expect(firstUnmatched(lines("run .* SUCCESS"), output)?.text).toBe("run .* SUCCESS");
  });
});

describe("substitute", () => {
  test("portside as a package argument of npm install / npm i becomes the tarball; nothing else changes", () => {
    const tarball = "/tmp/work/portside-0.1.0.tgz";
    expect(substitute("npm install portside typescript", tarball)).toBe(`npm install ${tarball} typescript`);
    expect(substitute("npm i -D yaml portside && npx portside dev", tarball)).toBe(`npm i -D yaml ${tarball} && npx portside dev`);
    expect(substitute("npm init -y\nnpm install portside # portside and its Bun", tarball)).toBe(`npm init -y\nnpm install ${tarball} # portside and its Bun`);
    expect(substitute("npm install portside-extra @acme/portside", tarball)).toBe("npm install portside-extra @acme/portside");
    expect(substitute("npm run portside; npx portside trigger deploy", tarball)).toBe("npm run portside; npx portside trigger deploy");
    expect(substitute("npm install portside", "/tmp/a b/portside.tgz")).toBe("npm install '/tmp/a b/portside.tgz'");
    expect(substitute("npm install portside", undefined)).toBe("npm install portside");
  });
});

describe("runSteps", () => {
  test("a file step writes the file in the project; run blocks run there with bash -eo pipefail and only the given environment", async () => {
    const opts = options({ env: { PATH: process.env.PATH ?? "", HOME: "/tmp", PORT: "45678" } });
    const markdown = [
      "<!-- run: file src/handlers.ts -->",
      `${fence}ts`,
      'export const greeting = "hello";',
      fence,
      "<!-- run -->",
      `${fence}sh`,
      "cat src/handlers.ts",
      'echo "port=$PORT ledger=$LEDGER dir=$(basename "$PWD")"',
      "echo to stderr >&2",
      fence,
    ].join("\n");
    const reports = await runSteps(parseRunnable(markdown, "FIXTURE.md"), opts);
    expect(readFileSync(join(opts.project, "src/handlers.ts"), "utf8")).toBe('export const greeting = "hello";\n');
    expect(reports.map((r) => [r.step.kind, r.code])).toEqual([
      ["file", 0],
      ["run", 0],
    ]);
    const dir = opts.project.split("/").pop();
    expect(reports[1]?.output).toBe(`export const greeting = "hello";\nport=45678 ledger= dir=${dir}\nto stderr\n`);
  });

  test("pipefail: a failing command in a pipeline fails the block", async () => {
    const error = await failure(`<!-- run -->\n${fence}sh\nfalse | cat\necho after\n${fence}\n`);
    expect(error?.message).toStartWith("FIXTURE.md:1: exited 1 after");
    expect(error?.output).toBe("");
  });

  test("a failing command fails the step with its exit code, the line, the block and its output so far", async () => {
    const error = await failure(`# t\n\n<!-- run -->\n${fence}sh\necho building\necho oops >&2\nexit 3\necho never\n${fence}\n`);
    expect(error).toBeInstanceOf(StepError);
    expect(error?.line).toBe(3);
    expect(error?.message).toMatch(/^FIXTURE\.md:3: exited 3 after \d+\.\d s:\n {4}echo building\n/);
    expect(error?.message).toEndWith("--- its output ---\nbuilding\noops\n");
    expect(error?.output).toBe("building\noops\n");
  });

  test("an output step that does not match fails naming the README line of the missing expected line, with the output", async () => {
    const markdown = [
      "<!-- run -->", // 1
      `${fence}sh`, // 2
      "echo 'deploy: run r_123abc (local Port emulator)'", // 3
      "echo 'SUCCESS: Deployed checkout 1.2.3'", // 4
      fence, // 5
      "<!-- run: output -->", // 6
      fence, // 7
      "deploy: run r_… (local Port emulator)", // 8
      "SUCCESS: Deployed checkout 1.2.4", // 9
      fence, // 10
    ].join("\n");
    const error = await failure(markdown);
    expect(error?.line).toBe(9);
    expect(error?.message).toStartWith(
      "FIXTURE.md:9: this expected line is not in the output of FIXTURE.md:1 (in order, after the lines before it):\n  SUCCESS: Deployed checkout 1.2.4\n--- the output of FIXTURE.md:1 ---\n",
    );
    expect(error?.message).toEndWith("SUCCESS: Deployed checkout 1.2.3\n");
    // The same with the right version, and … for the run id, passes.
    expect(await failure(markdown.replace("1.2.4", "1.2.3"))).toBeUndefined();
  });

  test("run: repo runs in the repository checkout", async () => {
    const reports = await runSteps(parseRunnable(`<!-- run: repo -->\n${fence}sh\npwd\ntest -f package.json\n${fence}\n`), options());
    expect(reports[0]?.output.trim()).toBe(repo.replace(/\/$/, ""));
  });

  test("npm install portside installs the tarball: the block runs with the substitution", async () => {
    const opts = options();
    // A stand-in npm on PATH that prints its arguments: the block as bash runs it.
    const bin = join(opts.project, "bin");
    const markdown = `<!-- run -->\n${fence}sh\nmkdir -p bin && printf '#!/bin/sh\\necho "npm $*"\\n' > bin/npm && chmod +x bin/npm\nPATH=$PWD/bin:$PATH\nnpm install portside typescript\n${fence}\n`;
    const reports = await runSteps(parseRunnable(markdown), { ...opts, tarball: "/tmp/w/portside-0.1.0.tgz" });
    expect(existsSync(bin)).toBe(true);
    expect(reports[0]?.output).toBe("npm install /tmp/w/portside-0.1.0.tgz typescript\n");
  });

  test("a foreground block past its time limit fails saying so; what it started is killed", async () => {
    const opts = options({ stepTimeoutMs: 1_000 });
    const started = performance.now();
    const error = await failure(`<!-- run -->\n${fence}sh\necho slow\nsleep 30 &\necho "$!" > sleep.pid\nwait\n${fence}\n`, opts);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(error?.message).toStartWith("FIXTURE.md:1: timed out after 1.0 s (the limit for a block):");
    expect(error?.output).toBe("slow\n");
    await Bun.sleep(100);
    expect(alive(Number(readFileSync(join(opts.project, "sleep.pid"), "utf8")))).toBe(false);
  }, 15_000);

  test("background waits for its text, an output step then reads its output, and it is killed with its children at the end", async () => {
    const opts = options();
    const markdown = [
      '<!-- run: background "listening on" -->',
      `${fence}sh`,
      "sleep 300 &",
      'echo "$!" > child.pid',
      "sleep 1",
      'echo "listening on 127.0.0.1:$PORT"',
      "sleep 0.5",
      "echo 'ready: run r_77 took 12 ms'",
      "wait",
      fence,
      "<!-- run: output -->",
      fence,
      "listening on 127.0.0.1:45678",
      "ready: run … took … ms",
      fence,
    ].join("\n");
    const started = performance.now();
    const reports = await runSteps(parseRunnable(markdown), opts);
    expect(performance.now() - started).toBeGreaterThan(1_000);
    expect(reports[0]?.output).toStartWith("listening on 127.0.0.1:45678\n");
    expect(reports[1]?.output).toBe("listening on 127.0.0.1:45678\nready: run r_77 took 12 ms\n");
    // The background shell's own child (sleep 300) is gone too: its whole process group was killed.
    const pid = Number(readFileSync(join(opts.project, "child.pid"), "utf8"));
    expect(pid).toBeGreaterThan(0);
    await Bun.sleep(100);
    expect(alive(pid)).toBe(false);
  }, 20_000);

  test("background that never prints its text fails after its time limit with the output so far; one that exits fails at once", async () => {
    const slow = await failure(`<!-- run: background "ready" -->\n${fence}sh\necho starting\nsleep 30\n${fence}\n`, { backgroundTimeoutMs: 1_000 });
    expect(slow?.message).toStartWith('FIXTURE.md:1: the background block did not print in 1.0 s "ready":');
    expect(slow?.output).toBe("starting\n");
    const exited = await failure(`<!-- run: background "ready" -->\n${fence}sh\necho no port >&2\nexit 2\n${fence}\n`);
    expect(exited?.message).toStartWith('FIXTURE.md:1: the background block exited 2 before printing "ready":');
    expect(exited?.output).toBe("no port\n");
  }, 20_000);
});
