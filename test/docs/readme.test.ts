import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { variables } from "../../src/config.ts";

/** The README's configuration table names every variable the service reads. */
test("README documents every configuration variable", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const undocumented = Object.keys(variables).filter((name) => !readme.includes(`\`${name}\``));
  expect(undocumented).toEqual([]);
});
