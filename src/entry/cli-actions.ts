/**
 * `actions pull` and `actions check`: the team's generated module of Port's action definitions
 * (src/actions/generate.ts), written from Port, and compared with Port.
 *
 *   portside actions pull  [--out FILE] [--actions a,b] [--open]   writes FILE (default src/port-actions.ts)
 *   portside actions check [--out FILE] [--actions a,b] [--open]   0: FILE matches Port; 1: it does not (each
 *                                                                         action and field that changed is printed)
 *
 * Port is read as the service reads it (ORG_ID, PORT_API_URL, PORT_CLIENT_ID/SECRET, or Port's agent's names);
 * `--open` reads an in-process Port emulator instead, loaded with PORT_EMULATOR_ACTIONS or the example
 * actions. A failure (no credentials, Port refusing, an unknown action in --actions, a file that is not a
 * generated module) is one line naming the fix, and exit code 2.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, relative } from "node:path";
import type { Command } from "commander";
import type { ActionDefinition } from "../actions/definition.ts";
import { diffDocuments } from "../actions/diff.ts";
import { codeOf, generateActionsModule, type ModuleSource, readActionsModule } from "../actions/generate.ts";
import { isReceived, type NormalizedDocument, normalizeDefinitions } from "../actions/normalize.ts";
import { ConfigError, loadPortAccess } from "../config.ts";
import { createPortEmulator } from "../emulator/port-emulator.ts";
import { createPortClient, type PortClient } from "../port/client.ts";
import { credentialsRefused } from "../port/auth-check.ts";
import { PortApiError, PortNetworkError } from "../port/errors.ts";
import { describeError } from "../shared/errors.ts";
import { EMULATOR_CREDENTIALS } from "./demo.ts";
import { EXAMPLE_ACTIONS_PATH, loadEmulatorActions } from "./emulator-actions.ts";
import { cliCommand } from "./cli-name.ts";

/** Ends the command with this exit code, after printing the message (when there is one). */
export class CommandExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_OUT = "src/port-actions.ts";
const CALL_TIMEOUT_MS = 30_000;

interface Options {
  out: string;
  actions?: string;
  open?: boolean;
}

/** Where the definitions are read: a client, and how the module's header names the place. */
interface Source {
  client: PortClient;
  from: string;
  baseUrl: string;
}

export function registerActionCommands(program: Command, deps: { env: Record<string, string | undefined>; out: (line: string) => void }): void {
  const { env, out } = deps;
  const actions = program.command("actions").description("The generated module of Port's action definitions (typed handler inputs).");
  const options = (command: Command) =>
    command
      .option("--out <file>", "the generated module", DEFAULT_OUT)
      .option("--actions <a,b>", "only these actions (identifiers, comma-separated)")
      .option("--open", "read the local Port emulator (PORT_EMULATOR_ACTIONS, else the example actions) instead of Port");

  options(actions.command("pull").description("Write the module from Port's action definitions.")).action(async (o: Options) => {
    const selected = o.actions === undefined ? null : selection(o.actions);
    const source = await sourceOf(o, env);
    const definitions = await read(source, selected);
    const missing = (selected ?? []).filter((identifier) => !definitions.some((d) => d.identifier === identifier));
    if (missing.length > 0)
      throw new CommandExit(
        2,
        `--actions names actions Port does not have: ${missing.join(", ")}; check the identifiers, or leave --actions out to pull every action`,
      );
    const doc = normalizeDefinitions(definitions, selected);
    await mkdir(dirname(o.out), { recursive: true });
    await writeFile(o.out, generateActionsModule(doc, moduleSource(o, selected, source)));
    const typed = doc.actions.filter(isReceived).map((a) => a.identifier);
    const others = doc.actions.filter((a) => !isReceived(a)).map((a) => `${a.identifier} (${a.invocation})`);
    out(`wrote ${o.out}: ${typed.length} action(s) typed${typed.length > 0 ? ` (${typed.join(", ")})` : ""}`);
    if (others.length > 0) out(`not typed (portside receives KAFKA and WEBHOOK runs only): ${others.join(", ")}`);
  });

  options(actions.command("check").description("Exit 1, naming what changed, when the module is not what Port's definitions give.")).action(
    async (o: Options) => {
      const file = await readFile(o.out, "utf8").catch(() => null);
      if (file === null) throw new CommandExit(2, `${o.out} does not exist: write it with \`${command("pull", o, null)}\``);
      const module = readActionsModule(file);
      if (!module.ok)
        throw new CommandExit(2, `${o.out} is not a module \`actions pull\` wrote: ${module.reason}; write it again with \`${command("pull", o, null)}\``);
      const selected = o.actions === undefined ? module.doc.selected : selection(o.actions);
      const source = await sourceOf(o, env);
      const live = normalizeDefinitions(await read(source, selected), selected);
      const lines = [
        ...diffDocuments(module.doc, live).flatMap((change) =>
          change.change === "changed"
            ? change.fields.map((field) => `  ${change.action}: ${field}`)
            : [`  ${change.action}: ${change.change === "added" ? "added (in Port, not in the file)" : "removed (in the file, not in Port)"}`],
        ),
        ...(codeOf(file) === codeOf(regenerate(module.doc, o, source))
          ? []
          : ["  the file's code is not what `actions pull` writes for its definitions (edited by hand, or written by another portside)"]),
      ];
      if (lines.length === 0) {
        out(`${o.out} matches Port's action definitions (${live.actions.length} action(s), from ${source.from})`);
        return;
      }
      out(`${o.out} does not match Port's action definitions (from ${source.from}):`);
      for (const line of lines) out(line);
      throw new CommandExit(1, `run \`${command("pull", o, selected)}\` to write it again`);
    },
  );
}

