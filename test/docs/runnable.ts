import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, normalize } from "node:path";

/**
 * README code blocks a test runs, marked by an HTML comment (invisible on GitHub) on the line right before
 * the block's opening fence:
 *
 *   <!-- run -->                       before ```sh: run it with `bash -eo pipefail` in the project directory
 *   <!-- run: repo -->                 before ```sh: run it in the repository checkout instead (read-only commands)
 *   <!-- run: file handlers.ts -->     before any block: write its content to that path (relative) in the project
 *   <!-- run: background "<text>" -->  before ```sh: start it in the background and wait until its output
 *                                      contains <text> (90 s); it is stopped, with its children, at the end
 *   <!-- run: output -->               before ``` or ```text: the previous run's (or background's) output
 *                                      contains these lines in order, other lines between them allowed
 *   <!-- output: npm run demo -->      before ``` or ```text: what `npm run demo` prints (test/docs/demo.test.ts)
 *
 * The project directory is one fresh temp dir outside the repository, shared by every step in document
 * order. A step's output is its stdout and stderr together, as written. An expected line matches an output
 * line with leading and trailing whitespace ignored, `…` standing for any characters within that line (run
 * ids, times); blank expected lines are left out.
 *
 * Run blocks get only PATH (this test's, with node and npm), HOME, NO_COLOR=1, npm_config_update_notifier=false,
 * PORT=<a free loopback port> and PORTSIDE_URL=http://127.0.0.1:<that port> (so `npx portside dev` listens
 * there and `npx portside trigger` finds it); LEDGER is not set. A foreground block may take 120 s, one with
 * `npm install`/`npm i`/`npm ci` 300 s; processes it leaves behind are killed when it ends.
 *
 * The one rewrite (there is no registry holding portside here): in a run block, the word `portside` as a
 * package argument of `npm install` or `npm i` becomes the path of the tarball `npm pack` made of this
 * checkout. Nothing else in a block is changed.
 *
 * A marker not followed, on the very next line, by a fence is an error; so is an unknown marker word, and
 * any other comment right before a fence (a misspelt marker never silently skips a block). Comments and
 * fences inside a code block are its text, not markers.
 */

export interface ExpectedLine {
  /** 1-based line of the markdown it is on. */
  line: number;
  text: string;
}

export type Step =
  | { kind: "run"; line: number; code: string; where: "project" | "repo" }
  | { kind: "background"; line: number; code: string; waitFor: string }
  | { kind: "file"; line: number; path: string; content: string }
  | { kind: "output"; line: number; expected: ExpectedLine[] };

/** A `<!-- output: <command> -->` block: what the command prints. */
export interface OutputSample {
  command: string;
  line: number;
  expected: ExpectedLine[];
}

/** The README the docs tests read: README.md of this checkout; README_PATH names another (a scratch copy with markers, to try them). */
export function readmePath(): string {
  return process.env.README_PATH || new URL("../../README.md", import.meta.url).pathname;
}

/** A comment or a block in the wrong shape, with `source:line` in its message. */
export class MarkdownError extends Error {}

interface Marked {
  /** The comment's text between `<!--` and `-->`, trimmed. */
  marker: string;
  line: number;
  /** The fence's info string's first word ("" for none). */
  lang: string;
  content: string;
  /** 1-based line of the block's first content line. */
  contentLine: number;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)/;
const COMMENT = /^\s*<!--(.*?)-->\s*$/;

/** Every comment line that marks the fenced block right after it; `run…` comments must mark one, other comments right before a fence must be markers. */
function markedBlocks(markdown: string, source: string): Marked[] {
  const lines = markdown.split(/\r?\n/);
  const marked: Marked[] = [];
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string;
    const fence = FENCE.exec(text);
    if (fence) {
      // Skip the block: what is inside is its text, never a marker.
      const end = closingFence(lines, i, fence, source);
      i = end;
      continue;
    }
    const comment = COMMENT.exec(text);
    if (!comment) continue;
    const marker = (comment[1] as string).trim();
    const next = lines[i + 1] ?? "";
    const nextFence = FENCE.exec(next);
    const isMarker = /^run\b/.test(marker) || /^output\s*:/.test(marker);
    if (!nextFence) {
      if (isMarker) throw new MarkdownError(`${source}:${i + 1}: the marker <!-- ${marker} --> is not followed, on the next line, by a code fence`);
      continue;
    }
    if (!isMarker) {
      throw new MarkdownError(
        `${source}:${i + 1}: unknown marker <!-- ${marker} --> before a code block (known: run, run: repo, run: file <path>, run: background "<text>", run: output, output: <command>)`,
      );
    }
    const end = closingFence(lines, i + 1, nextFence, source);
    const indent = (nextFence[1] as string).length;
    const body = lines.slice(i + 2, end).map((l) => l.slice(Math.min(indent, /^ */.exec(l)?.[0].length ?? 0)));
    marked.push({ marker, line: i + 1, lang: (nextFence[3] as string).toLowerCase(), content: body.join("\n"), contentLine: i + 3 });
    i = end;
  }
  return marked;
}

