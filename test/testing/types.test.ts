import { afterAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * `invoke`'s types, checked by the compiler: with a typed module (`{ actions, runs }`) the action must be one
 * of its actions and the inputs what its schema accepts — anything else is a tsc error; an untyped module
 * takes any action and a record. The file is written under .portside/ (git-ignored) and `tsc` runs on it
 * with the repository's settings, importing portside the way a team does (`portside/testing`).
 */
const repo = new URL("../..", import.meta.url).pathname;
const dir = join(repo, ".portside", `typecheck-invoke-${process.pid}`);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const source = `import * as v from "valibot";
import { defineActions, portInputs } from "portside/actions";
import { defineHandlers } from "portside/handlers";
import { invoke } from "portside/testing";

const actions = defineActions({
  deploy: {
    operation: "DAY-2",
    blueprint: "microservice",
    invocation: "KAFKA",
    inputs: v.object({ version: v.string(), replicas: v.optional(v.number()), token: v.optional(portInputs.secret(v.string())) }),
  },
  restart: { operation: "DAY-2", blueprint: "microservice", invocation: "KAFKA", inputs: v.object({ reason: v.optional(v.string()) }) },
  raw: { operation: "CREATE", blueprint: null, invocation: "WEBHOOK", inputs: null },
});
const typed = defineHandlers({ actions, runs: { deploy: async (run) => ({ summary: run.inputs.version }) } });
const untyped = defineHandlers({ runs: { deploy: async () => {} } });

// Fine:
void invoke(typed, "deploy", { inputs: { version: "1.2.3", token: "t" }, entity: "checkout" });
void invoke(typed, "restart");
void invoke(typed, "raw", { inputs: { anything: [1, 2] } });
void invoke(untyped, "any_action_at_all", { inputs: { whatever: 1 } });
void invoke(untyped, "deploy");
// Errors, one a line:
void invoke(typed, "no_such_action", { inputs: {} }); // E1
void invoke(typed, "deploy", { inputs: { verison: "1.2.3" } }); // E2
void invoke(typed, "deploy", { inputs: { version: 123 } }); // E3
void invoke(typed, "deploy"); // E4
`;

test("a typed module: an action it does not have, a misspelled input, an input of the wrong type and missing required inputs are tsc errors; an untyped module takes any action", async () => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "invoke-types.ts"), source);
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ extends: "../../tsconfig.json", include: ["invoke-types.ts"] }));
  const child = Bun.spawn([join(repo, "node_modules/.bin/tsc"), "--noEmit", "-p", join(dir, "tsconfig.json")], { cwd: repo, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  expect(await child.exited).not.toBe(0);
  const lines = source.split("\n");
  const lineOf = (marker: string) => lines.findIndex((line) => line.endsWith(`// ${marker}`)) + 1;
  const errors = (out + err)
    .split("\n")
    .filter((line) => line.includes("error TS"))
    .map((line) => line.replace(/^.*invoke-types\.ts/, "invoke-types.ts"));
  // The union's order is the compiler's.
  const actionsNamed = errors[0]
    ?.match(/parameter of type '(.*)'\.$/)?.[1]
    ?.split(" | ")
    .sort();
  expect(actionsNamed).toEqual(['"deploy"', '"raw"', '"restart"']);
  expect(errors).toEqual([
    `invoke-types.ts(${lineOf("E1")},20): error TS2345: Argument of type '"no_such_action"' is not assignable to parameter of type '${errors[0]?.match(/parameter of type '(.*)'\.$/)?.[1]}'.`,
    `invoke-types.ts(${lineOf("E2")},42): error TS2561: Object literal may only specify known properties, but 'verison' does not exist in type '{ version: string; replicas?: number | undefined; token?: string | undefined; }'. Did you mean to write 'version'?`,
    `invoke-types.ts(${lineOf("E3")},42): error TS2322: Type 'number' is not assignable to type 'string'.`,
    `invoke-types.ts(${lineOf("E4")},6): error TS2554: Expected 3 arguments, but got 2.`,
  ]);
}, 60_000);
