/**
 * `portside`: the one command line. Each command lives in its own module; this file makes the program.
 *
 *   portside start [--open] [--demo] [--polling] [--webhooks]   the service (what `npm start` runs; cli-serve.ts)
 *   portside dev [--handlers FILE]                 open local mode with the Port emulator, the handler module
 *                                                  reloaded when it changes, runs shown as they happen (dev.ts)
 *   portside trigger <action> [--inputs JSON|@file] [--entity ID] [--url URL]
 *                                                  send a run to a portside in open or dev mode, wait for it
 *                                                  to end, print its logs and status (cli-trigger.ts)
 *   portside invoke <action> [--inputs JSON|@file] [--entity ID] [--user EMAIL] [--handlers FILE] [--json]
 *                                                  run one handler here, against a local Port emulator (cli-invoke.ts)
 *   portside actions pull|check [--out FILE] [--actions a,b] [--open]   (cli-actions.ts: Port's action definitions
 *                                                  as a typed module; reads Port, not portside)
 *   portside dead-letters list|show|replay|remove …, runs list|show …, stats
 *                                                  a running portside's /admin (cli-admin.ts)
 *   portside --help, portside <command> --help, portside --version
 *
 * From a clone: `npm run -s cli -- <command> …` (or `npx bun src/entry/cli.ts <command> …`). `--help` and
 * `--version` start nothing and open no ledger. An unknown command or flag is refused with a suggestion and
 * exit code 2; other failures are one line and exit code 1 (2 when a command could not run; `actions` has its
 * own codes); never a stack trace.
 */
import { Command, CommanderError } from "commander";
import pkg from "../../package.json" with { type: "json" };
import { describeError } from "../shared/errors.ts";
import { CliError, registerAdminCommands } from "./cli-admin.ts";
import { CommandExit, registerActionCommands } from "./cli-actions.ts";
import { registerInvoke } from "./cli-invoke.ts";
import { registerServe } from "./cli-serve.ts";
import { registerTrigger } from "./cli-trigger.ts";

/**
 * Runs the command line `argv` (without the program's name). Resolves with the exit code, or null when the
 * command keeps serving (`start`, `dev`: a signal ends the process). `out` takes what a command prints, `err`
 * the refusals of the command line itself (by default standard output and standard error).
 */
export async function runCli(
  argv: string[],
  env: Record<string, string | undefined>,
  out: (line: string) => void = console.log,
  err: (line: string) => void = out === console.log ? console.error : out,
): Promise<number | null> {
  const lines = (to: (line: string) => void) => (text: string) => {
    for (const line of text.replace(/\n$/, "").split("\n")) to(line);
  };
  const program = new Command("portside")
    .description("Runs your code for Port self-service actions and catalog changes.")
    .version(pkg.version, "-V, --version", "print portside's version")
    .helpOption("-h, --help", "print help for a command")
    .exitOverride()
    .configureOutput({ writeOut: lines(out), writeErr: lines(err) })
    .showSuggestionAfterError(true)
    .allowUnknownOption(false)
    .allowExcessArguments(false);

  let exitCode = 0;
  let serving = false;
  const io = {
    env,
    out,
    exitWith: (code: number) => {
      exitCode = code;
    },
    serve: () => {
      serving = true;
    },
  };
  registerServe(program, io);
  registerTrigger(program, io);
  registerInvoke(program, io);
  registerActionCommands(program, io);
  registerAdminCommands(program, io);

  try {
    await program.parseAsync(argv, { from: "user" });
    return serving ? null : exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof CommandExit) {
      if (error.message) out(error.message);
      return error.exitCode;
    }
    out(error instanceof CliError ? error.message : `error: ${describeError(error)}`);
    return error instanceof CliError ? error.exitCode : 1;
  }
}

if (import.meta.main) {
  const code = await runCli(process.argv.slice(2), process.env);
  if (code !== null) process.exit(code);
}
