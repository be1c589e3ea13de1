import { isAbsolute, relative } from "node:path";
import { cliCommand } from "./cli-name.ts";
import { bunRuntime } from "./bun-runtime.ts";
import { reloadingRegistry } from "./dev-reload.ts";
import { showRuns } from "./dev-runs.ts";
import { main, type Started } from "./start.ts";

/**
 * `portside dev`: the loop of writing a handler. portside starts open for local use with the Port emulator
 * standing in for Port (Port credentials in the environment are not used; ORG_ID defaults to
 * org_portside_dev), on the handler module of `--handlers`, HANDLERS or the example handlers. When the module
 * (or a file beside it) changes, it is loaded again in the same process (dev-reload.ts): the ledger, the
 * emulator and the server stay, runs in flight finish on the old code. Each run is shown as it happens
 * (dev-runs.ts); on a terminal the log reads as lines for people (LOG_FORMAT=auto), JSON otherwise.
 *
 * Defaults it sets unless the environment says otherwise: LEDGER=sqlite:./.portside/dev.sqlite (its own
 * file, kept across restarts), UNHANDLED_RUNS=fail (nothing else consumes these runs, so a run of an action
 * with no handler ends FAILURE saying so instead of waiting forever).
 */
export const EXAMPLE_HANDLERS = new URL("../examples/handlers.ts", import.meta.url).pathname;

/** The pipeline's lines a run's own dev lines say again (left out of pretty lines, kept in JSON). */
const TOLD_BY_RUN_LINES = ["run.started", "run.finished", "run.failed", "run.deferred", "run.no_handler"];

export async function runDev(given: Record<string, string | undefined>, flags: { handlers?: string }): Promise<void> {
  const handlers = flags.handlers ?? (given.HANDLERS?.trim() || EXAMPLE_HANDLERS);
  const { PORT_CLIENT_ID: _id, PORT_CLIENT_SECRET: _secret, ...rest } = given;
  const env: Record<string, string | undefined> = {
    ...rest,
    HANDLERS: handlers,
    PORTSIDE_OPEN: "true",
    LEDGER: given.LEDGER?.trim() || "sqlite:./.portside/dev.sqlite",
    UNHANDLED_RUNS: given.UNHANDLED_RUNS?.trim() || "fail",
  };
  const ignoredCredentials = Boolean(given.PORT_CLIENT_ID || given.PORT_CLIENT_SECRET);
  let actions: readonly string[] = [];
  let stopShowing = () => {};
  await main(bunRuntime([], env), {
    prettyOnTerminal: true,
    quietEvents: TOLD_BY_RUN_LINES,
    async registry(load, { config, logger }) {
      const { registry } = await reloadingRegistry({ path: config.handlersPath ?? handlers, load, logger });
      actions = registry.actions;
      return registry;
    },
    listening(started) {
      stopShowing();
      stopShowing = showRuns(started.service.feed, started.logger);
      if (ignoredCredentials)
        started.logger.info("dev.port_credentials_unused", {
          message: "PORT_CLIENT_ID and PORT_CLIENT_SECRET are set but not used: portside dev reports to the local Port emulator, never to Port",
        });
      announce(started, handlers, actions);
    },
  });
}

/** The line that says where portside dev is, where its console is, and how to send it a run. */
function announce({ url, config, logger, emulatorUrl }: Started, handlers: string, actions: readonly string[]): void {
  const local = url.replace("://0.0.0.0:", "://127.0.0.1:");
  const at = local === "http://127.0.0.1:3000" ? "" : ` --url ${local}`;
  logger.info("dev.ready", {
    url: local,
    console: `${local}/console`,
    handlers: shown(handlers),
    actions: [...actions],
    emulator: emulatorUrl,
    org: config.orgId,
    trigger: `${cliCommand()} trigger ${actions[0] ?? "<action>"} --inputs '<JSON>' [--entity <id>]${at}`,
  });
}

/** A path as typed: relative to the working directory when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return isAbsolute(path) && rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}
