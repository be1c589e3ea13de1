import { expect, test } from "bun:test";
import { locateImportFailure } from "./import-errors.ts";

/** The shapes real processes show are covered by test/hardening/startup.test.ts (Bun) and test/deno/deno-run.test.ts. */
const noFiles = () => Promise.reject(new Error("not read"));

test("Deno on a terminal: the place in coloured text, on its own line or at the end of the first", async () => {
  const coloured = new TypeError(
    'Module not found "file:///srv/h/nowhere.ts".\n    at \u001b[0m\u001b[36mfile:///srv/h/my%20handlers.ts\u001b[0m:\u001b[0m\u001b[33m1\u001b[0m:\u001b[0m\u001b[33m19\u001b[0m',
  );
  expect(await locateImportFailure(coloured, "file:///srv/h/my%20handlers.ts", noFiles)).toEqual({
    at: { file: "/srv/h/my handlers.ts", line: 1, column: 19 },
    message: 'Module not found "file:///srv/h/nowhere.ts".',
  });
  const inline = new SyntaxError("The requested module './a.ts' does not provide an export named 'nope' at file:///srv/h/handlers.ts:1:10");
  expect(await locateImportFailure(inline, "file:///srv/h/handlers.ts", noFiles)).toEqual({
    at: { file: "/srv/h/handlers.ts", line: 1, column: 10 },
    message: "The requested module './a.ts' does not provide an export named 'nope'",
  });
});

test("a throw: the first frame in the user's code, not a dependency's; only its place is taken", async () => {
  const error = new Error("no region");
  error.stack = [
    "Error: no region",
    "    at resolve (/srv/h/node_modules/some-sdk/index.js:10:5)",
    "    at connect (/srv/h/clients.ts:7:3)",
    "    at /srv/h/handlers.ts:2:1",
  ].join("\n");
  expect(await locateImportFailure(error, "file:///srv/h/handlers.ts", noFiles)).toEqual({
    at: { file: "/srv/h/clients.ts", line: 7, column: 3 },
    message: "no region",
  });
  expect(await locateImportFailure("a string", "file:///srv/h/handlers.ts", noFiles)).toEqual({ at: null, message: "a string" });
});

test("Bun's missing module whose referrer cannot be read: the message alone", async () => {
  const resolve = Object.assign(new Error("Cannot find module './x.ts' imported from /srv/h/handlers.ts"), {
    specifier: "./x.ts",
    referrer: "/srv/h/handlers.ts",
    position: null,
  });
  expect(await locateImportFailure(resolve, "file:///srv/h/handlers.ts", noFiles)).toEqual({
    at: null,
    message: "Cannot find module './x.ts' imported from /srv/h/handlers.ts",
  });
});
