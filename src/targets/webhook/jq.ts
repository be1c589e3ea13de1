/**
 * jq for agent mapping files: real jq (jq-wasm `3.0.0-jq-1.8.2`, pinned exactly — see /work/notes/jq-engines.md
 * for why this engine) in a child process of the same runtime (`jq-host.ts`), started once and reused for
 * every evaluation, on Bun and on Deno alike.
 *
 * Every evaluation is bounded: its input (`maxInputBytes`), its output (`maxOutputBytes`) and its time
 * (`timeoutMs`). A program still running at its time limit is stopped by killing the host (the only thing
 * that stops a WebAssembly loop on either runtime); the next evaluation starts a new one (~150 ms). Passing a
 * bound rejects with `JqLimitError`, so a runaway mapping fails its run with a reason instead of a hung
 * agent. Evaluations run one at a time per engine, in order; beyond `maxQueued` waiting, a caller waits for
 * room before its input is serialized (a burst of forwarded runs is slower, never failed for it).
 *
 * The host gets an empty environment: what a program may read of `env` is passed explicitly with each call
 * (`jq-program.ts`), never the process environment.
 */
import { spawn, type ChildProcess } from "node:child_process";
import process from "node:process";

export interface JqLimits {
  /** Longest one evaluation may run, ms (default 2 s; jq-wasm evaluates a whole mapping in ~2 ms). */
  timeoutMs: number;
  /** Largest input, bytes of JSON text (default 4 MiB: a Port message is at most 1 MiB, a report context holds it and an answer). */
  maxInputBytes: number;
  /** Largest output (stdout and stderr), bytes (default 4 MiB). */
  maxOutputBytes: number;
  /** Most evaluations queued for the host, their input serialized (default 1000); more wait their turn. */
  maxQueued: number;
}

export const DEFAULT_JQ_LIMITS: JqLimits = { timeoutMs: 2_000, maxInputBytes: 4 * 1024 * 1024, maxOutputBytes: 4 * 1024 * 1024, maxQueued: 1_000 };

/** jq's own answer: what the jq CLI prints and its exit code (0 ok, 3 compile error, 5 runtime error). */
export interface JqResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** An evaluation passed one of its bounds; never retried (the same program on the same input does it again). */
export class JqLimitError extends Error {
  override name = "JqLimitError";
  readonly retriable = false;
  constructor(
    readonly limit: "time" | "input" | "output",
    message: string,
  ) {
    super(message);
  }
}

/** The jq host could not be started or stopped answering (not the program's fault). */
export class JqHostError extends Error {
  override name = "JqHostError";
}

export interface JqEngine {
  /**
   * Runs `program` over `input` (any JSON value) as `jq -c` would, with each of `vars` bound by
   * `--argjson name value`. Resolves with jq's output and exit code whatever the program did; rejects only
   * when a bound was passed (`JqLimitError`) or the host failed (`JqHostError`).
   */
  run(input: unknown, program: string, vars?: Record<string, unknown>): Promise<JqResult>;
  /** The jq version the host loaded (starts the host if needed). */
  version(): Promise<string>;
  /** Hosts started so far (1 unless a program was stopped at its time limit or the host died). */
  readonly hostsStarted: number;
  /** Stops the host; waiting and later evaluations are refused. */
  close(): Promise<void>;
}

export interface JqEngineOptions {
  limits?: Partial<JqLimits>;
  /** Longest the host may take to load jq, ms (default 15 s). */
  startTimeoutMs?: number;
}

interface Pending {
  id: number;
  line: string;
  resolve: (result: JqResult) => void;
  reject: (error: Error) => void;
}

interface Host {
  child: ChildProcess;
  ready: Promise<string>;
  buffered: string;
  /** The reply line of the evaluation in progress (or the ready line at start). */
  onLine?: ((line: string) => void) | undefined;
  /** The evaluation in progress cannot finish: output over the cap, or the host died. */
  onFail?: ((error: Error) => void) | undefined;
  dead: boolean;
}

const HOST_SCRIPT = new URL("./jq-host.ts", import.meta.url);
const encoder = new TextEncoder();

/** The command that runs the host with this process's runtime (Bun or Deno). */
export function hostCommand(): [string, string[]] {
  const script = decodeURIComponent(HOST_SCRIPT.pathname);
  if (process.versions.bun) return [process.execPath, [script]];
  if (process.versions.deno) return [process.execPath, ["run", "--quiet", "--no-prompt", "--allow-read", "--allow-env", script]];
  throw new JqHostError("jq evaluation needs Bun or Deno (it runs jq-host.ts with the same runtime)");
}

