import { describe, expect, test } from "bun:test";
import type { Change } from "../messages/views.ts";
import { createRegistry, emptyRegistry, HandlerModuleError } from "./registry.ts";
import { checkRoutes, loadRoutesFile, mergeRoutes, parseRoutes, RoutesError } from "./routes.ts";

const change = (blueprint: string, action: Change["action"] = "UPDATE") => ({ blueprint, action, resourceType: "entity" }) as Change;

describe("parsing", () => {
  test("runs and change matchers become eventBridge() targets, with file-level defaults", () => {
    const routes = checkRoutes(
      {
        defaults: { bus: "platform", status: "deferred" },
        runs: { create_vm: {}, restart: { status: "published", detailType: "ops.restart" } },
        changes: [{ match: { blueprint: "microservice", action: ["CREATE", "UPDATE"] }, source: "port.catalog" }],
      },
      "routes.json",
    );
    expect(routes.module.runs).toEqual({
      create_vm: { kind: "eventbridge", rerunOnInterrupt: true, bus: "platform", status: "deferred" },
      restart: { kind: "eventbridge", rerunOnInterrupt: true, bus: "platform", status: "published", detailType: "ops.restart" },
    });
    // `status` is about Port runs; change routes do not inherit it.
    expect(routes.module.changes).toEqual([
      {
        match: { blueprint: "microservice", action: ["CREATE", "UPDATE"] },
        to: { kind: "eventbridge", rerunOnInterrupt: true, bus: "platform", source: "port.catalog" },
      },
    ]);
  });

  test("YAML works when the runtime can parse it (Bun.YAML here)", () => {
    const yaml = "runs:\n  create_vm:\n    bus: platform\nchanges:\n  - match: { blueprint: microservice }\n";
    const routes = parseRoutes(yaml, "routes.yaml", { parseYaml: (text) => Bun.YAML.parse(text) });
    expect(Object.keys(routes.module.runs)).toEqual(["create_vm"]);
    expect(routes.module.changes).toHaveLength(1);
    expect(() => parseRoutes(yaml, "routes.yml")).toThrow("routes.yml: YAML routes files are not read here");
  });

  test("errors name the file and the JSON path", () => {
    const fails = (value: unknown) => () => checkRoutes(value, "ops/routes.json");
    expect(fails({ runs: { create_vm: { status: "done" } } })).toThrow('ops/routes.json: $.runs.create_vm.status: must be "published" or "deferred"');
    expect(fails({ changes: [{ match: { blueprnt: "vm" } }] })).toThrow('ops/routes.json: $.changes[0].match: unknown key "blueprnt"');
    expect(fails({ changes: [{ match: { action: "UPSERT" } }] })).toThrow(
      "ops/routes.json: $.changes[0].match.action: must be a string or a non-empty list of them",
    );
    expect(fails({ changes: [{ status: "deferred" }] })).toThrow('$.changes[0]: unknown key "status"');
    expect(fails({ runs: { "create vm": { bus: "no spaces" } } })).toThrow('$.runs["create vm"].bus: must be an event bus name');
    expect(fails({})).toThrow('has no routes under "runs" or "changes"');
    expect(fails({ runs: {}, changes: [] })).toThrow("routes nothing");
    expect(() => parseRoutes("{ runs: ", "routes.json")).toThrow(/^routes\.json: not valid JSON: /);
    expect(fails({ runs: [] })).toThrow("$.runs: must be an object keyed by action identifier");
    expect(fails([])).toThrow(RoutesError);
  });

  test("a file that cannot be read says which and why", async () => {
    const io = { readText: async () => Promise.reject(new Error("ENOENT: no such file")) };
    await expect(loadRoutesFile("missing.json", io)).rejects.toThrow("ROUTES: could not read missing.json: ENOENT: no such file");
  });
});

describe("merging with a handler module", () => {
  const routes = checkRoutes({ runs: { create_vm: {} }, changes: [{ match: { blueprint: "microservice" } }] }, "routes.json");
  const handle = async () => ({ summary: "done" });

  test("routes and handlers side by side; change rules of the module run first", () => {
    const module = { runs: { deploy: handle }, changes: [{ match: { blueprint: "microservice" }, handle: async () => {} }] };
    const registry = mergeRoutes(createRegistry(module, "handlers.ts"), routes);
    expect(registry.actions).toEqual(["deploy", "create_vm"]);
    expect(registry.forRun("deploy").type).toBe("local");
    expect(registry.forRun("create_vm")).toEqual({ type: "external", target: { kind: "eventbridge", rerunOnInterrupt: true }, rerunOnInterrupt: true });
    expect(registry.forChange(change("microservice")).map((r) => r.type)).toEqual(["local", "external"]);
    expect(registry.forChange(change("vm"))).toEqual([]);
  });

  test("an action claimed by both is a start-up error naming both sources", () => {
    const module = { runs: { create_vm: handle } };
    const message = '"create_vm" has both a handler in handlers.ts (runs) and a route in routes.json ($.runs); remove one of them';
    expect(() => mergeRoutes(createRegistry(module, "handlers.ts"), routes)).toThrow(message);
    // main.ts reports it like any other handler-module problem.
    expect(() => mergeRoutes(createRegistry(module, "handlers.ts"), routes)).toThrow(HandlerModuleError);
  });

  test("with no handler module, an unrouted action fails naming the routes file", () => {
    const registry = mergeRoutes(emptyRegistry(), routes);
    expect(registry.source).toBe("routes.json");
    expect(registry.forRun("deploy")).toEqual({
      type: "missing",
      reason: 'No handler or route for action "deploy" in routes.json. Add a route for it to "runs" in routes.json.',
    });
  });
});
