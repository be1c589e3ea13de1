import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { parseDefinitions } from "./definition.ts";
import { diffDocuments } from "./diff.ts";
import { codeOf, generateActionsModule, readActionsModule } from "./generate.ts";
import { portInputs } from "./inputs.ts";
import { normalizeDefinitions } from "./normalize.ts";
import { formatIssues } from "../messages/issues.ts";
import { Secret } from "../shared/secret.ts";

/**
 * The generator, rule by rule: each kind of Port input as the valibot code the module gets (and what that
 * code accepts and refuses, evaluated here), the notes where the type is wider than Port's rule, which
 * actions are typed, and the module's determinism. Refusal reasons are formatted as a run's are (issues.ts).
 */
const SOURCE = { command: "npm run -s cli -- actions pull", check: "npm run -s cli -- actions check", from: "https://api.port.io, organisation org_test" };

type Json = Record<string, unknown>;

function definition(identifier: string, properties: Json, more: { required?: unknown; invocationMethod?: Json; trigger?: Json } = {}): Json {
  return {
    identifier,
    title: `The ${identifier} action`,
    trigger: more.trigger ?? {
      type: "self-service",
      operation: "DAY-2",
      blueprintIdentifier: "service",
      userInputs: { properties, required: more.required ?? [] },
    },
    invocationMethod: more.invocationMethod ?? { type: "KAFKA" },
  };
}

function moduleOf(definitions: Json[], selected: string[] | null = null): string {
  const parsed = parseDefinitions(definitions);
  if (!parsed.ok) throw new Error(parsed.reason);
  return generateActionsModule(normalizeDefinitions(parsed.definitions, selected), SOURCE);
}

/** The generated line of input `name` (one input `name` of `input`, required or not), and its comment. */
function field(input: Json, required = false, name = "x"): { code: string; comment: string } {
  const text = moduleOf([definition("a", { [name]: input }, { required: required ? [name] : [] })]);
  const lines = text.split("\n");
  const key = /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
  const at = lines.findIndex((line) => line.startsWith(`      ${key}: `));
  if (at < 0) throw new Error(`no line for ${name} in:\n${text}`);
  let start = at;
  while (start > 0 && /^\s+(\/\*\*|\*)/.test(lines[start - 1] as string)) start--;
  return { code: (lines[at] as string).slice(`      ${key}: `.length, -1), comment: lines.slice(start, at).join("\n") };
}

/** The schema a line of generated code builds, to run values through it. */
const schemaOf = (code: string): v.GenericSchema => new Function("v", "portInputs", `return ${code};`)(v, portInputs);

/** `ok` and the output, or the refusal reason (as a run's refusal words it). */
function run(code: string, value: unknown): { ok: true; output: unknown } | { ok: false; reason: string } {
  const result = v.safeParse(v.object({ x: schemaOf(code) }), value === undefined ? {} : { x: value });
  return result.success ? { ok: true, output: result.output.x } : { ok: false, reason: formatIssues(result.issues) };
}

