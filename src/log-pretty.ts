import type { LogFields, LogLevel } from "./log.ts";

/**
 * Log lines for people (LOG_FORMAT=pretty; `portside dev` on a terminal): the time, the level and the event,
 * the message, then the other fields as `name=value`. A run's lines from the dev loop (`dev.run_*`) read as
 * the run's story: received, each log line, each entity, how it ended. The same fields as the JSON lines,
 * nothing more: errors are their name and message, never a stack.
 */
export interface PrettyOptions {
  /** ANSI colours: only for a terminal, and not when NO_COLOR is set. */
  color: boolean;
  /** Events left out: what other lines already say (the pipeline's run.* lines, told again by the run's own lines). */
  quiet?: readonly string[];
}

type Line = LogFields & { t: string; level: LogLevel; event: string };

const LEVEL_COLOURS: Record<LogLevel, number> = { debug: 90, info: 36, warn: 33, error: 31 };
const STATUS_COLOURS: Record<string, number> = { SUCCESS: 32, FAILURE: 31, DEFERRED: 34 };

export function prettyFormat(options: PrettyOptions): (line: Line) => string | null {
  const quiet = new Set(options.quiet ?? []);
  const paint = (code: number, text: string) => (options.color ? `\u001b[${code}m${text}\u001b[0m` : text);
  return (line) => {
    if (quiet.has(line.event)) return null;
    const { t, level, event, ...fields } = line;
    const time = paint(90, t.slice(11, 19));
    if (event.startsWith("dev.run_")) return runLine(time, event, fields, paint);
    if (event === "dev.ready") return ready(time, fields, paint);
    const { message, ...rest } = fields;
    const head = `${time} ${paint(LEVEL_COLOURS[level], level.toUpperCase().padEnd(5))} ${event}`;
    const text = message === undefined ? "" : `  ${shown(message)}`;
    const more = Object.entries(rest)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => `${paint(90, `${name}=`)}${shown(value)}`)
      .join(" ");
    return `${head}${text}${more ? `  ${more}` : ""}`;
  };
}

/** A run's line of the dev loop: `deploy r_1a2b  log  Deploying …`. */
function runLine(time: string, event: string, fields: LogFields, paint: (code: number, text: string) => string): string {
  const who = `${time} ${paint(1, String(fields.action ?? "?"))} ${paint(90, String(fields.runId ?? ""))}`;
  switch (event) {
    case "dev.run_received":
      return `${who}  received${fields.source ? ` from ${String(fields.source)}` : ""}`;
    case "dev.run_log":
      return String(fields.message ?? "")
        .split("\n")
        .map((text) => `${who}  ${paint(90, "log")}  ${text}`)
        .join("\n");
    case "dev.run_entity":
      return `${who}  ${paint(90, "entity")}  ${String(fields.entity ?? "")}`;
    case "dev.run_ended": {
      const status = String(fields.status ?? "");
      const seconds = typeof fields.seconds === "number" ? paint(90, ` (${took(fields.seconds)})`) : "";
      return `${who}  ${paint(STATUS_COLOURS[status] ?? 1, status)}${fields.summary ? `  ${String(fields.summary)}` : ""}${seconds}`;
    }
    default:
      return `${who}  ${event}`;
  }
}

/** `portside dev`'s start: where it listens, the handlers, the console, how to trigger a run. */
function ready(time: string, f: LogFields, paint: (code: number, text: string) => string): string {
  const actions = Array.isArray(f.actions) && f.actions.length > 0 ? f.actions.join(", ") : "no actions";
  return [
    `${time} ${paint(1, "portside dev")}  ${String(f.url)}  ${paint(90, `(open, for local use: organisation ${String(f.org)}; Port is the local emulator${f.emulator ? ` at ${String(f.emulator)}` : ""})`)}`,
    `  handlers  ${String(f.handlers)}: ${actions} ${paint(90, "(saved changes are loaded again; runs in flight finish on the old code)")}`,
    `  console   ${String(f.console)} ${paint(90, "(runs, and a form to send one)")}`,
    `  trigger   ${String(f.trigger)}`,
  ].join("\n");
}

const took = (seconds: number) => (seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`);

/** A field's value in one line: text as it is, an error as its name and message, anything else as JSON. */
function shown(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  const text = JSON.stringify(value, (_key, v: unknown) => (v instanceof Error ? `${v.name}: ${v.message}` : v));
  return text ?? String(value);
}
