import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { cliCommand } from "./cli-name.ts";

test("the commands portside suggests: `npx portside` when the package's launcher started it, `npm run -s cli --` in a checkout", () => {
  expect(cliCommand({ PORTSIDE_COMMAND: "npx portside" })).toBe("npx portside");
  expect(cliCommand({})).toBe("npm run -s cli --");
  // Anything else a user might have set is not repeated.
  expect(cliCommand({ PORTSIDE_COMMAND: "rm -rf /" })).toBe("npm run -s cli --");
  // The launcher is what says so.
  expect(readFileSync(new URL("../../bin/portside.mjs", import.meta.url), "utf8")).toContain('PORTSIDE_COMMAND: "npx portside"');
});
