import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { loadConfig } from "../../src/config.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";

/**
 * The docker compose stack cannot run here (no Docker engine); what can be checked without one is: the
 * images' health checks ask what their services answer, and the portside image runs the Bun the project
 * is tested with.
 */
const repo = new URL("../..", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, repo), "utf8");

test("the portside image is the Bun version the project installs and tests with", () => {
  const bun = (JSON.parse(read("node_modules/bun/package.json")) as { version: string }).version;
  const images = [...read("connectors/docker/portside.Dockerfile").matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  expect(images).toEqual([`oven/bun:${bun}`, `oven/bun:${bun}`]);
});

test("the emulator container passes the health check it inherits from the portside image: /healthz, not recorded as a Port call", async () => {
  expect(read("connectors/docker/portside.Dockerfile")).toContain("/healthz");
  const compose = parse(read("docker-compose.yml")) as { services: Record<string, { command?: string[]; healthcheck?: unknown }> };
  expect(compose.services["port-emulator"]?.command).toEqual(["bun", "src/emulator/serve.ts"]);
  const emulator = createPortEmulator({});
  const res = await emulator.app.request("/healthz");
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ ok: true, emulator: true });
  expect(emulator.state.calls).toHaveLength(0);
});

test("no health check in the compose file needs curl", () => {
  const compose = parse(read("docker-compose.yml")) as { services: Record<string, { healthcheck?: { test?: string[] } }> };
  const checks = Object.entries(compose.services).flatMap(([name, s]) => (s.healthcheck?.test ? [[name, s.healthcheck.test.join(" ")]] : []));
  expect(checks.length).toBeGreaterThan(0);
  expect(checks.filter(([, command]) => /\bcurl\b/.test(command ?? ""))).toEqual([]);
});

test("portside's settings in the compose file pass its configuration check (the emulator's http:// URL included)", () => {
  const compose = parse(read("docker-compose.yml")) as { services: Record<string, { environment?: Record<string, string> }> };
  // As compose fills them in: `${NAME:-default}` → the default; `${NAME:?message}` → a value the user must set.
  const env = Object.fromEntries(
    Object.entries(compose.services.portside?.environment ?? {}).map(([name, value]) => [
      name,
      String(value)
        .replace(/\$\{\w+:-([^}]*)\}/g, "$1")
        .replace(/\$\{\w+:\?[^}]*\}/g, "a-sink-token-0123456789abcdef"),
    ]),
  );
  expect(env.PORT_API_URL).toBe("http://port-emulator:5050");
  expect(() => loadConfig(env)).not.toThrow();
});