/** The module's text for a document, as `pull` would write it (the header aside, which `codeOf` leaves out). */
const regenerate = (doc: NormalizedDocument, o: Options, source: Source) => generateActionsModule(doc, moduleSource(o, doc.selected, source));

function selection(text: string): string[] {
  const list = [
    ...new Set(
      text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  if (list.length === 0) throw new CommandExit(2, "--actions needs action identifiers, comma-separated (--actions deploy,create_vm)");
  return list;
}

/** The command as a person types it (no credentials: those come from the environment). */
function command(verb: "pull" | "check", o: Options, selected: readonly string[] | null): string {
  const parts = [`${cliCommand()} actions`, verb];
  if (o.out !== DEFAULT_OUT) parts.push(`--out ${o.out}`);
  if (selected) parts.push(`--actions ${selected.join(",")}`);
  if (o.open) parts.push("--open");
  return parts.join(" ");
}

const moduleSource = (o: Options, selected: readonly string[] | null, source: Source): ModuleSource => ({
  command: command("pull", o, selected),
  check: command("check", o, null),
  from: source.from,
});

/** Port (its API, with the environment's credentials), or with `--open` an emulator in this process. */
async function sourceOf(o: Options, env: Record<string, string | undefined>): Promise<Source> {
  if (o.open) {
    const emulator = createPortEmulator(EMULATOR_CREDENTIALS);
    const path = env.PORT_EMULATOR_ACTIONS?.trim() || EXAMPLE_ACTIONS_PATH;
    await loadEmulatorActions(emulator.state, path, (p) => readFile(p, "utf8")).catch((error: unknown) => {
      throw new CommandExit(2, `PORT_EMULATOR_ACTIONS: ${describeError(error)}; fix the file, or unset PORT_EMULATOR_ACTIONS for the example actions`);
    });
    const baseUrl = "http://port-emulator.invalid";
    const fetch = (input: string | URL | Request, init?: RequestInit) => Promise.resolve(emulator.app.fetch(new Request(input, init)));
    const client = createPortClient({ baseUrl, ...EMULATOR_CREDENTIALS, fetch, timeoutMs: CALL_TIMEOUT_MS });
    return { client, baseUrl, from: `the local Port emulator (--open) loaded with ${shown(path)}` };
  }
  let access: ReturnType<typeof loadPortAccess>;
  try {
    access = loadPortAccess(env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CommandExit(2, `${error.message} (Or --open reads the local Port emulator instead.)`);
    throw error;
  }
  const client = createPortClient({
    baseUrl: access.portApiUrl,
    clientId: access.clientId,
    clientSecret: access.clientSecret.reveal(),
    fetch: (input, init) => fetch(input, init),
    timeoutMs: CALL_TIMEOUT_MS,
  });
  return { client, baseUrl: access.portApiUrl, from: `${access.portApiUrl}, organisation ${access.orgId}` };
}

/** The definitions, or one line saying why Port could not give them and what to do. */
async function read(source: Source, selected: readonly string[] | null): Promise<ActionDefinition[]> {
  try {
    return await source.client.actionDefinitions(selected ?? undefined);
  } catch (error) {
    throw new CommandExit(2, whyNot(error, source.baseUrl));
  }
}

function whyNot(error: unknown, baseUrl: string): string {
  if (error instanceof PortApiError && error.path === "/v1/auth/access_token") return credentialsRefused(error.status, error.code);
  if (error instanceof PortApiError && error.isAuthProblem)
    return `Port refused to list the actions (${error.status}${error.code ? ` ${error.code}` : ""}): check that these credentials may read the organisation's actions, and that Port's IP allow-list lets this machine in`;
  if (error instanceof PortApiError) return `${describeError(error)}; check PORT_API_URL (${baseUrl})`;
  if (error instanceof PortNetworkError)
    return `Port could not be reached at ${baseUrl} (${describeError(error.cause ?? error)}); check PORT_API_URL and the network`;
  return describeError(error);
}

/** A path as the header shows it: relative to the working directory when inside it (the same text on every machine). */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}