/** The line index of the fence that closes the one opened at `open`. */
function closingFence(lines: string[], open: number, fence: RegExpExecArray, source: string): number {
  const [char, length] = [(fence[2] as string)[0] as string, (fence[2] as string).length];
  const closing = new RegExp(`^\\s*\\${char}{${length},}\\s*$`);
  for (let j = open + 1; j < lines.length; j++) if (closing.test(lines[j] as string)) return j;
  throw new MarkdownError(`${source}:${open + 1}: the code block opened here is never closed`);
}

/** An output block's lines to find; one with none would check nothing, so it is an error. */
function expectedLines(block: Marked, source: string): ExpectedLine[] {
  const lines = block.content
    .split("\n")
    .map((text, k) => ({ line: block.contentLine + k, text: text.trim() }))
    .filter((e) => e.text !== "");
  if (lines.length === 0) throw new MarkdownError(`${source}:${block.line}: <!-- ${block.marker} --> marks a block with no lines to find`);
  return lines;
}

const SHELL = new Set(["sh", "bash"]);
const PLAIN = new Set(["", "text"]);

/** The `<!-- run… -->` steps of `markdown`, in document order. `source` names it in errors ("README.md"). */
export function parseRunnable(markdown: string, source = "README.md"): Step[] {
  const steps: Step[] = [];
  for (const block of markedBlocks(markdown, source)) {
    if (!/^run\b/.test(block.marker)) continue;
    const where = `${source}:${block.line}`;
    const word = /^run(?:\s*:\s*(.*))?$/s.exec(block.marker);
    const rest = word?.[1]?.trim();
    const needLang = (allowed: Set<string>, shown: string) => {
      if (!allowed.has(block.lang)) throw new MarkdownError(`${where}: <!-- ${block.marker} --> must mark a ${shown} block, not \`\`\`${block.lang}`);
    };
    if (word && rest === undefined) {
      needLang(SHELL, "```sh");
      steps.push({ kind: "run", line: block.line, code: block.content, where: "project" });
    } else if (rest === "repo") {
      needLang(SHELL, "```sh");
      steps.push({ kind: "run", line: block.line, code: block.content, where: "repo" });
    } else if (rest === "output") {
      needLang(PLAIN, "plain ``` (or ```text)");
      if (!steps.some((s) => s.kind === "run" || s.kind === "background"))
        throw new MarkdownError(`${where}: <!-- run: output --> with no run block before it`);
      steps.push({ kind: "output", line: block.line, expected: expectedLines(block, source) });
    } else if (rest?.startsWith("file ") || rest === "file") {
      const path = rest.slice(4).trim();
      if (!path || isAbsolute(path) || normalize(path).split("/").includes("..")) {
        throw new MarkdownError(`${where}: <!-- ${block.marker} --> needs a relative path inside the project`);
      }
      steps.push({ kind: "file", line: block.line, path, content: block.content.endsWith("\n") ? block.content : `${block.content}\n` });
    } else if (rest?.startsWith("background")) {
      const text = /^background\s+"([^"]+)"$/.exec(rest)?.[1];
      if (!text) throw new MarkdownError(`${where}: <!-- ${block.marker} --> must be <!-- run: background "<text to wait for>" -->`);
      needLang(SHELL, "```sh");
      steps.push({ kind: "background", line: block.line, code: block.content, waitFor: text });
    } else {
      throw new MarkdownError(
        `${where}: unknown marker <!-- ${block.marker} --> (known: run, run: repo, run: file <path>, run: background "<text>", run: output)`,
      );
    }
  }
  return steps;
}

