import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { loadConfig } from "../../src/config.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { EMULATOR_CREDENTIALS } from "../../src/entry/demo.ts";
import { startPortside } from "../support/portside-process.ts";

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
  expect(compose().services["port-emulator"]?.command).toEqual(["bun", "src/emulator/serve.ts"]);
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

interface ComposeService {
  profiles?: string[];
  volumes?: string[];
  depends_on?: string[] | Record<string, unknown>;
  environment?: Record<string, string>;
  command?: string[];
}
const compose = () => parse(read("docker-compose.yml")) as { services: Record<string, ComposeService> };

/** A service's environment as compose fills it in with `given` set in the shell: `${NAME:-default}` → the value given, else the default. */
function environmentOf(service: ComposeService | undefined, given: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(service?.environment ?? {}).map(([name, value]) => [name, fill(String(value), given)]));
}

/** Compose's interpolation: `${NAME:-default}` → the value given, else the default. */
const fill = (text: string, given: Record<string, string>) => text.replace(/\$\{(\w+):-([^}]*)\}/g, (_, v: string, d: string) => given[v] ?? d);

/** The handler directory compose mounts into portside (HANDLERS_DIR): where it comes from and where it lands. */
function handlersMount(service: ComposeService | undefined, given: Record<string, string> = {}): { source: string; target: string } {
  const [source = "", target = ""] = (service?.volumes ?? []).map((v) => fill(v, given).split(":")).find(([, t]) => t?.startsWith("/app/")) ?? [];
  return { source, target };
}

test("portside's settings in the compose file pass its configuration check (the emulator's http:// URL included); without SINK_TOKEN it refuses, naming it", () => {
  const env = environmentOf(compose().services.portside, { SINK_TOKEN: "a-sink-token-0123456789abcdef" });
  expect(env.PORT_API_URL).toBe("http://port-emulator:5050");
  expect(() => loadConfig(env)).not.toThrow();
  expect(() => loadConfig(environmentOf(compose().services.portside))).toThrow(/^SINK_TOKEN: is not set/);
});

