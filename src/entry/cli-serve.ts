/**
 * `portside start` and `portside dev`: the commands that serve. What they run is loaded only when they run,
 * so `--help` and `--version` start nothing and open no ledger.
 */
import type { Command } from "commander";

export interface ServeIo {
  env: Record<string, string | undefined>;
  /** The command keeps serving: the program does not exit when it returns. */
  serve: () => void;
}

interface StartFlags {
  open?: boolean;
  demo?: boolean;
  polling?: boolean;
  webhooks?: boolean;
}

export function registerServe(program: Command, io: ServeIo): void {
  program
    .command("start")
    .description("Run the service (what `npm start` runs): production needs ORG_ID, SINK_TOKEN (or another way in) and PORT_CLIENT_ID/SECRET.")
    .option("--open", "local use without SINK_TOKEN (says so on every start); without Port credentials the local Port emulator stands in")
    .option("--demo", "open, the example handlers and the Port emulator; posts sample runs and shows them finish")
    .option("--polling", "take runs by polling Port (PORT_POLLING=true); with --demo: actions triggered in the emulator, claimed by polling")
    .option("--webhooks", "take runs from Port's signed webhooks (PORT_WEBHOOKS=true); with --demo: sent signed by the emulator")
    .action(async (flags: StartFlags) => {
      const [{ main }, { bunRuntime }] = await Promise.all([import("./start.ts"), import("./bun-runtime.ts")]);
      const args = (["open", "demo", "polling", "webhooks"] as const).filter((flag) => flags[flag] === true).map((flag) => `--${flag}`);
      io.serve();
      await main(bunRuntime(args, io.env));
    });

  program
    .command("dev")
    .description(
      "Local development: portside open with the Port emulator (ORG_ID defaults to org_portside_dev), your handler module reloaded when it changes, each run shown as it happens; trigger runs with `portside trigger` or the console.",
    )
    .option("--handlers <file>", "the handler module (default: HANDLERS, else the example handlers, src/examples/handlers.ts)")
    .action(async (flags: { handlers?: string }) => {
      const { runDev } = await import("./dev.ts");
      io.serve();
      await runDev(io.env, flags);
    });
}
