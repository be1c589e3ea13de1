/**
 * `portside trigger <action>`: a run sent to a running portside started open with the Port emulator
 * (`portside dev`, `npm start -- --open`, `npm run demo`), as Port would publish it: a run message in Port's
 * shape (testing/run-message.ts) for its organisation (GET /admin/local says which), posted to its sink. The
 * emulator takes runs it never issued in open mode (it creates each on the first report), so nothing has to be
 * declared first. Then it waits for the run to end and for its reports to be delivered, reading the run's
 * story (GET /admin/runs/<id>, which needs no token in open mode), and prints its log lines, its entities and
 * how it ended. Exit 0 on SUCCESS (or DEFERRED: a target reports it), 1 on FAILURE or when it did not end in
 * time, 2 when it could not be sent (not a local portside, bad --inputs, unreachable).
 */
import type { Command } from "commander";
import * as v from "valibot";
import { LocalSchema } from "../http/admin.ts";
import { hasEnded, isSettled, type RunStory, RunStorySchema, statusLine } from "../observe/run-history.ts";
import { legacyRunMessage, newRunId } from "../testing/run-message.ts";
import { baseUrl, CliError, unreachable, withUrl } from "./cli-admin.ts";
import { readInputs, UsageError } from "./cli-invoke.ts";
import { cliCommand } from "./cli-name.ts";

interface TriggerFlags {
  inputs: string[];
  entity?: string;
  url?: string;
  timeout: string;
}

const POLL_MS = 100;

export function registerTrigger(
  program: Command,
  io: { env: Record<string, string | undefined>; out: (line: string) => void; exitWith: (code: number) => void },
): void {
  const collect = (value: string, previous: string[]) => [...previous, value];
  withUrl(
    program
      .command("trigger")
      .description(
        "Send a run of an action to a portside started open with the Port emulator (`portside dev`, --open, --demo), wait for it to end, print its log lines and status; exit 0 on SUCCESS, 1 on FAILURE.",
      )
      .argument("<action>", "the action identifier")
      .option("--inputs <json>", "the run's inputs: a JSON object, or @file.json; repeated ones are merged", collect, [])
      .option("--entity <identifier>", "the entity the action runs on (none: a CREATE)"),
  )
    .option("--timeout <seconds>", "how long to wait for the run to end", "60")
    .action(async (action: string, flags: TriggerFlags) => {
      try {
        io.exitWith(await trigger(action, flags, io.env, io.out));
      } catch (error) {
        if (error instanceof UsageError) throw new CliError(error.message, 2);
        throw error;
      }
    });
}

async function trigger(action: string, flags: TriggerFlags, env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const inputs = Object.assign({}, ...flags.inputs.map(readInputs)) as Record<string, unknown>;
  const timeoutS = Number(flags.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new CliError("--timeout must be a number of seconds above 0", 2);
  const base = baseUrl(flags.url, env);
  const admin = env.ADMIN_TOKEN ? { authorization: `Bearer ${env.ADMIN_TOKEN}` } : undefined;
  const get = async (path: string): Promise<{ status: number; body: unknown }> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, admin ? { headers: admin } : {});
    } catch (error) {
      throw new CliError(unreachable(base, error), 2);
    }
    return { status: res.status, body: await res.json().catch(() => null) };
  };

  const local = await get("/admin/local");
  if (local.status === 401) throw new CliError(`portside at ${base} asks for ADMIN_TOKEN: set it to the token it was started with`, 2);
  const about = v.safeParse(LocalSchema, local.body);
  if (local.status !== 200 || !about.success)
    throw new CliError(
      `portside at ${base} is not in open mode: trigger sends runs only to a local portside (\`${cliCommand()} dev\`, or \`${cliCommand()} start --open\` without Port credentials); in production, trigger the action in Port`,
      2,
    );
  if (!about.output.portEmulator)
    throw new CliError(
      `portside at ${base} reports to Port (it has Port credentials), which would refuse the reports of a run it never issued; trigger the action in Port, or use \`${cliCommand()} dev\``,
      2,
    );

  const runId = newRunId();
  const message = legacyRunMessage({
    runId,
    action,
    orgId: about.output.orgId,
    inputs,
    ...(flags.entity ? { entity: flags.entity } : {}),
    user: { email: "developer@example.com" },
  });
  let sent: Response;
  try {
    sent = await fetch(`${base}/sink/runs`, {
      method: "POST",
      body: JSON.stringify(message),
      headers: { "content-type": "application/json", ...(env.SINK_TOKEN ? { authorization: `Bearer ${env.SINK_TOKEN}` } : {}) },
    });
  } catch (error) {
    throw new CliError(unreachable(base, error), 2);
  }
  if (sent.status === 401) throw new CliError(`portside at ${base} asks for SINK_TOKEN on /sink: set it to the token it was started with`, 2);
  const reply = (await sent.json().catch(() => ({}))) as { accepted?: number; parked?: number; ignored?: number; parkedReasons?: unknown[] };
  if (!sent.ok) throw new CliError(`portside at ${base} refused the run (${sent.status})`, 2);
  out(`${action}: run ${runId} sent to ${base} (organisation ${about.output.orgId}; Port is the local emulator)`);
  if (reply.parked) {
    out(`FAILURE: parked by portside: ${String(reply.parkedReasons?.[0] ?? "see its log")}`);
    return 1;
  }
  if (reply.ignored) {
    out(
      `not run: no handler for "${action}" in this portside, which leaves such runs to others (UNHANDLED_RUNS=ignore); it has ${about.output.actions.join(", ") || "no actions"}`,
    );
    return 1;
  }

  const story = await ended(runId, get, Date.now() + timeoutS * 1000);
  for (const event of story?.events ?? []) {
    if (event.what === "log") out(`  log     ${event.detail}`);
    else if (event.what === "entity") out(`  entity  ${event.detail}`);
  }
  if (!story || !hasEnded(story)) {
    out(`not ended within ${timeoutS} s (${story?.phase ?? "not recorded"}); see portside's log, or \`${cliCommand()} runs show ${runId}\``);
    return 1;
  }
  out(`${statusLine(story)}${story.summary ? `: ${story.summary}` : ""}`);
  out(`  console ${base}/console/runs/${runId}`);
  return story.phase === "FAILURE" ? 1 : 0;
}

/** The run's story once it ended and its reports went to the emulator (or the deadline passed: the latest one). */
async function ended(runId: string, get: (path: string) => Promise<{ status: number; body: unknown }>, deadline: number): Promise<RunStory | null> {
  let latest: RunStory | null = null;
  for (;;) {
    const answer = await get(`/admin/runs/${encodeURIComponent(runId)}`);
    const parsed = v.safeParse(RunStorySchema, answer.body);
    if (answer.status === 200 && parsed.success) {
      latest = parsed.output;
      if (isSettled(latest)) return latest;
    }
    if (Date.now() >= deadline) return latest;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
