/**
 * Operator command line for a running portside, over its authenticated /admin endpoints.
 *
 *   bun src/entry/cli.ts dead-letters list [--limit N] [--json]
 *   bun src/entry/cli.ts dead-letters show <id>
 *   bun src/entry/cli.ts dead-letters replay <id>      ingest its records again; stays parked while still refused
 *   bun src/entry/cli.ts dead-letters replay --all     replay every parked record
 *   bun src/entry/cli.ts dead-letters remove <id>
 *   bun src/entry/cli.ts runs list [--action A] [--status S] [--limit N] [--json]
 *   bun src/entry/cli.ts runs show <id>               one run's story
 *   bun src/entry/cli.ts stats
 *   bun src/entry/cli.ts actions pull|check [--out FILE] [--actions a,b] [--open]   (cli-actions.ts: Port's
 *                                                   action definitions as a typed module; reads Port, not portside)
 *   bun src/entry/cli.ts invoke <action> [--inputs JSON|@file] [--entity ID] [--user EMAIL] [--handlers FILE] [--json]
 *                                                 run one handler here, against a local Port emulator (cli-invoke.ts)
 *   bun src/entry/cli.ts <command> --help
 *
 * PORTSIDE_URL (default http://127.0.0.1:3000) or --url says where; ADMIN_TOKEN says as whom. Failures are
 * one line and exit code 1 (2 for a usage error; `actions` has its own codes); never a stack trace. `invoke`
 * needs no running portside: exit 0 when the run ends SUCCESS, 1 on FAILURE, 2 when it could not run.
 */
import { Command, CommanderError } from "commander";
import * as v from "valibot";
import { DeadLetterSummarySchema } from "../http/schemas.ts";
import { RunListSchema, statusLine } from "../observe/run-history.ts";
import { describeError } from "../shared/errors.ts";
import { registerInvoke } from "./cli-invoke.ts";
import { CommandExit, registerActionCommands } from "./cli-actions.ts";

/** The answers the CLI reads, as the endpoints' own schemas say (fields added later are let through). */
const PageSchema = v.object({ items: v.array(v.looseObject(DeadLetterSummarySchema.entries)), next: v.nullable(v.string()) });

/** A failure to report as one line. */
class CliError extends Error {}