describe("a string input", () => {
  test("optional unless required: missing or null when optional; a required one must be there", () => {
    expect(field({ type: "string" }).code).toBe("v.nullish(v.string())");
    expect(field({ type: "string" }, true).code).toBe("v.string()");
    expect(run("v.nullish(v.string())", null)).toEqual({ ok: true, output: null });
    expect(run("v.string()", undefined)).toEqual({ ok: false, reason: "x: required, but missing" });
  });

  test("minLength, maxLength and pattern: valibot rules, refused naming the rule and never the value", () => {
    const { code } = field({ type: "string", minLength: 3, maxLength: 32, pattern: "^[a-zA-Z0-9-]*-service$" }, true);
    expect(code).toBe("v.pipe(v.string(), v.minLength(3), v.maxLength(32), v.regex(/^[a-zA-Z0-9-]*-service$/u))");
    expect(run(code, "payments-service")).toEqual({ ok: true, output: "payments-service" });
    expect(run(code, "hu")).toEqual({ ok: false, reason: "x: must have a length >=3; x: must match /^[a-zA-Z0-9-]*-service$/u" });
    expect(run(code, 7)).toEqual({ ok: false, reason: "x: expected a string, got a number" });
  });

  test("a pattern's `/` is escaped outside a character class; one JavaScript reads only without `u` loses the flag; one it cannot read is noted, not checked", () => {
    expect(field({ type: "string", pattern: "^a/b[/]$" }, true).code).toBe("v.pipe(v.string(), v.regex(/^a\\/b[/]$/u))");
    expect(run(field({ type: "string", pattern: "^a/b[/]$" }, true).code, "a/b/")).toEqual({ ok: true, output: "a/b/" });
    expect(field({ type: "string", pattern: "^\\-$" }, true).code).toBe("v.pipe(v.string(), v.regex(/^\\-$/))");
    const unreadable = field({ type: "string", pattern: "^(?<n>a)(?<n>b)$" }, true);
    expect(unreadable.code).toBe("v.string()");
    expect(unreadable.comment).toContain("Port's pattern is not a JavaScript regular expression: not checked here.");
  });

  test.each([
    ["date-time", "v.pipe(v.string(), v.isoTimestamp())", "2026-08-02T08:12:44.010Z", "next tuesday", "must be an ISO 8601 date and time"],
    ["url", "v.pipe(v.string(), v.url())", "https://app.port.io/self-serve", "not a url", "must be a URL"],
    ["email", "v.pipe(v.string(), v.email())", "me@example.com", "me-at-example", "must be an email address"],
    ["ipv4", "v.pipe(v.string(), v.ipv4())", "10.0.0.1", "10.0.0.300", "must be an IPv4 address"],
    ["ipv6", "v.pipe(v.string(), v.ipv6())", "2001:db8::1", "2001:db8:::1", "must be an IPv6 address"],
  ])("format %s is checked", (format, code, good, bad, rule) => {
    expect(field({ type: "string", format }, true).code).toBe(code);
    expect(run(code, good)).toEqual({ ok: true, output: good });
    expect(run(code, bad)).toEqual({ ok: false, reason: `x: ${rule}` });
  });

  test.each(["yaml", "markdown", "multi-line", "proto"])("format %s is text with no rule", (format) => {
    expect(field({ type: "string", format }, true)).toEqual({ code: "v.string()", comment: "" });
  });

  test("a format portside does not know is typed by the type alone, and says so", () => {
    expect(field({ type: "string", format: "timer" }, true)).toEqual({
      code: "v.string()",
      comment: '      /** Format "timer" is not one portside knows: any string here. */',
    });
  });

  test("enum: a picklist in Port's order; a jqQuery enum is any string, with a note", () => {
    const { code } = field({ type: "string", enum: ["my-option-1", "my-option-2"] }, true);
    expect(code).toBe('v.picklist(["my-option-1", "my-option-2"])');
    expect(run(code, "my-option-3")).toEqual({ ok: false, reason: 'x: expected "my-option-1" or "my-option-2", got a string' });
    expect(field({ type: "string", enum: { jqQuery: '["a", "b"]' } }, true)).toEqual({
      code: "v.string()",
      comment: "      /** Port computes its choices at run time (a jqQuery): any string here. */",
    });
  });
});

describe("entity, user and team inputs", () => {
  test("an entity input takes the entity object or a bare identifier, and always gives the object", () => {
    const { code } = field({ type: "string", format: "entity", blueprint: "domain" }, true);
    expect(code).toBe('portInputs.entity("domain")');
    expect(run(code, "notifications-service")).toEqual({ ok: true, output: { identifier: "notifications-service" } });
    const object = { identifier: "payments", title: "Payments", blueprint: "domain", properties: { tier: 1 } };
    expect(run(code, object)).toEqual({ ok: true, output: object });
    expect(run(code, { ...object, blueprint: "service" })).toEqual({ ok: false, reason: 'x: must be an entity of blueprint "domain"' });
    expect(run(code, 42)).toMatchObject({ ok: false });
  });

  test("an entity array, with minItems, maxItems and uniqueItems", () => {
    const { code } = field({ type: "array", items: { type: "string", format: "entity", blueprint: "service" }, minItems: 1, maxItems: 2, uniqueItems: true });
    expect(code).toBe('v.nullish(v.pipe(v.array(portInputs.entity("service")), v.minLength(1), v.maxLength(2), portInputs.distinct()))');
    expect(run(code, ["notifications-service", { identifier: "frontend-service", title: "Frontend" }])).toEqual({
      ok: true,
      output: [{ identifier: "notifications-service" }, { identifier: "frontend-service", title: "Frontend" }],
    });
    expect(run(code, [])).toEqual({ ok: false, reason: "x: must have a length >=1" });
    expect(run(code, ["a", "b", "c"])).toEqual({ ok: false, reason: "x: must have a length <=2" });
    expect(run(code, ["a", "a"])).toEqual({ ok: false, reason: "x: must not list an item twice" });
  });

  test("user and team inputs are strings (an email, a team's name)", () => {
    expect(field({ type: "string", format: "user" }, true).code).toBe("portInputs.user()");
    expect(field({ type: "string", format: "team" }, true).code).toBe("portInputs.team()");
    expect(run("portInputs.user()", "me@example.com")).toEqual({ ok: true, output: "me@example.com" });
    expect(run("portInputs.team()", "my-team")).toEqual({ ok: true, output: "my-team" });
  });

  test("an entity input without a blueprint is any string, with a note", () => {
    expect(field({ type: "string", format: "entity" }, true).comment).toContain("An entity input without a blueprint: any string here.");
  });
});

