import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { CREDENTIALS, cli, EVERY_INPUT, generatedDir, repo, servedEmulator } from "./cli.ts";

/**
 * `npm run -s cli -- actions check` as a team runs it (in CI, say): 0 while the generated module matches
 * Port's definitions; 1 once one changed, naming each action and field; 2, in one line naming the fix, when
 * Port cannot be read or the file is not a generated module. `--open` reads the in-process emulator loaded
 * with PORT_EMULATOR_ACTIONS (here a copy of the every-input definitions this test edits).
 */
const dir = generatedDir("check");
const definitionsFile = join(dir, "port-actions.json");
const out = relative(repo, join(dir, "port-actions.ts"));
const open = { PORT_EMULATOR_ACTIONS: definitionsFile };

type Definition = { identifier: string; description?: string; trigger: { userInputs: { properties: Record<string, Record<string, unknown>> } } };
const original = JSON.parse(readFileSync(EVERY_INPUT, "utf8")) as { actions: Definition[] };
const writeDefinitions = (edit: (actions: Definition[]) => Definition[] = (a) => a) =>
  writeFileSync(definitionsFile, JSON.stringify({ ok: true, actions: edit(structuredClone(original.actions)) }));
const input = (actions: Definition[], action: string) => (actions.find((a) => a.identifier === action) as Definition).trigger.userInputs.properties;

const served: { stop?: () => void } = {};
afterAll(() => served.stop?.());

