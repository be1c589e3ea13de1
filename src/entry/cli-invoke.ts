/**
 * `cli invoke <action>`: one handler run once, in this process, through the test kit (`portside/testing`):
 * the pipeline against an in-process Port emulator, nothing sent to Port. Prints the run's log lines, the
 * entities it wrote and how it ended (`--json`: the whole result). Exit 0 on SUCCESS, 1 on FAILURE, 2 when
 * it could not run (bad `--inputs`, no such file, no handler for the action).
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import type { Command } from "commander";
import { describeError } from "../shared/errors.ts";
import { HandlerModuleError, importHandlerModule } from "../targets/registry.ts";
import { type InvokeResult, InvokeError } from "../testing/invoke.ts";
import { invokeHandler } from "../testing/invoke.ts";

/** Where `invoke` finds handlers when neither --handlers nor HANDLERS says. */
export const EXAMPLE_HANDLERS = new URL("../examples/handlers.ts", import.meta.url).pathname;

/** HANDLERS_IMPORT_TIMEOUT_MS's default: how long importing the module may take. */
const IMPORT_TIMEOUT_MS = 30_000;

/** A reason `invoke` (or `trigger`) could not run, said in one line with the fix (exit 2). */
export class UsageError extends Error {}

interface InvokeFlags {
  inputs: string[];
  entity?: string;
  blueprint?: string;
  user?: string;
  secret: string[];
  handlers?: string;
  json?: boolean;
}

export interface CliIo {
  env: Record<string, string | undefined>;
  out: (line: string) => void;
  /** The process's exit code once the command is done. */
  exitWith: (code: number) => void;
}

export function registerInvoke(program: Command, io: CliIo): void {
  const collect = (value: string, previous: string[]) => [...previous, value];
  program
    .command("invoke")
    .description("Run one action's handler once, here, against a local Port emulator (nothing reaches Port); exit 0 on SUCCESS, 1 on FAILURE.")
    .argument("<action>", "the action identifier")
    .option("--inputs <json>", "the run's inputs: a JSON object, or @file.json; repeated ones are merged", collect, [])
    .option("--entity <identifier>", "the entity the action runs on (none: a CREATE)")
    .option("--blueprint <identifier>", "the action's blueprint")
    .option("--user <email>", "who triggered it (default developer@example.com)")
    .option("--secret <input>", "an input Port encrypts (marked secret in the action); repeat for more", collect, [])
    .option("--handlers <file>", "the handler module (default: HANDLERS, else src/examples/handlers.ts)")
    .option("--json", "print the whole result as JSON")
    .action(async (action: string, flags: InvokeFlags) => {
      try {
        const result = await run(action, flags, io.env);
        if (flags.json) io.out(JSON.stringify(result, null, 2));
        else for (const line of describe(action, result)) io.out(line);
        io.exitWith(result.status === "SUCCESS" ? 0 : 1);
      } catch (error) {
        if (!(error instanceof UsageError || error instanceof InvokeError || error instanceof HandlerModuleError)) throw error;
        io.out(error.message);
        io.exitWith(2);
      }
    });
}

async function run(action: string, flags: InvokeFlags, env: Record<string, string | undefined>): Promise<InvokeResult> {
  const inputs = Object.assign({}, ...flags.inputs.map(readInputs)) as Record<string, unknown>;
  const path = flags.handlers ?? env.HANDLERS ?? EXAMPLE_HANDLERS;
  const from = flags.handlers ? "--handlers" : env.HANDLERS ? "HANDLERS" : "the example handlers";
  if (!existsSync(resolve(path))) throw new UsageError(`${from}: no file at ${path}; give the path of your handler module with --handlers (or set HANDLERS)`);
  const module = await importHandlerModule(path, IMPORT_TIMEOUT_MS);
  return invokeHandler(
    module,
    action,
    {
      inputs,
      ...(flags.entity ? { entity: flags.entity } : {}),
      ...(flags.blueprint ? { blueprint: flags.blueprint } : {}),
      ...(flags.user ? { user: flags.user } : {}),
      secretInputs: flags.secret,
    },
    // Named as the developer would type it (the example handlers relative to where the CLI runs).
    { source: isAbsolute(path) && !relative(process.cwd(), path).startsWith("..") ? relative(process.cwd(), path) : path },
  );
}

/** One --inputs value: a JSON object, inline or from `@file` (a UsageError naming the fix otherwise). */
export function readInputs(value: string): Record<string, unknown> {
  let text = value;
  let what = "--inputs";
  if (value.startsWith("@")) {
    const file = value.slice(1);
    what = `--inputs ${value}`;
    if (!existsSync(file)) throw new UsageError(`${what}: no such file; give the path of a JSON file after @`);
    text = readFileSync(file, "utf8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // The parser's words without what it quotes of the text (an input's value, maybe a secret).
    const why = describeError(error).replace(/\s*"[^"]*"/g, "");
    throw new UsageError(`${what} is not valid JSON (${why}); give an object, e.g. --inputs '{"version":"1.2.3"}'`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`${what} must be a JSON object of the inputs, e.g. --inputs '{"version":"1.2.3"}'`);
  }
  return parsed as Record<string, unknown>;
}

/** The result as lines to read: the log, the entities written, how it ended. */
function describe(action: string, result: InvokeResult): string[] {
  const lines = [`${action}: run ${result.runId} (local Port emulator; nothing was sent to Port)`];
  for (const log of result.logs) lines.push(`  log     ${log}`);
  for (const entity of result.entities) {
    const verb = entity.operation === "DELETE" ? "deleted" : entity.operation === "UPDATE" ? "updated" : "upserted";
    const content = entity.properties || entity.relations ? ` ${JSON.stringify({ properties: entity.properties, relations: entity.relations })}` : "";
    lines.push(`  entity  ${verb} ${entity.blueprint}/${entity.identifier}${content}`);
  }
  lines.push(`${result.status}${result.summary ? `: ${result.summary}` : ""}`);
  for (const link of result.link === null ? [] : [result.link].flat()) lines.push(`  link    ${link}`);
  if (result.externalRunId !== null) lines.push(`  external run id  ${result.externalRunId}`);
  if (result.statusLabel !== null) lines.push(`  label   ${result.statusLabel}`);
  // What went wrong on portside's side: a write Port refused, an internal error.
  for (const line of result.serviceLogs) {
    const entry = JSON.parse(line) as { level?: string; event?: string; error?: unknown; reason?: unknown };
    if (entry.level === "error") lines.push(`  portside  ${entry.event}: ${String(entry.error ?? entry.reason ?? "")}`);
  }
  return lines;
}