describe("numbers, booleans, objects and arrays", () => {
  test("minimum/maximum and exclusiveMinimum/exclusiveMaximum", () => {
    const { code } = field({ type: "number", minimum: 0, maximum: 50, exclusiveMinimum: -1, exclusiveMaximum: 51 }, true);
    expect(code).toBe("v.pipe(v.number(), v.minValue(0), v.gtValue(-1), v.maxValue(50), v.ltValue(51))");
    expect(run(code, 7)).toEqual({ ok: true, output: 7 });
    expect(run(code, 51)).toEqual({ ok: false, reason: "x: must be <=50; x: must be <51" });
    expect(run("v.pipe(v.number(), v.gtValue(0))", 0)).toEqual({ ok: false, reason: "x: must be >0" });
    expect(field({ type: "number", format: "email" }, true)).toEqual({
      code: "v.number()",
      comment: '      /** Format "email" does not apply to a number: not checked here. */',
    });
  });

  test("a number enum is a picklist of numbers", () => {
    const { code } = field({ type: "number", enum: [1, 2, 3, 4] }, true);
    expect(code).toBe("v.picklist([1, 2, 3, 4])");
    expect(run(code, 5)).toEqual({ ok: false, reason: "x: expected one of 1, 2, 3, 4, got a number" });
  });

  test("a boolean", () => {
    expect(field({ type: "boolean" }, true).code).toBe("v.boolean()");
  });

  test("an object is a record; a labeled URL is {url, displayText?}; a fixed list of objects is noted", () => {
    expect(field({ type: "object" }, true).code).toBe("v.record(v.string(), v.unknown())");
    const { code } = field({ type: "object", format: "labeled-url" }, true);
    expect(code).toBe("portInputs.labeledUrl()");
    const link = { url: "https://app.datadoghq.com/dashboard/abc123", displayText: "Production Metrics Dashboard" };
    expect(run(code, link)).toEqual({ ok: true, output: link });
    expect(run(code, { displayText: "no url" })).toEqual({ ok: false, reason: "x.url: required, but missing" });
    expect(field({ type: "object", enum: [{ myKey: 1 }, { myKey: 2 }] }, true).comment).toContain("Port offers a fixed list of objects: any object here.");
  });

  test("arrays: typed items (with their own rules), untyped without items, a fixed list of arrays noted", () => {
    const labels = field({ type: "array", items: { type: "string", enum: ["my-option-1", "my-option-2"] } }, true);
    expect(labels.code).toBe('v.array(v.picklist(["my-option-1", "my-option-2"]))');
    expect(run(labels.code, ["my-option-1", "nope"])).toEqual({ ok: false, reason: 'x.1: expected "my-option-1" or "my-option-2", got a string' });
    expect(field({ type: "array", items: { type: "number" } }, true).code).toBe("v.array(v.number())");
    expect(field({ type: "array" }, true).code).toBe("v.array(v.unknown())");
    expect(
      field(
        {
          type: "array",
          enum: [
            [1, 2, 3],
            [1, 2],
          ],
        },
        true,
      ).comment,
    ).toContain("Port offers a fixed list of arrays");
    expect(field({ type: "array", items: { type: "string", format: "timer" } }, true).comment).toContain('Items: format "timer" is not one portside knows');
  });
});

