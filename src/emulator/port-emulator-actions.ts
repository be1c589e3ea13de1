/**
 * Actions in the Port EMULATOR (tests and the local demo only — this is not Port): a small registry of
 * action definitions the tests and the demo declare, and Port's "execute a self-service action" route,
 * which creates a run the way Port does when someone triggers the action.
 *
 *   POST  /v1/actions/{actionIdentifier}/runs  `{properties, entity?}` → 202 `{ok, run}` (Port's API reference:
 *                                              docs.port.io/api-reference/execute-a-self-service-action; 404 for
 *                                              an unknown action, 422 for a body that is not `{properties, entity?}`)
 *   PATCH /v1/actions/runs/{id}/response       `{response}`: a synchronized webhook's answer, kept as the run's `response`
 *   PATCH /v1/organization                     `{settings: {…}}` merged into the organisation's settings (Port's
 *                                              agent sets `portAgentStreamerName` there at start)
 *   POST  /emulator/actions                    the emulator's own: declares an action `{identifier, invocationMethod, …}`,
 *                                              or Port's whole definition (with `trigger`), which GET /v1/actions then serves
 *
 * A run of an action whose invocation has `agent: true` waits for an execution agent to claim it
 * (port-emulator-polling.ts); one without is sent to its URL, signed (port-emulator-webhooks.ts). The body template is rendered with the run's data, paths only: a value that
 * is exactly `{{ .inputs.x }}` keeps its type, text around `{{ … }}` makes a string, and the key
 * `{{ spreadValue() }}` spreads an object into its parent, as Port's templates do. Any other jq is refused
 * when the action is declared. Without a body the run gets Port's default: the inputs spread and
 * `port_context: {runId}`. `GET /v1/actions` serves the definitions of this registry (port-emulator-definitions.ts).
 */
import type { Hono } from "hono";
import * as v from "valibot";
import { ActionTriggerSchema } from "../actions/definition.ts";
import { formatIssues } from "../messages/issues.ts";
import { type Env, refuse } from "./port-emulator-http.ts";
import type { EmulatedAction, EmulatedRun, PortEmulatorState } from "./port-emulator-state.ts";
import { deliverWebhook, type WebhookDeliveryDeps } from "./port-emulator-webhooks.ts";

const JsonObject = v.record(v.string(), v.unknown());

/** The invocation types of Port's action schema the emulator keeps but never sends anywhere. */
const OTHER_INVOCATIONS = ["GITHUB", "GITLAB", "AZURE_DEVOPS", "INTEGRATION_ACTION", "UPSERT_ENTITY"] as const;

/**
 * An action declaration: WEBHOOK (`agent: true` for an execution agent), KAFKA, or another of Port's
 * invocation types (kept and listed, its runs created but sent nowhere). With Port's `trigger` (operation,
 * blueprint, user inputs) it is Port's own definition, and `GET /v1/actions` serves it
 * (port-emulator-definitions.ts); without, `blueprint` is the emulator's shorthand and the action is not listed.
 */
export const EmulatedActionSchema = v.strictObject({
  identifier: v.pipe(v.string(), v.nonEmpty(), v.maxLength(200)),
  title: v.optional(v.string()),
  blueprint: v.optional(v.string()),
  trigger: v.optional(ActionTriggerSchema),
  invocationMethod: v.variant("type", [
    v.strictObject({
      type: v.literal("WEBHOOK"),
      url: v.pipe(v.string(), v.url()),
      agent: v.optional(v.boolean(), false),
      synchronized: v.optional(v.boolean(), false),
      method: v.optional(v.picklist(["POST", "PUT", "PATCH", "GET", "DELETE"]), "POST"),
      headers: v.optional(JsonObject),
      body: v.optional(JsonObject),
    }),
    v.strictObject({ type: v.literal("KAFKA"), payload: v.optional(v.union([JsonObject, v.array(v.unknown())])) }),
    v.looseObject({ type: v.picklist(OTHER_INVOCATIONS) }),
  ]),
  // The rest of what Port answers for an action, kept as declared (a saved answer of Port's can be declared as it is).
  icon: v.optional(v.string()),
  description: v.optional(v.string()),
  requiredApproval: v.optional(v.unknown()),
  approvalNotification: v.optional(v.unknown()),
  publish: v.optional(v.boolean()),
  allowAnyoneToViewRuns: v.optional(v.boolean()),
  id: v.optional(v.string()),
  createdAt: v.optional(v.string()),
  createdBy: v.optional(v.string()),
  updatedAt: v.optional(v.string()),
  updatedBy: v.optional(v.string()),
});
export type EmulatedActionInput = v.InferInput<typeof EmulatedActionSchema>;