test("no mandatory `NAME:?message` interpolation in the compose file: compose checks those in every service, so one would refuse the polling profile too", () => {
  expect(read("docker-compose.yml")).not.toMatch(/\$\{\w+:\?/);
});

/**
 * The service's environment for a portside started here rather than in its container: HANDLERS, a path in the
 * directory compose mounts (HANDLERS_DIR, by default the example handlers), read from that directory.
 */
function onThisMachine(service: ComposeService | undefined): Record<string, string> {
  const env = environmentOf(service);
  const { source, target } = handlersMount(service);
  const inImage = `${target.slice("/app/".length)}/`;
  if (env.HANDLERS?.startsWith(inImage)) env.HANDLERS = `${source}/${env.HANDLERS.slice(inImage.length)}`;
  return env;
}

/** What `docker compose up <name>` starts besides it: the services it depends on, and theirs. */
function closure(services: Record<string, ComposeService>, name: string, seen = new Set<string>()): Set<string> {
  const d = services[name]?.depends_on ?? [];
  for (const dep of Array.isArray(d) ? d : Object.keys(d)) if (!seen.has(dep)) closure(services, dep, seen.add(dep));
  return seen;
}

test("the polling profile: portside polls the emulator with no Kafka, no Connect and no SINK_TOKEN; the Kafka stack's services stay in the default set", () => {
  const { services } = compose();
  expect(services["portside-polling"]?.profiles).toEqual(["polling"]);
  expect(services["trigger-polling"]?.profiles).toEqual(["polling"]);
  // `docker compose up portside-polling` starts what it depends on, and nothing of Kafka.
  expect([...closure(services, "portside-polling")]).toEqual(["port-emulator"]);
  expect([...closure(services, "trigger-polling")].sort()).toEqual(["port-emulator", "portside-polling"]);
  for (const name of ["kafka", "connect", "portside", "register"]) expect(services[name]?.profiles).toBeUndefined();
  const env = environmentOf(services["portside-polling"]);
  expect(env.SINK_TOKEN).toBeUndefined();
  expect(env.KAFKA_BROKERS).toBeUndefined();
  const config = loadConfig(env);
  expect(config.polling).not.toBeNull();
  expect(config.executionAgent).not.toBeNull();
  expect(config.sinkToken).toBeNull();
  expect(config.kafka).toBeNull();
  expect(services["trigger-polling"]?.command).toEqual(["bun", "connectors/trigger-polling.ts"]);
});

test("the polling profile's trigger, against portside polling an emulator on loopback: the run it triggers ends SUCCESS", async () => {
  const emulator = createPortEmulator({});
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  const emulatorUrl = `http://127.0.0.1:${server.port}`;
  // The compose service's environment, with the emulator on loopback and a memory ledger instead of the volume.
  const env = { ...onThisMachine(compose().services["portside-polling"]), PORT_API_URL: emulatorUrl, LEDGER: "memory" };
  const portside = await startPortside(env);
  try {
    const trigger = Bun.spawn([process.execPath, "connectors/trigger-polling.ts"], {
      cwd: repo.pathname,
      env: { PATH: process.env.PATH ?? "", PORT_EMULATOR_URL: emulatorUrl, TRIGGER_TIMEOUT_MS: "30000" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const exitCode = await trigger.exited;
    const out = await new Response(trigger.stdout).text();
    expect(out).toMatch(/^run r_\w+ \(deploy\) → SUCCESS — Deployed checkout-service 2\.\d+\.0 to staging$/m);
    expect(exitCode).toBe(0);
    const runs = [...emulator.state.runs.values()];
    expect(runs).toHaveLength(1);
    expect(runs[0]?.agentClaim?.acked).toBe(true);
  } finally {
    await portside.stop();
    server.stop(true);
  }
}, 60_000);

test("the webhooks profile: portside takes the emulator's signed webhooks with no Kafka, no Connect and no SINK_TOKEN; its trigger reaches it by its service name", () => {
  const { services } = compose();
  expect(services["portside-webhooks"]?.profiles).toEqual(["webhooks"]);
  expect(services["trigger-webhooks"]?.profiles).toEqual(["webhooks"]);
  // `docker compose up portside-webhooks` starts what it depends on, and nothing of Kafka.
  expect([...closure(services, "portside-webhooks")]).toEqual(["port-emulator"]);
  expect([...closure(services, "trigger-webhooks")].sort()).toEqual(["port-emulator", "portside-webhooks"]);
  const env = environmentOf(services["portside-webhooks"]);
  expect(env.SINK_TOKEN).toBeUndefined();
  expect(env.KAFKA_BROKERS).toBeUndefined();
  expect(env.PORT_API_URL).toBe("http://port-emulator:5050");
  const config = loadConfig(env);
  expect(config.webhook).not.toBeNull();
  expect(config.sinkToken).toBeNull();
  expect(config.polling).toBeNull();
  expect(config.kafka).toBeNull();
  // The emulator signs with its client secret: portside checks with the same one.
  expect(config.portCredentials?.clientSecret.reveal()).toBe(EMULATOR_CREDENTIALS.clientSecret);
  const trigger = services["trigger-webhooks"];
  expect(trigger?.command).toEqual(["bun", "connectors/trigger-webhooks.ts"]);
  expect(environmentOf(trigger)).toEqual({ PORT_EMULATOR_URL: "http://port-emulator:5050", PORTSIDE_URL: `http://portside-webhooks:${config.port}` });
});

test("the webhooks profile's trigger, against portside taking webhooks from an emulator on loopback: the run it triggers is sent signed, answered 202 and ends SUCCESS", async () => {
  const emulator = createPortEmulator({});
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  const emulatorUrl = `http://127.0.0.1:${server.port}`;
  // The compose service's environment, with the emulator on loopback and a memory ledger instead of the volume.
  const env = { ...onThisMachine(compose().services["portside-webhooks"]), PORT_API_URL: emulatorUrl, LEDGER: "memory" };
  const portside = await startPortside(env);
  try {
    const trigger = Bun.spawn([process.execPath, "connectors/trigger-webhooks.ts"], {
      cwd: repo.pathname,
      env: { PATH: process.env.PATH ?? "", PORT_EMULATOR_URL: emulatorUrl, PORTSIDE_URL: portside.url, TRIGGER_TIMEOUT_MS: "30000" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const exitCode = await trigger.exited;
    const out = await new Response(trigger.stdout).text();
    expect(out).toMatch(/^run r_\w+ \(deploy\) → SUCCESS — Deployed checkout-service 2\.\d+\.0 to staging$/m);
    expect(exitCode).toBe(0);
    const runs = [...emulator.state.runs.values()];
    expect(runs).toHaveLength(1);
    expect(runs[0]?.payload?.url).toBe(`${portside.url}/webhooks/port/deploy`);
    expect(runs[0]?.webhookAttempts?.map((attempt) => attempt.status)).toEqual([202]);
  } finally {
    await portside.stop();
    server.stop(true);
  }
}, 60_000);

test("your own handlers in the stack: HANDLERS_DIR is mounted where HANDLERS points, and a module there loads in the image's layout — the examples (relative imports into src/) by default, a directory of your own importing `portside/handlers`", async () => {
  const { mkdtempSync, mkdirSync, cpSync, symlinkSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const services = compose().services;
  const image = read("connectors/docker/portside.Dockerfile");
  expect(image).toContain("WORKDIR /app");
  const mine = mkdtempSync(join(tmpdir(), "portside-compose-handlers-"));
  writeFileSync(
    join(mine, "mine.ts"),
    'import { defineHandlers } from "portside/handlers";\nexport default defineHandlers({ runs: { hello: async () => ({ summary: "hi" }) } });\n',
  );
  try {
    for (const name of ["portside", "portside-polling", "portside-webhooks"]) {
      const service = services[name];
      for (const [given, dir, expected] of [
        [{}, "src/examples", ["deploy", "check_health", "create_vm"]],
        [{ HANDLERS_DIR: mine, HANDLERS_FILE: "mine.ts" }, mine, ["hello"]],
      ] as const) {
        const handlers = environmentOf(service, given).HANDLERS ?? "";
        const { source, target } = handlersMount(service, given);
        expect(source.replace(/^\.\//, "")).toBe(dir);
        // HANDLERS (relative to WORKDIR /app) lies in the mounted directory.
        expect(join("/app", handlers).startsWith(`${target}/`)).toBe(true);
        // The image's layout: package.json and src/ under /app (a temp dir here), the mount at its target.
        const app = mkdtempSync(join(tmpdir(), "portside-compose-app-"));
        try {
          cpSync(new URL("package.json", repo).pathname, join(app, "package.json"));
          cpSync(new URL("src", repo).pathname, join(app, "src"), { recursive: true });
          symlinkSync(new URL("node_modules", repo).pathname, join(app, "node_modules"));
          const mounted = join(app, target.slice("/app/".length));
          mkdirSync(mounted, { recursive: true });
          cpSync(dir === mine ? mine : new URL(dir, repo).pathname, mounted, { recursive: true });
          const loaded = Bun.spawnSync(
            [process.execPath, "-e", `const m = await import(${JSON.stringify(join(app, handlers))}); console.log(Object.keys(m.default.runs).join(","))`],
            { cwd: app },
          );
          expect({ name, out: loaded.stdout.toString().trim(), err: loaded.stderr.toString() }).toEqual({ name, out: expected.join(","), err: "" });
        } finally {
          rmSync(app, { recursive: true, force: true });
        }
      }
    }
  } finally {
    rmSync(mine, { recursive: true, force: true });
  }
}, 60_000);