describe("secrets and what Port computes at run time", () => {
  test("encryption aes256-gcm wraps the decrypted value in a Secret (rules apply to the clear value)", () => {
    const { code } = field({ type: "string", encryption: "aes256-gcm", minLength: 8 }, true);
    expect(code).toBe("portInputs.secret(v.pipe(v.string(), v.minLength(8)))");
    const result = run(code, "hunter2-long");
    expect(result.ok && result.output instanceof Secret && result.output.reveal()).toBe("hunter2-long");
    expect(run(code, "short")).toEqual({ ok: false, reason: "x: must have a length >=8" });
  });

  test("a secret object may arrive parsed or as JSON text; client-side encryption stays ciphertext", () => {
    const object = field({ type: "object", encryption: "aes256-gcm" }, true);
    expect(object.code).toBe("portInputs.secret(v.union([v.record(v.string(), v.unknown()), v.string()]))");
    expect(object.comment).toContain("A secret object arrives parsed");
    const own = field({ type: "string", encryption: { algorithm: "client-side", key: "-----BEGIN PUBLIC KEY-----" } }, true);
    expect(own.code).toBe("portInputs.secret(v.string())");
    expect(own.comment).toContain("Encrypted with the organisation's own key (client-side)");
  });

  test("a jqQuery default is noted; a jqQuery required, a jqQuery visible or a hidden required input is optional, noted", () => {
    expect(field({ type: "string", default: { jqQuery: ".entity.identifier" } }, true)).toEqual({
      code: "v.string()",
      comment: "      /** Port computes its default at run time (a jqQuery). */",
    });
    expect(field({ type: "string", visible: { jqQuery: ".form.tier == 1" } }, true)).toEqual({
      code: "v.nullish(v.string())",
      comment: "      /** Port shows it only when a jqQuery says so: optional here. */",
    });
    expect(field({ type: "string", visible: false }, true)).toEqual({
      code: "v.nullish(v.string())",
      comment: "      /** Hidden in Port's form: optional here. */",
    });
    const text = moduleOf([definition("a", { x: { type: "string" }, y: { type: "number" } }, { required: { jqQuery: '["x"]' } })]);
    expect(text).toContain("      /** Port decides at run time whether it is required (a jqQuery): optional here. */\n      x: v.nullish(v.string()),");
    expect(text).toContain("      y: v.nullish(v.number()),");
  });

  test("the input's title is its comment, unless it only repeats the name", () => {
    expect(field({ type: "string", title: "Number of CPU cores" }, true, "cpu").comment).toBe("      /** Number of CPU cores */");
    expect(field({ type: "string", title: "Service name" }, true, "service_name").comment).toBe("");
    expect(field({ type: "string", title: "Ends a */ comment" }, true).comment).toBe("      /** Ends a *\\/ comment */");
  });
});

describe("which actions are typed, and how the module reads", () => {
  const inputs = { version: { type: "string" } };
  const typed = (invocationMethod: Json) => !moduleOf([definition("a", inputs, { invocationMethod })]).includes("    inputs: null,");

  test("the passthrough rule: no template, or a template with a value exactly {{ .inputs }}", () => {
    expect(typed({ type: "KAFKA" })).toBe(true);
    expect(typed({ type: "KAFKA", payload: { portside: 1, runId: "{{ .run.id }}", inputs: "{{ .inputs }}" } })).toBe(true);
    expect(typed({ type: "KAFKA", payload: { payload: { properties: "{{.inputs}}" } } })).toBe(true);
    expect(typed({ type: "KAFKA", payload: { version: "{{ .inputs.version }}" } })).toBe(false);
    expect(typed({ type: "WEBHOOK", url: "https://ci.example.com" })).toBe(true);
    expect(
      typed({ type: "WEBHOOK", url: "https://ci.example.com", body: { "{{ spreadValue() }}": "{{ .inputs }}", port_context: { runId: "{{ .run.id }}" } } }),
    ).toBe(true);
    expect(typed({ type: "WEBHOOK", url: "https://ci.example.com", body: { v: "{{ .inputs.version | ascii_downcase }}" } })).toBe(false);
    const text = moduleOf([definition("a", inputs, { invocationMethod: { type: "WEBHOOK", url: "https://x", body: { v: "{{ .inputs.version }}" } } })]);
    expect(text).toContain("    // Its invocation's template does not pass the inputs through as they are (see the top of this file).\n    inputs: null,");
  });

  test("actions of other invocation types are listed in the header, not typed; an automation has no inputs", () => {
    const text = moduleOf([
      definition("open_pr", {}, { invocationMethod: { type: "GITHUB", org: "acme", repo: "r", workflow: "w.yml" } }),
      definition("sync", {}, { invocationMethod: { type: "UPSERT_ENTITY", blueprintIdentifier: "x", mapping: {} } }),
      definition("nightly", {}, { trigger: { type: "automation", event: { type: "TIMER_PROPERTY_EXPIRED", blueprintIdentifier: "env" } } }),
    ]);
    expect(text).toContain(" * Not typed here (portside receives KAFKA and WEBHOOK runs only): open_pr (GITHUB), sync (UPSERT_ENTITY).");
    expect(text).not.toContain("open_pr:");
    expect(text).toContain(
      '  nightly: {\n    title: "The nightly action",\n    operation: null,\n    blueprint: "env",\n    invocation: "KAFKA",\n    // An automation: its runs carry the event that triggered it, not a form\'s inputs.\n    inputs: null,\n  },',
    );
    // No input schema anywhere: neither valibot nor the helpers are imported.
    expect(text).toContain('\nimport { defineActions } from "portside/actions";\n');
    expect(text).not.toContain('from "valibot"');
  });

  test("identifiers and input names that are not JavaScript names are quoted keys", () => {
    const text = moduleOf([
      definition("deploy-service", { "feature-flag": { type: "boolean" }, "@owner=x": { type: "string" } }, { required: ["feature-flag"] }),
    ]);
    expect(text).toContain('  "deploy-service": {');
    expect(text).toContain('      "feature-flag": v.boolean(),');
    expect(text).toContain('      "@owner=x": v.nullish(v.string()),');
  });

  test("the same definitions in any order give the same text, actions sorted by identifier, inputs by name", () => {
    const defs = [definition("b", { z: { type: "string" }, a: { type: "number" } }), definition("a", {})];
    const text = moduleOf(defs);
    expect(moduleOf([...defs].reverse())).toBe(text);
    expect(text.indexOf("  a: {")).toBeLessThan(text.indexOf("  b: {"));
    expect(text.indexOf("      a: ")).toBeLessThan(text.indexOf("      z: "));
    expect(text).toStartWith(
      "/**\n * Port's action definitions as portside types them. GENERATED by `npm run -s cli -- actions pull` from\n * https://api.port.io, organisation org_test: do not edit; run it again instead.\n",
    );
  });

  test("what only Port's form or icons change leaves the module as it is", () => {
    const base = definition("a", { x: { type: "string", title: "X" } });
    const decorated = {
      ...base,
      icon: "Rocket",
      description: "new words",
      trigger: {
        ...(base.trigger as Json),
        userInputs: { properties: { x: { type: "string", title: "X", icon: "Git", description: "d" } }, required: [], order: ["x"] },
      },
    };
    expect(moduleOf([decorated])).toBe(moduleOf([base]));
  });
});