/** The `<!-- output: <command> -->` blocks of `markdown`. */
export function outputSamples(markdown: string, source = "README.md"): OutputSample[] {
  const samples: OutputSample[] = [];
  for (const block of markedBlocks(markdown, source)) {
    const command = /^output\s*:\s*(.+)$/s.exec(block.marker)?.[1]?.trim();
    if (command === undefined) continue;
    if (!PLAIN.has(block.lang)) throw new MarkdownError(`${source}:${block.line}: <!-- output: … --> must mark a plain \`\`\` (or \`\`\`text) block`);
    samples.push({ command, line: block.line, expected: expectedLines(block, source) });
  }
  return samples;
}

/** An expected line as a whole-line pattern: `…` is any characters within the line, the rest literal. */
function linePattern(expected: string): RegExp {
  const literal = expected
    .trim()
    .split("…")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${literal.join(".*")}$`);
}

/**
 * Whether `output` has the expected lines in order (other lines may be between them): the first expected
 * line not found after the ones before it, or undefined when all are.
 */
export function firstUnmatched<E extends { text: string }>(expected: readonly E[], output: string | readonly string[]): E | undefined {
  const lines = (typeof output === "string" ? output.split(/\r?\n/) : output).map((l) => l.trim());
  let at = 0;
  for (const line of expected) {
    const pattern = linePattern(line.text);
    while (at < lines.length && !pattern.test(lines[at] as string)) at++;
    if (at === lines.length) return line;
    at++;
  }
  return undefined;
}

export interface RunOptions {
  /** Names the markdown in messages ("README.md"). */
  source: string;
  /** Where run, file and background steps work (an empty temp dir outside the repository). */
  project: string;
  /** Where `run: repo` steps run. */
  repo: string;
  /** The environment of every block (see the header). */
  env: Record<string, string>;
  /** `npm pack`'s tarball of this checkout: `npm install portside` installs it. */
  tarball?: string;
  /** Each step as it ends (or starts, for background ones). */
  log?: (line: string) => void;
  stepTimeoutMs?: number;
  installTimeoutMs?: number;
  backgroundTimeoutMs?: number;
}

export interface StepReport {
  step: Step;
  code: number | null;
  ms: number;
  output: string;
}

/** A step that failed: its line and the output so far are in the message, and here. */
export class StepError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly output: string,
  ) {
    super(message);
  }
}

const NPM_INSTALL = /\bnpm\s+(?:install|i|ci|add)\b/;

/** The one rewrite: `portside` as a package argument of `npm install` / `npm i` becomes the tarball's path. */
export function substitute(code: string, tarball: string | undefined): string {
  if (!tarball) return code;
  const quoted = /^[\w./@+-]+$/.test(tarball) ? tarball : `'${tarball.replaceAll("'", "'\\''")}'`;
  return code.replace(/\bnpm(\s+)(install|i)\b([^;&|#\n]*)/g, (_all, space: string, verb: string, args: string) => {
    return `npm${space}${verb}${args.replace(/(^|\s)portside(?=\s|$)/g, `$1${quoted}`)}`;
  });
}

interface Started {
  child: ReturnType<typeof Bun.spawn>;
  log: string;
  started: number;
}

const indent = (code: string) =>
  code
    .trimEnd()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const tail = (text: string, n = 6000) => (text.length > n ? `…${text.slice(-n)}` : text);

/** SIGTERM to the child's process group, SIGKILL to it after `graceMs`; the group may be gone already. */
async function stopGroup(child: ReturnType<typeof Bun.spawn>, graceMs: number): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid, name);
    } catch {
      // No process left in the group.
    }
  };
  signal("SIGTERM");
  await Promise.race([child.exited, Bun.sleep(graceMs)]);
  signal("SIGKILL");
  await child.exited;
}

/**
 * Runs `steps` in order; throws a StepError naming the failing step's line, with its output. Background
 * processes are stopped (their whole process group) before it returns or throws.
 */
export async function runSteps(steps: readonly Step[], options: RunOptions): Promise<StepReport[]> {
  const logs = mkdtempSync(join(tmpdir(), "portside-docs-logs-"));
  const say = options.log ?? (() => {});
  const background: Started[] = [];
  const reports: StepReport[] = [];
  const where = (line: number) => `${options.source}:${line}`;
  const start = (step: Step & { code: string }, cwd: string): Started => {
    const log = join(logs, `line-${step.line}.log`);
    const fd = openSync(log, "w");
    try {
      const child = Bun.spawn(["bash", "-eo", "pipefail", "-c", substitute(step.code, options.tarball)], {
        cwd,
        env: options.env,
        stdin: "ignore",
        stdout: fd,
        stderr: fd,
        detached: true,
      });
      return { child, log, started: performance.now() };
    } finally {
      closeSync(fd);
    }
  };
  const read = (log: string) => readFileSync(log, "utf8");
  /** The step the next `run: output` reads. */
  let last: { step: Step; read: () => string; running: () => boolean } | undefined;
  try {
    for (const step of steps) {
      if (step.kind === "file") {
        const target = join(options.project, step.path);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, step.content);
        say(`${where(step.line)} file ${step.path}: written (${step.content.length} bytes)`);
        reports.push({ step, code: 0, ms: 0, output: "" });
      } else if (step.kind === "run") {
        const limit = NPM_INSTALL.test(step.code)
          ? { ms: options.installTimeoutMs ?? 300_000, why: "the limit for a block that runs npm install" }
          : { ms: options.stepTimeoutMs ?? 120_000, why: "the limit for a block" };
        const run = start(step, step.where === "repo" ? options.repo : options.project);
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          void stopGroup(run.child, 2_000);
        }, limit.ms);
        const code = await run.child.exited;
        clearTimeout(timer);
        // What it left behind (a process it started and did not wait for) goes with it.
        await stopGroup(run.child, 0);
        const ms = performance.now() - run.started;
        const output = read(run.log);
        say(`${where(step.line)} ${step.where === "repo" ? "run: repo" : "run"} → exit ${code} in ${seconds(ms)}\n${indent(step.code)}`);
        if (timedOut) {
          throw new StepError(
            `${where(step.line)}: timed out after ${seconds(limit.ms)} (${limit.why}):\n${indent(step.code)}\n--- its output ---\n${tail(output)}`,
            step.line,
            output,
          );
        }
        if (code !== 0) {
          throw new StepError(
            `${where(step.line)}: exited ${code} after ${seconds(ms)}:\n${indent(step.code)}\n--- its output ---\n${tail(output)}`,
            step.line,
            output,
          );
        }
        reports.push({ step, code, ms, output });
        last = { step, read: () => output, running: () => false };
      } else if (step.kind === "background") {
        const run = start(step, options.project);
        background.push(run);
        let exited: number | null = null;
        void run.child.exited.then((code) => {
          exited = code;
        });
        const limit = options.backgroundTimeoutMs ?? 90_000;
        const deadline = Date.now() + limit;
        while (!read(run.log).includes(step.waitFor)) {
          if (exited !== null || Date.now() > deadline) {
            const output = read(run.log);
            const why = exited !== null ? `exited ${exited} before printing` : `did not print in ${seconds(limit)}`;
            throw new StepError(
              `${where(step.line)}: the background block ${why} "${step.waitFor}":\n${indent(step.code)}\n--- its output ---\n${tail(output)}`,
              step.line,
              output,
            );
          }
          await Bun.sleep(100);
        }
        const ms = performance.now() - run.started;
        say(`${where(step.line)} run: background → printed "${step.waitFor}" in ${seconds(ms)}, running\n${indent(step.code)}`);
        reports.push({ step, code: null, ms, output: read(run.log) });
        last = { step, read: () => read(run.log), running: () => exited === null };
      } else {
        if (!last) throw new StepError(`${where(step.line)}: <!-- run: output --> with no run block before it`, step.line, "");
        const of = last;
        const started = performance.now();
        // A background block's output is still growing: wait for the lines as for its ready text.
        const deadline = Date.now() + (of.running() ? (options.backgroundTimeoutMs ?? 90_000) : 0);
        let missing = firstUnmatched(step.expected, of.read());
        while (missing && of.running() && Date.now() < deadline) {
          await Bun.sleep(100);
          missing = firstUnmatched(step.expected, of.read());
        }
        const output = of.read();
        if (missing) {
          throw new StepError(
            `${where(missing.line)}: this expected line is not in the output of ${where(of.step.line)} (in order, after the lines before it):\n  ${missing.text}\n--- the output of ${where(of.step.line)} ---\n${tail(output)}`,
            missing.line,
            output,
          );
        }
        say(`${where(step.line)} run: output → ${step.expected.length} lines found in the output of ${where(of.step.line)}`);
        reports.push({ step, code: 0, ms: performance.now() - started, output });
      }
    }
    return reports;
  } finally {
    await Promise.all(background.map((run) => stopGroup(run.child, 5_000)));
    rmSync(logs, { recursive: true, force: true });
  }
}
