/**
 * The commands that operate a running portside over its /admin endpoints: `dead-letters …`, `runs …`,
 * `stats`. `--url` or PORTSIDE_URL (default http://127.0.0.1:3000) says where; ADMIN_TOKEN says as whom.
 * A failure is one line and exit code 1.
 */
import type { Command } from "commander";
import * as v from "valibot";
import { DeadLetterSummarySchema } from "../http/schemas.ts";
import { RunListSchema, statusLine } from "../observe/run-history.ts";
import { describeError } from "../shared/errors.ts";

/** The answers the CLI reads, as the endpoints' own schemas say (fields added later are let through). */
const PageSchema = v.object({ items: v.array(v.looseObject(DeadLetterSummarySchema.entries)), next: v.nullable(v.string()) });

/** A failure to report as one line (exit code 1, or `exitCode`). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export const DEFAULT_URL = "http://127.0.0.1:3000";

/** The `--url` option of a command that talks to a running portside. */
export const withUrl = (command: Command) => command.option("--url <url>", `portside's address (default: PORTSIDE_URL, else ${DEFAULT_URL})`);

/** Where portside is: `--url`, else PORTSIDE_URL, else the default. */
export const baseUrl = (url: string | undefined, env: Record<string, string | undefined>) => String(url ?? env.PORTSIDE_URL ?? DEFAULT_URL).replace(/\/+$/, "");

/** Says why portside could not be reached, in one line. */
export function unreachable(base: string, error: unknown): string {
  const cause =
    (error as { code?: string; cause?: { code?: string } }).cause?.code ??
    (error as { code?: string }).code ??
    (error instanceof Error ? error.message : "no answer");
  return `cannot reach portside at ${base} (${cause}); is it running, and is PORTSIDE_URL right?`;
}

/**
 * One call to portside's /admin: its JSON answer, or a CliError saying what went wrong (unreachable, not
 * portside, refused). ADMIN_TOKEN is sent when set.
 */
export async function adminCall(base: string, env: Record<string, string | undefined>, method: string, path: string): Promise<Record<string, unknown>> {
  const token = env.ADMIN_TOKEN;
  let res: Response;
  try {
    res = await fetch(`${base}/admin${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (error) {
    throw new CliError(unreachable(base, error));
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
}

export function registerAdminCommands(program: Command, io: { env: Record<string, string | undefined>; out: (line: string) => void }): void {
  const { env, out } = io;
  const call = (url: string | undefined, method: string, path: string) => adminCall(baseUrl(url, env), env, method, path);

  /** An answer read by its schema: what it says, typed, or one line saying it is not what portside answers. */
  const read = async <T>(url: string | undefined, schema: v.GenericSchema<unknown, T>, path: string, what: string): Promise<T> => {
    const parsed = v.safeParse(schema, await call(url, "GET", path));
    if (!parsed.success) throw new CliError(`portside answered ${what} in a form this CLI does not know; is PORTSIDE_URL right?`);
    return parsed.output;
  };
  /** One page of the dead-letter list, as the list answers it. */
  const page = (url: string | undefined, path: string) => read(url, PageSchema, path, "the dead-letter list");
  /** Every parked record's id, page by page (a page holds ids and reasons, never the records' bytes). */
  const allIds = async (url: string | undefined): Promise<string[]> => {
    const ids: string[] = [];
    for (let next: string | null = null; ; ) {
      const answer = await page(url, `/dead-letters?limit=1000${next ? `&after=${next}` : ""}`);
      ids.push(...answer.items.map((l) => l.id));
      next = answer.next;
      if (!next) return ids;
    }
  };

  const letters = program.command("dead-letters").description("List, inspect, replay and remove parked records (a running portside's /admin).");
  withUrl(letters.command("list").description("List parked records, oldest first."))
    .option("--limit <n>", "how many (1–1000)", "100")
    .option("--json", "print JSON")
    .action(async (options: { limit: string; json?: boolean; url?: string }) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError("--limit must be a whole number from 1 to 1000");
      const { items } = await page(options.url, `/dead-letters?limit=${limit}`);
      if (options.json) out(JSON.stringify(items, null, 2));
      else if (items.length === 0) out("no parked records");
      else
        for (const l of items)
          out(
            `${l.id}  ${new Date(l.parkedAt).toISOString()}  ${l.kind.padEnd(6)}  ${String(l.size).padStart(9)} B  ${l.runId ?? "-"}  ${l.source}  ${l.reason}`,
          );
    });
  withUrl(letters.command("show").description("Show one parked record with its raw bytes."))
    .argument("<id>", "the dead letter's id")
    .action(async (id: string, options: { url?: string }) =>
      out(JSON.stringify(await call(options.url, "GET", `/dead-letters/${encodeURIComponent(id)}`), null, 2)),
    );
  withUrl(letters.command("replay").description("Ingest a parked record again; one still refused stays parked."))
    .argument("[id]", "the dead letter's id")
    .option("--all", "replay every parked record")
    .action(async (id: string | undefined, options: { all?: boolean; url?: string }) => {
      if (!id && !options.all) throw new CliError("replay needs an id or --all");
      const ids = options.all ? await allIds(options.url) : [id as string];
      if (ids.length === 0) throw new CliError("nothing is parked");
      let failures = 0;
      for (const one of ids) {
        try {
          const body = await call(options.url, "POST", `/dead-letters/${encodeURIComponent(one)}/replay`);
          out(`${one}: replayed (${String(body.outcome)})${body.removed === false ? ", kept parked" : ""}`);
        } catch (error) {
          failures++;
          out(`${one}: ${describeError(error)}`);
        }
      }
      if (failures > 0) throw new CliError(`${failures} of ${ids.length} not replayed`);
    });
  withUrl(letters.command("remove").description("Forget a parked record."))
    .argument("<id>", "the dead letter's id")
    .action(async (id: string, options: { url?: string }) => {
      await call(options.url, "DELETE", `/dead-letters/${encodeURIComponent(id)}`);
      out(`${id}: removed`);
    });
  const runs = program.command("runs").description("Runs, and one run's story, from a running portside's ledger (every replica's, kept for RETENTION_HOURS).");
  withUrl(runs.command("list").description("Recent runs, newest first."))
    .option("--action <action>", "only this action")
    .option("--status <status>", "only runs in this phase: received, running, SUCCESS, FAILURE, DEFERRED")
    .option("--limit <n>", "how many (1–1000)", "50")
    .option("--json", "print JSON")
    .action(async (options: { action?: string; status?: string; limit: string; json?: boolean; url?: string }) => {
      const query = new URLSearchParams({ limit: options.limit });
      if (options.action) query.set("action", options.action);
      if (options.status) query.set("status", options.status);
      const { items } = await read(options.url, RunListSchema, `/runs?${query}`, "the run list");
      if (options.json) out(JSON.stringify(items, null, 2));
      else if (items.length === 0) out("no runs");
      else for (const r of items) out(`${r.runId}  ${(r.action ?? "-").padEnd(16)}  ${statusLine(r).padEnd(8)}  attempts ${r.attempts}  ${r.summary ?? ""}`);
    });
  withUrl(runs.command("show").description("One run's story: received, started, Port's answers, how it ended."))
    .argument("<id>", "the run id")
    .action(async (id: string, options: { url?: string }) => out(JSON.stringify(await call(options.url, "GET", `/runs/${encodeURIComponent(id)}`), null, 2)));
  withUrl(program.command("stats").description("A running portside's ledger counts, and what it ingested since start.")).action(
    async (options: { url?: string }) => out(JSON.stringify(await call(options.url, "GET", "/stats"), null, 2)),
  );
}