describe("the module's last line, and comparing it with Port", () => {
  test("a module is read back: its definitions, and its code (whitespace and trailing commas aside)", () => {
    const text = moduleOf([definition("a", { x: { type: "string" } })], ["a"]);
    const read = readActionsModule(text);
    expect(read.ok && read.doc.selected).toEqual(["a"]);
    // As a formatter might leave it: other line breaks, no trailing commas.
    const formatted = text.replace(/,\n(\s*[}\])])/g, "\n$1").replaceAll("\n", "\n\n");
    expect(formatted).not.toBe(text);
    expect(read.ok && read.code).toBe(codeOf(formatted));
    expect(readActionsModule("export const actions = {};\n")).toEqual({
      ok: false,
      reason: "it has no `// portside:definitions` line, so it was not written by `actions pull`",
    });
  });

  test("what changed: actions added and removed, and each field by path", () => {
    const doc = (defs: Json[]) => {
      const parsed = parseDefinitions(defs);
      if (!parsed.ok) throw new Error(parsed.reason);
      return normalizeDefinitions(parsed.definitions, null);
    };
    const before = doc([
      definition("a", { version: { type: "string", pattern: "^1$" }, gone: { type: "string" } }, { required: ["version"] }),
      definition("old", {}),
    ]);
    const after = doc([definition("a", { version: { type: "string", pattern: "^2$" }, added: { type: "number" } }), definition("new", {})]);
    expect(diffDocuments(before, after)).toEqual([
      {
        action: "a",
        change: "changed",
        fields: ["inputs.added: added", "inputs.gone: removed", "inputs.version.pattern: changed", "inputs.version.required: changed"],
      },
      { action: "new", change: "added", fields: [] },
      { action: "old", change: "removed", fields: [] },
    ]);
    expect(diffDocuments(before, before)).toEqual([]);
  });
});

describe("Port's definitions are read by their schema", () => {
  test("a definition that is not one Port writes is refused naming the action and the field", () => {
    expect(parseDefinitions([definition("a", { x: { type: "text" } })])).toEqual({
      ok: false,
      reason: 'action "a": trigger.userInputs.properties.x.type: expected one of "string", "number", "boolean", "object", "array", got a string',
    });
    expect(parseDefinitions([{ identifier: "b", invocationMethod: { type: "KAFKA" } }])).toEqual({
      ok: false,
      reason: 'action "b": trigger: required, but missing',
    });
    const nameless = parseDefinitions([{}]);
    expect(nameless.ok || nameless.reason).toStartWith("action #1: identifier: required, but missing");
  });

  test("unknown fields are kept (a field Port adds later does not stop a pull)", () => {
    const parsed = parseDefinitions([{ ...definition("a", {}), newThing: { x: 1 } }]);
    expect(parsed.ok && parsed.definitions[0]?.newThing).toEqual({ x: 1 });
  });
});