export async function runCli(argv: string[], env: Record<string, string | undefined>, out: (line: string) => void = console.log): Promise<number> {
  const write = (text: string) => out(text.replace(/\n$/, ""));
  const program = new Command("portside-cli")
    .description("Operate a running portside over its /admin endpoints (token: ADMIN_TOKEN).")
    .option("--url <url>", "portside's address (default: PORTSIDE_URL, else http://127.0.0.1:3000)")
    .exitOverride()
    .configureOutput({ writeOut: write, writeErr: write })
    .showHelpAfterError();

  const call = async (method: string, path: string): Promise<Record<string, unknown>> => {
    const base = String(program.opts().url ?? env.PORTSIDE_URL ?? "http://127.0.0.1:3000").replace(/\/+$/, "");
    const token = env.ADMIN_TOKEN;
    let res: Response;
    try {
      res = await fetch(`${base}/admin${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
    } catch (error) {
      const cause =
        (error as { code?: string; cause?: { code?: string } }).cause?.code ??
        (error as { code?: string }).code ??
        (error instanceof Error ? error.message : "no answer");
      throw new CliError(`cannot reach portside at ${base} (${cause}); is it running, and is PORTSIDE_URL right?`);
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      throw new CliError(`${base} answered ${res.status} with something that is not portside's JSON; is PORTSIDE_URL right?`);
    }
    if (!res.ok) throw new CliError(`error ${res.status}: ${String(body.message ?? body.error ?? "request failed")}`);
    return body;
  };

  /** An answer read by its schema: what it says, typed, or one line saying it is not what portside answers. */
  const read = async <T>(schema: v.GenericSchema<unknown, T>, path: string, what: string): Promise<T> => {
    const parsed = v.safeParse(schema, await call("GET", path));
    if (!parsed.success) throw new CliError(`portside answered ${what} in a form this CLI does not know; is PORTSIDE_URL right?`);
    return parsed.output;
  };
  /** One page of the dead-letter list, as the list answers it. */
  const page = (path: string) => read(PageSchema, path, "the dead-letter list");
  /** Every parked record's id, page by page (a page holds ids and reasons, never the records' bytes). */
  const allIds = async (): Promise<string[]> => {
    const ids: string[] = [];
    for (let next: string | null = null; ; ) {
      const answer = await page(`/dead-letters?limit=1000${next ? `&after=${next}` : ""}`);
      ids.push(...answer.items.map((l) => l.id));
      next = answer.next;
      if (!next) return ids;
    }
  };

  const letters = program.command("dead-letters").description("List, inspect, replay and remove parked records.");
  letters
    .command("list")
    .description("List parked records, oldest first.")
    .option("--limit <n>", "how many (1–1000)", "100")
    .option("--json", "print JSON")
    .action(async (options: { limit: string; json?: boolean }) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError("--limit must be a whole number from 1 to 1000");
      const { items } = await page(`/dead-letters?limit=${limit}`);
      if (options.json) out(JSON.stringify(items, null, 2));
      else if (items.length === 0) out("no parked records");
      else
        for (const l of items)
          out(
            `${l.id}  ${new Date(l.parkedAt).toISOString()}  ${l.kind.padEnd(6)}  ${String(l.size).padStart(9)} B  ${l.runId ?? "-"}  ${l.source}  ${l.reason}`,
          );
    });
  letters
    .command("show")
    .description("Show one parked record with its raw bytes.")
    .argument("<id>", "the dead letter's id")
    .action(async (id: string) => out(JSON.stringify(await call("GET", `/dead-letters/${encodeURIComponent(id)}`), null, 2)));
  letters
    .command("replay")
    .description("Ingest a parked record again; one still refused stays parked.")
    .argument("[id]", "the dead letter's id")
    .option("--all", "replay every parked record")
    .action(async (id: string | undefined, options: { all?: boolean }) => {
      if (!id && !options.all) throw new CliError("replay needs an id or --all");
      const ids = options.all ? await allIds() : [id as string];
      if (ids.length === 0) throw new CliError("nothing is parked");
      let failures = 0;
      for (const one of ids) {
        try {
          const body = await call("POST", `/dead-letters/${encodeURIComponent(one)}/replay`);
          out(`${one}: replayed (${String(body.outcome)})${body.removed === false ? ", kept parked" : ""}`);
        } catch (error) {
          failures++;
          out(`${one}: ${describeError(error)}`);
        }
      }
      if (failures > 0) throw new CliError(`${failures} of ${ids.length} not replayed`);
    });
  letters
    .command("remove")
    .description("Forget a parked record.")
    .argument("<id>", "the dead letter's id")
    .action(async (id: string) => {
      await call("DELETE", `/dead-letters/${encodeURIComponent(id)}`);
      out(`${id}: removed`);
    });
  const runs = program.command("runs").description("Runs, and one run's story, from the ledger (every replica's, kept for RETENTION_HOURS).");
  runs
    .command("list")
    .description("Recent runs, newest first.")
    .option("--action <action>", "only this action")
    .option("--status <status>", "only runs in this phase: received, running, SUCCESS, FAILURE, DEFERRED")
    .option("--limit <n>", "how many (1–1000)", "50")
    .option("--json", "print JSON")
    .action(async (options: { action?: string; status?: string; limit: string; json?: boolean }) => {
      const query = new URLSearchParams({ limit: options.limit });
      if (options.action) query.set("action", options.action);
      if (options.status) query.set("status", options.status);
      const { items } = await read(RunListSchema, `/runs?${query}`, "the run list");
      if (options.json) out(JSON.stringify(items, null, 2));
      else if (items.length === 0) out("no runs");
      else for (const r of items) out(`${r.runId}  ${(r.action ?? "-").padEnd(16)}  ${statusLine(r).padEnd(8)}  attempts ${r.attempts}  ${r.summary ?? ""}`);
    });
  runs
    .command("show")
    .description("One run's story: received, started, Port's answers, how it ended.")
    .argument("<id>", "the run id")
    .action(async (id: string) => out(JSON.stringify(await call("GET", `/runs/${encodeURIComponent(id)}`), null, 2)));
  program
    .command("stats")
    .description("Ledger counts, and what was ingested since start.")
    .action(async () => out(JSON.stringify(await call("GET", "/stats"), null, 2)));
  let exitCode = 0;
  registerInvoke(program, {
    env,
    out,
    exitWith: (code) => {
      exitCode = code;
    },
  });
  registerActionCommands(program, { env, out });

  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof CommandExit) {
      if (error.message) out(error.message);
      return error.exitCode;
    }
    out(error instanceof CliError ? error.message : `error: ${describeError(error)}`);
    return 1;
  }
}

if (import.meta.main) process.exit(await runCli(process.argv.slice(2), process.env));