/** Port's execute body: the inputs, and the entity the action runs on (its identifier). */
const ExecuteBodySchema = v.strictObject({ properties: JsonObject, entity: v.optional(v.string()) });
const ResponseBodySchema = v.strictObject({ response: v.union([v.string(), v.array(v.unknown()), JsonObject]) });
const OrganizationBodySchema = v.strictObject({ settings: JsonObject });

const TEMPLATE = /\{\{\s*(.*?)\s*\}\}/g;
const PATH = /^\.([A-Za-z_][\w-]*)(\.[A-Za-z_][\w-]*)*$|^\.$/;
const SPREAD = "spreadValue()";

/** Declares (or replaces) an action; throws with the field at fault, as a test wants to hear at once. */
export function declareAction(state: PortEmulatorState, input: EmulatedActionInput): EmulatedAction {
  const parsed = v.safeParse(EmulatedActionSchema, input);
  if (!parsed.success) throw new TypeError(`Port emulator: action declaration: ${formatIssues(parsed.issues)}`);
  const { identifier, title, trigger, invocationMethod: im } = parsed.output;
  const unsupported = im.type === "WEBHOOK" ? unsupportedTemplate([im.body, im.headers]) : undefined;
  if (unsupported) throw new TypeError(`Port emulator: action ${identifier}: renders template paths only, not "${unsupported}"`);
  const blueprint =
    parsed.output.blueprint ?? (trigger?.type === "self-service" ? trigger.blueprintIdentifier : trigger?.event?.blueprintIdentifier) ?? undefined;
  const action: EmulatedAction = {
    identifier,
    ...(title === undefined ? {} : { title }),
    ...(blueprint === undefined ? {} : { blueprint }),
    invocationMethod: im.type === "WEBHOOK" ? im : { type: im.type },
    ...(trigger ? { definition: portDefinition(input) } : {}),
  };
  state.actions.set(action.identifier, action);
  return action;
}

/** The declaration as Port's definition: as declared, the shorthand `blueprint` moved to where Port has it. */
function portDefinition(input: EmulatedActionInput): Record<string, unknown> {
  const { blueprint, ...definition } = structuredClone(input) as EmulatedActionInput & { trigger: Record<string, unknown> };
  if (blueprint !== undefined && definition.trigger.type === "self-service") definition.trigger.blueprintIdentifier ??= blueprint;
  return definition;
}