export function createJqEngine(opts: JqEngineOptions = {}): JqEngine {
  const limits: JqLimits = { ...DEFAULT_JQ_LIMITS, ...opts.limits };
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  const queue: Pending[] = [];
  /** Callers waiting for a place in `queue`, first come first served; `reserved`: places taken, not yet queued. */
  const waiting: Array<() => void> = [];
  let reserved = 0;
  let host: Host | undefined;
  let busy = false;
  let closed = false;
  let nextId = 1;
  let hostsStarted = 0;

  function start(): Host {
    const [command, args] = hostCommand();
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "ignore"], env: {} });
    hostsStarted++;
    const started: Host = { child, buffered: "", dead: false, ready: Promise.resolve("") };
    started.ready = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        stop(started);
        reject(new JqHostError(`the jq host did not start within ${startTimeoutMs} ms`));
      }, startTimeoutMs);
      const settle = (action: () => void) => {
        clearTimeout(timer);
        started.onLine = undefined;
        started.onFail = undefined;
        action();
      };
      started.onLine = (line) => {
        const ready = safeParse(line) as { ready?: unknown } | undefined;
        const version = ready?.ready;
        settle(() => (typeof version === "string" ? resolve(version) : reject(new JqHostError("the jq host did not start with its version line"))));
      };
      started.onFail = (error) => settle(() => reject(new JqHostError(`the jq host did not start (${error.message}); is jq-wasm installed?`)));
    });
    started.ready.catch(() => undefined);
    child.once("error", (err) => started.onFail?.(err));
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      started.buffered += chunk;
      // A reply is one line; more than the output cap (JSON-escaped, so up to 6× + framing) is not waited for.
      if (started.buffered.length > limits.maxOutputBytes * 6 + 1024) {
        stop(started);
        started.onFail?.(new JqLimitError("output", overOutput()));
        return;
      }
      for (let end = started.buffered.indexOf("\n"); end >= 0; end = started.buffered.indexOf("\n")) {
        const line = started.buffered.slice(0, end);
        started.buffered = started.buffered.slice(end + 1);
        started.onLine?.(line);
      }
    });
    child.once("exit", (code, signal) => {
      started.dead = true;
      if (host === started) host = undefined;
      started.onFail?.(new JqHostError(`the jq host exited (${signal ?? `code ${code}`})`));
    });
    // Writing to a host that died is reported by its exit, not as an unhandled error.
    child.stdin?.on("error", () => undefined);
    return started;
  }

  function stop(target: Host): void {
    target.dead = true;
    if (host === target) host = undefined;
    if (target.child.exitCode === null && target.child.signalCode === null) target.child.kill("SIGKILL");
  }

  /** A place in `queue` came free: it goes to the first caller waiting for one. */
  function handRoomOn(): void {
    const next = waiting.shift();
    if (!next) return;
    reserved++;
    next();
  }

  /** Takes a place in `queue` for the caller: now when there is one and nobody waits before it (undefined), else once handed one. */
  function takePlace(): Promise<void> | undefined {
    if (queue.length + reserved < limits.maxQueued && waiting.length === 0) {
      reserved++;
      return undefined;
    }
    return new Promise<void>((resolve) => waiting.push(resolve));
  }

  const overOutput = () => `the jq program's output is over ${limits.maxOutputBytes} bytes`;

  async function pump(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      for (let next = queue.shift(); next; next = queue.shift()) {
        handRoomOn();
        await evaluate(next);
      }
    } finally {
      busy = false;
    }
  }

  async function evaluate(pending: Pending): Promise<void> {
    if (closed) return pending.reject(new JqHostError("the jq engine is closed"));
    host ??= start();
    const target = host;
    try {
      await target.ready;
    } catch (err) {
      return pending.reject(err as Error);
    }
    await new Promise<void>((done) => {
      const finish = (action: () => void) => {
        clearTimeout(timer);
        target.onLine = undefined;
        target.onFail = undefined;
        action();
        done();
      };
      const timer = setTimeout(() => {
        stop(target);
        finish(() => pending.reject(new JqLimitError("time", `the jq program ran longer than ${limits.timeoutMs} ms and was stopped`)));
      }, limits.timeoutMs);
      target.onFail = (error) => finish(() => pending.reject(error));
      target.onLine = (line) => {
        const reply = safeParse(line) as (Partial<JqResult> & { outputBytes?: number }) | undefined;
        if (!reply) return finish(() => pending.reject(new JqHostError("the jq host answered a line that is not JSON")));
        if (reply.outputBytes !== undefined) return finish(() => pending.reject(new JqLimitError("output", overOutput())));
        finish(() => pending.resolve({ stdout: reply.stdout ?? "", stderr: reply.stderr ?? "", exitCode: reply.exitCode ?? -1 }));
      };
      target.child.stdin?.write(`${pending.line}\n`);
    });
  }

  return {
    get hostsStarted() {
      return hostsStarted;
    },
    async run(input, program, vars = {}) {
      if (closed) throw new JqHostError("the jq engine is closed");
      const wait = takePlace();
      if (wait) await wait;
      // The place becomes the queued evaluation below, or is handed on.
      reserved--;
      if (closed) throw new JqHostError("the jq engine is closed");
      const text = JSON.stringify(input ?? null);
      const inputBytes = encoder.encode(text).byteLength;
      if (inputBytes > limits.maxInputBytes) {
        handRoomOn();
        throw new JqLimitError("input", `the jq input is ${inputBytes} bytes, over the ${limits.maxInputBytes}-byte limit`);
      }
      const args = ["-c", ...Object.entries(vars).flatMap(([name, value]) => ["--argjson", name, JSON.stringify(value ?? null)])];
      return new Promise<JqResult>((resolve, reject) => {
        const id = nextId++;
        queue.push({ id, line: JSON.stringify({ id, input: text, program, args, maxOutputBytes: limits.maxOutputBytes }), resolve, reject });
        void pump();
      });
    },
    async version() {
      host ??= start();
      return host.ready;
    },
    async close() {
      closed = true;
      for (const pending of queue.splice(0)) pending.reject(new JqHostError("the jq engine is closed"));
      while (waiting.length > 0) handRoomOn();
      const last = host;
      if (last && last.child.exitCode === null && last.child.signalCode === null) {
        const exited = new Promise((resolve) => last.child.once("exit", resolve));
        stop(last);
        await exited;
      }
    },
  };
}

function safeParse(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
