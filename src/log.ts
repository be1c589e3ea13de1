import { writeSync } from "node:fs";

/**
 * Structured logs: one JSON object per line, an `event` name from a small catalogue, and the run id on
 * every line about a run. Tests pass a sink to collect lines; nothing here reads the environment.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. `{ runId }`). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to `console.log` / `console.error` by level. */
  sink?: (line: string, level: LogLevel) => void;
  now?: () => number;
  /** Told of every line, whatever `level` lets through (the console's recent warnings listen here). */
  tap?: (level: LogLevel, event: string, fields: LogFields) => void;
  /** Writes a line as text other than JSON (LOG_FORMAT=pretty, log-pretty.ts); null leaves the line out. */
  format?: (line: LogFields & { t: string; level: LogLevel; event: string }) => string | null;
}

const defaultSink = (line: string, level: LogLevel) => {
  if (level === "error" || level === "warn") errorLine(line);
  else console.log(line);
};

/**
 * One line on standard error as it is. Bun colours what `console.error` writes to a terminal, which would
 * make a JSON line something else; a pipe or a file (a container's log, Lambda's) still gets `console.error`.
 */
export function errorLine(line: string): void {
  if (process.stderr.isTTY) writeSync(2, `${line}\n`);
  else console.error(line);
}

export function createLogger(options: LoggerOptions = {}, bound: LogFields = {}): Logger {
  const min = rank[options.level ?? "info"];
  const sink = options.sink ?? defaultSink;
  const now = options.now ?? Date.now;
  const write = (level: LogLevel, event: string, fields?: LogFields) => {
    options.tap?.(level, event, { ...bound, ...fields });
    if (rank[level] < min) return;
    const line = { t: new Date(now()).toISOString(), level, event, ...bound, ...fields };
    const text = options.format ? options.format(line) : JSON.stringify(line, errorReplacer);
    if (text !== null) sink(text, level);
  };
  return {
    debug: (e, f) => write("debug", e, f),
    info: (e, f) => write("info", e, f),
    warn: (e, f) => write("warn", e, f),
    error: (e, f) => write("error", e, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

/** Errors serialise as their name and message only: stacks and causes can carry request bodies. */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ sink: () => {} });