/** Creates a run of a declared action as Port does when it is triggered; undefined when no such action. */
export function triggerAction(
  state: PortEmulatorState,
  clock: () => number,
  identifier: string,
  input: { properties: Record<string, unknown>; entity?: string | undefined; id?: string },
): EmulatedRun | undefined {
  const action = state.actions.get(identifier);
  if (!action) return undefined;
  const id = input.id ?? `r_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const run = state.declareRun(id) as EmulatedRun;
  const entity = input.entity === undefined ? null : { identifier: input.entity };
  const im = action.invocationMethod;
  const data = {
    inputs: input.properties,
    trigger: { by: { orgId: "org_emulator", userId: "emulator-user" }, origin: "API", at: new Date(clock()).toISOString() },
    entity,
    action: { identifier: action.identifier, blueprint: action.blueprint ?? null },
    run: { id },
  };
  Object.assign(run, {
    action: { identifier: action.identifier, ...(action.title ? { title: action.title } : {}), ...(action.blueprint ? { blueprint: action.blueprint } : {}) },
    properties: structuredClone(input.properties),
    entity,
  });
  if (im.type === "WEBHOOK") {
    const body = im.body === undefined ? { ...structuredClone(input.properties), port_context: { runId: id } } : render(im.body, data);
    const headers = im.headers === undefined ? { RUN_ID: id } : (render(im.headers, data) as Record<string, unknown>);
    const { body: _template, headers: _headers, ...method } = im;
    run.payload = { ...method, headers, body };
    if (im.agent) run.agentClaim = { installationId: null, claimedUntilMs: null, acked: false };
  } else run.payload = { type: im.type };
  return run;
}

export function registerActionRoutes(app: Hono<Env>, deps: WebhookDeliveryDeps): void {
  const { state, clock } = deps;
  app.post("/v1/actions/:actionIdentifier/runs", (c) => {
    const parsed = v.safeParse(ExecuteBodySchema, c.get("body"));
    if (!parsed.success) return refuse(c, 422, "invalid_request", `The json provided does not match the route's schema: ${formatIssues(parsed.issues)}`);
    const identifier = c.req.param("actionIdentifier");
    const run = triggerAction(state, clock, identifier, parsed.output);
    if (!run) return refuse(c, 404, "not_found", `Action with identifier "${identifier}" was not found`);
    // A direct WEBHOOK is sent now, after the answer is on its way, as Port calls the backend after creating the run.
    void deliverWebhook(deps, run);
    return c.json({ ok: true, run: { id: run.id, status: run.status, action: run.action, properties: run.properties, payload: run.payload } }, 202);
  });

  // Port keeps the answer whatever the run's status; the agent sends it just before the status.
  app.patch("/v1/actions/runs/:runId/response", (c) => {
    const run = state.findRun(c.req.param("runId"));
    if (!run) return refuse(c, 404, "not_found", `Action run with identifier "${c.req.param("runId")}" was not found`);
    const parsed = v.safeParse(ResponseBodySchema, c.get("body"));
    if (!parsed.success) return refuse(c, 422, "invalid_request", `The json provided does not match the route's schema: ${formatIssues(parsed.issues)}`);
    run.response = parsed.output.response;
    run.updatedAtMs = clock();
    return c.json({ ok: true });
  });

  app.patch("/v1/organization", (c) => {
    const parsed = v.safeParse(OrganizationBodySchema, c.get("body"));
    if (!parsed.success) return refuse(c, 422, "invalid_request", `The json provided does not match the route's schema: ${formatIssues(parsed.issues)}`);
    Object.assign(state.organization.settings, parsed.output.settings);
    return c.json({ ok: true, organization: { settings: state.organization.settings } });
  });

  app.post("/emulator/actions", async (c) => {
    try {
      const action = declareAction(state, (await c.req.json()) as EmulatedActionInput);
      return c.json({ ok: true, action }, 201);
    } catch (err) {
      return refuse(c, 422, "invalid_request", err instanceof Error ? err.message : "Send an action declaration as JSON");
    }
  });
}

/** The first template expression that is not a path or `spreadValue()`, if any. */
function unsupportedTemplate(values: unknown[]): string | undefined {
  for (const value of values) {
    for (const text of strings(value)) {
      for (const [, expr] of text.matchAll(TEMPLATE)) if (expr !== SPREAD && !PATH.test(expr ?? "")) return expr;
    }
  }
  return undefined;
}

function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === "object") return Object.entries(value).flatMap(([key, inner]) => [key, ...strings(inner)]);
  return [];
}

function lookup(data: unknown, path: string): unknown {
  let at: unknown = data;
  for (const key of path.split(".").filter(Boolean)) at = at && typeof at === "object" ? (at as Record<string, unknown>)[key] : undefined;
  return at ?? null;
}

/** Renders a template value with `data` (paths only; see the module comment). */
export function render(template: unknown, data: unknown): unknown {
  if (typeof template === "string") {
    const whole = /^\{\{\s*(.*?)\s*\}\}$/.exec(template);
    if (whole && !template.slice(2, -2).includes("{{")) return lookup(data, whole[1] ?? "");
    return template.replace(TEMPLATE, (_, expr: string) => {
      const value = lookup(data, expr);
      return typeof value === "string" ? value : JSON.stringify(value);
    });
  }
  if (Array.isArray(template)) return template.map((item) => render(item, data));
  if (template && typeof template === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(template)) {
      const value = render(inner, data);
      if (new RegExp(`^\\{\\{\\s*${SPREAD.replace(/[()]/g, "\\$&")}\\s*\\}\\}$`).test(key)) {
        if (value && typeof value === "object" && !Array.isArray(value)) Object.assign(out, value);
        continue;
      }
      const name = render(key, data);
      if (name === null || name === "") continue;
      out[String(name)] = value;
    }
    return out;
  }
  return template;
}
