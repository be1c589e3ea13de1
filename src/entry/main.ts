/**
 * Bun entry of the service, what `npm start` runs: `portside start` (`bun src/entry/main.ts [--open | --demo]
 * [--polling] [--webhooks]`), the same flags and the same checks as the command line's (cli.ts), so a
 * misspelled flag is refused with a suggestion instead of ignored.
 */
import { runCli } from "./cli.ts";

const code = await runCli(["start", ...Bun.argv.slice(2)], process.env);
// null: portside is serving, until a signal stops it.
if (code !== null) process.exit(code);
