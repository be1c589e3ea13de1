import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { variables } from "../../src/config.ts";

/** The README's configuration table names every variable the service reads. */
test("README documents every configuration variable", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const undocumented = Object.keys(variables).filter((name) => !readme.includes(`\`${name}\``));
  expect(undocumented).toEqual([]);
});

/** connectors/port-action-payload.md tells teams with their own template what to set: only settings portside reads. */
test("the payload template's notes name only settings portside reads, and none of the locator's internal option names", () => {
  const notes = readFileSync(new URL("../../connectors/port-action-payload.md", import.meta.url), "utf8");
  const named = [...notes.matchAll(/`([A-Z][A-Z0-9_]{3,})`/g)].map((m) => m[1] as string);
  expect(named).toContain("RUN_ID_PATH");
  // Upper-case words that are variables of some kind (with an underscore); CREATE, DELETE are operations.
  expect(named.filter((name) => name.includes("_") && !(name in variables))).toEqual([]);
  expect(notes).not.toMatch(/\b(runIdPath|actionPath|orgIdPath|operationPath|blueprintPath|entityPath|inputsPath|triggerPath)\b/);
});
