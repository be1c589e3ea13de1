import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { getHadolint } from "../support/hadolint.ts";

/**
 * connectors/team/Dockerfile, the image a team builds from its own repository with portside from npm. There
 * is no Docker engine on this project's machines, so it is never built here: hadolint lints it, and what the
 * chart and the README rely on is read from it. test/package/pack.test.ts runs its steps (npm ci --omit=dev,
 * HANDLERS, CMD) on a project that installed the packed tarball.
 */
const dockerfile = new URL("../../connectors/team/Dockerfile", import.meta.url).pathname;
const values = new URL("../../connectors/team/values.yaml", import.meta.url).pathname;

describe("the team image's Dockerfile", () => {
  test("hadolint finds nothing, not even at the info level", () => {
    const run = spawnSync(getHadolint(), ["--no-color", "--failure-threshold", "info", dockerfile], { encoding: "utf8" });
    expect(`${run.stdout}${run.stderr}`).toBe("");
    expect(run.status).toBe(0);
  }, 300_000);

  test("Node.js base, npm ci without devDependencies but with optional ones, a numeric non-root user, a HEALTHCHECK on /healthz, the launcher's `start`; HANDLERS is where values.yaml points the chart", () => {
    const lines = readFileSync(dockerfile, "utf8")
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith("#"));
    expect(lines[0]).toMatch(/^FROM node:\d+/);
    const install = lines.find((line) => line.startsWith("RUN npm ci")) ?? "";
    expect(install).toContain("--omit=dev");
    // Bun's binary is an optional dependency of the bun package.
    expect(install).not.toContain("--omit=optional");
    expect(lines.filter((line) => line.startsWith("USER "))).toEqual(["USER 1000:1000"]);
    expect(lines.find((line) => line.startsWith("HEALTHCHECK "))).toContain("/healthz");
    expect(lines.at(-1)).toBe('CMD ["/app/node_modules/.bin/portside", "start"]');
    const handlers = /\bHANDLERS=(\S+)/.exec(lines.find((line) => line.startsWith("ENV ")) ?? "")?.[1];
    expect(handlers).toBe((parse(readFileSync(values, "utf8")) as { handlers: { path: string } }).handlers.path);
  });
});