describe("actions check", () => {
  test("0 while the module matches; 1 once a definition changed, naming each action and field; 0 again after a pull", async () => {
    writeDefinitions();
    expect(await cli(["actions", "pull", "--open", "--out", out], open)).toMatchObject({ code: 0, stderr: "" });
    expect(await cli(["actions", "check", "--open", "--out", out], open)).toEqual({
      code: 0,
      stdout: `${out} matches Port's action definitions (5 action(s), from the local Port emulator (--open) loaded with ${relative(repo, definitionsFile)})\n`,
      stderr: "",
    });

    // What the module is not made of changes nothing.
    writeDefinitions((actions) => actions.map((a) => ({ ...a, description: "reworded", icon: "Rocket" })));
    expect((await cli(["actions", "check", "--open", "--out", out], open)).code).toBe(0);

    writeDefinitions((actions) => {
      const scaffold = input(actions, "scaffold_service");
      scaffold.service_name = { ...scaffold.service_name, pattern: "^[a-z-]+-svc$" };
      scaffold.rollout = { type: "number", minimum: 1 };
      delete scaffold.cluster;
      input(actions, "deploy-service").environment = { type: "string", enum: ["staging", "production", "sandbox"] };
      const rollback = { ...structuredClone(actions.find((a) => a.identifier === "open_pr") as Definition), identifier: "rollback" };
      return [...actions.filter((a) => a.identifier !== "restart"), rollback];
    });
    expect(await cli(["actions", "check", "--open", "--out", out], open)).toEqual({
      code: 1,
      stdout: [
        `${out} does not match Port's action definitions (from the local Port emulator (--open) loaded with ${relative(repo, definitionsFile)}):`,
        "  deploy-service: inputs.environment.enum: changed",
        "  restart: removed (in the file, not in Port)",
        "  rollback: added (in Port, not in the file)",
        "  scaffold_service: inputs.cluster: removed",
        "  scaffold_service: inputs.rollout: added",
        "  scaffold_service: inputs.service_name.pattern: changed",
        `run \`npm run -s cli -- actions pull --out ${out} --open\` to write it again`,
        "",
      ].join("\n"),
      stderr: "",
    });

    expect((await cli(["actions", "pull", "--open", "--out", out], open)).code).toBe(0);
    expect((await cli(["actions", "check", "--open", "--out", out], open)).code).toBe(0);
  }, 60_000);

  test("a module pulled with --actions is checked for those actions (the file says which)", async () => {
    writeDefinitions();
    const some = relative(repo, join(dir, "some.ts"));
    expect((await cli(["actions", "pull", "--open", "--out", some, "--actions", "restart,deploy-service"], open)).code).toBe(0);
    expect((await cli(["actions", "check", "--open", "--out", some], open)).stdout).toStartWith(`${some} matches Port's action definitions (2 action(s)`);
    writeDefinitions((actions) => actions.filter((a) => a.identifier !== "restart"));
    expect((await cli(["actions", "check", "--open", "--out", some], open)).stdout).toContain("\n  restart: removed (in the file, not in Port)\n");
  }, 30_000);

  test("a module whose code was edited by hand is not what Port's definitions give: 1; a formatter's changes are not edits", async () => {
    writeDefinitions();
    const edited = relative(repo, join(dir, "edited.ts"));
    expect((await cli(["actions", "pull", "--open", "--out", edited], open)).code).toBe(0);
    const text = readFileSync(join(repo, edited), "utf8");
    writeFileSync(join(repo, edited), text.replace(/,\n(\s*[}\])])/g, "\n$1").replaceAll("    ", "\t"));
    expect((await cli(["actions", "check", "--open", "--out", edited], open)).code).toBe(0);
    writeFileSync(join(repo, edited), text.replace("v.minLength(8)", "v.minLength(1)"));
    const check = await cli(["actions", "check", "--open", "--out", edited], open);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(
      "\n  the file's code is not what `actions pull` writes for its definitions (edited by hand, or written by another portside)\n",
    );
  }, 30_000);

  test("2, in one line naming the fix: bad credentials, no credentials, no file, a file that is not a generated module", async () => {
    writeDefinitions();
    expect((await cli(["actions", "pull", "--open", "--out", out], open)).code).toBe(0);
    const emulator = servedEmulator(original);
    served.stop = emulator.stop;
    const wrong = await cli(["actions", "check", "--out", out], { ...emulator.env, PORT_CLIENT_SECRET: "not-the-secret-at-all" });
    expect(wrong).toEqual({
      code: 2,
      stdout:
        "Port refused the credentials (401 unauthorized): check PORT_CLIENT_ID and PORT_CLIENT_SECRET (Port → Credentials) and PORT_API_URL (the region)\n",
      stderr: "",
    });
    expect(emulator.emulator.state.count("listActions")).toBe(0);

    const { PORT_CLIENT_ID: _id, PORT_CLIENT_SECRET: _secret, ...withoutCredentials } = emulator.env;
    expect(await cli(["actions", "check", "--out", out], withoutCredentials)).toEqual({
      code: 2,
      stdout: "PORT_CLIENT_ID: is not set. Port client id (Port → Credentials). (Or --open reads the local Port emulator instead.)\n",
      stderr: "",
    });
    expect(await cli(["actions", "check", "--open", "--out", "test/.generated/check/none.ts"], open)).toEqual({
      code: 2,
      stdout: "test/.generated/check/none.ts does not exist: write it with `npm run -s cli -- actions pull --out test/.generated/check/none.ts --open`\n",
      stderr: "",
    });
    writeFileSync(join(dir, "plain.ts"), "export const actions = {};\n");
    expect((await cli(["actions", "check", "--open", "--out", "test/.generated/check/plain.ts"], open)).stdout).toBe(
      "test/.generated/check/plain.ts is not a module `actions pull` wrote: it has no `// portside:definitions` line, so it was not written by `actions pull`; write it again with `npm run -s cli -- actions pull --out test/.generated/check/plain.ts --open`\n",
    );

    emulator.emulator.state.failNext(1, 403, { endpoint: "listActions" });
    expect(await cli(["actions", "check", "--out", out], emulator.env)).toEqual({
      code: 2,
      stdout:
        "Port refused to list the actions (403 emulated_failure): check that these credentials may read the organisation's actions, and that Port's IP allow-list lets this machine in\n",
      stderr: "",
    });
    writeFileSync(join(dir, "broken.json"), "[{");
    expect(await cli(["actions", "check", "--open", "--out", out], { PORT_EMULATOR_ACTIONS: join(dir, "broken.json") })).toMatchObject({
      code: 2,
      stdout: expect.stringMatching(
        /^PORT_EMULATOR_ACTIONS: \S+broken\.json is not a JSON file of action definitions \(.+\); fix the file, or unset PORT_EMULATOR_ACTIONS for the example actions\n$/,
      ),
    });

    // With the right credentials, the same Port's definitions match the file pulled from the emulator's copy of them.
    const right = await cli(["actions", "check", "--out", out], emulator.env);
    expect(right.code).toBe(0);
    for (const result of [wrong, right]) expect(result.stdout).not.toContain(CREDENTIALS.clientSecret);
  }, 30_000);
});
