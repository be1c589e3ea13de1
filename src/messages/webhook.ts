import * as v from "valibot";
import { formatIssues } from "./issues.ts";
import { getAtPath, isPlainObject } from "./json.ts";
import { ADDRESSABLE_RUN_ID, isActionId } from "./run-schemas.ts";
import type { PortEntity, PortUser, Run } from "./views.ts";

/**
 * A run Port sent straight to portside (a WEBHOOK action pointing at `/webhooks/port`), as the ledger keeps
 * it: the body Port rendered from the action's template, with the run id and action found in it (or in the
 * URL), in an envelope that says so. Port's body is whatever the template renders; the run id is where the
 * template puts it (`port_context.runId` in Port's default template), and so are the inputs (Port's default
 * spreads them at the top: the body without `port_context`).
 */
export const WEBHOOK_MARKER = "portsideWebhook";

/** Where the run id is looked for, in order, unless WEBHOOK_RUN_ID_PATH says; then in the header below. */
export const WEBHOOK_RUN_ID_PATHS = ["port_context.runId", "context.runId", "runId"] as const;
/** The header Port's default WEBHOOK template sets to `{{ .run.id }}`. */
export const WEBHOOK_RUN_ID_HEADER = "RUN_ID";
/** Where the action identifier is looked for, in order, when the URL does not name it. */
export const WEBHOOK_ACTION_PATHS = ["port_context.action", "action.identifier", "payload.action.identifier"] as const;

const EnvelopeSchema = v.looseObject({
  [WEBHOOK_MARKER]: v.literal(1),
  orgId: v.pipe(v.string(), v.nonEmpty()),
  runId: v.pipe(v.string(), v.regex(ADDRESSABLE_RUN_ID, "must be a run id Port can address")),
  action: v.pipe(
    v.string(),
    v.check((a) => isActionId(a), "must be an action identifier"),
  ),
  body: v.record(v.string(), v.unknown()),
});

/** The run id and action a webhook body names (the action from the URL when given), or why not. */
export function locateWebhookRun(
  body: unknown,
  opts: { runIdPath: string | null; action: string | null; runIdHeader?: string | null },
): { ok: true; runId: string; action: string } | { ok: false; reason: string; runId: string | null } {
  if (!isPlainObject(body)) return { ok: false, reason: "the body is not a JSON object", runId: null };
  const paths = opts.runIdPath ? [opts.runIdPath] : WEBHOOK_RUN_ID_PATHS;
  const runId = [...paths.map((path) => getAtPath(body, path)), opts.runIdHeader].find((id) => typeof id === "string" && id !== "");
  if (typeof runId !== "string" || !ADDRESSABLE_RUN_ID.test(runId))
    return {
      ok: false,
      reason: `no run id at ${paths.join(", ")} or in the ${WEBHOOK_RUN_ID_HEADER} header (set WEBHOOK_RUN_ID_PATH to where your action's template puts {{ .run.id }})`,
      runId: null,
    };
  const action = opts.action ?? WEBHOOK_ACTION_PATHS.map((path) => getAtPath(body, path)).find((a) => typeof a === "string");
  if (!isActionId(action))
    return {
      ok: false,
      reason: `no action identifier at ${WEBHOOK_ACTION_PATHS.join(", ")}, and none in the URL (point the action at /webhooks/port/<action>)`,
      runId,
    };
  return { ok: true, runId, action };
}

/** The record text the webhook ingress commits for one invocation. */
export function webhookRecord(orgId: string, runId: string, action: string, body: Record<string, unknown>): string {
  return JSON.stringify({ [WEBHOOK_MARKER]: 1, orgId, runId, action, body });
}

export const isWebhookRecord = (message: Record<string, unknown>): boolean => WEBHOOK_MARKER in message;

/** The run a webhook record holds. */
export function parseWebhook(message: Record<string, unknown>): { ok: true; run: Run } | { ok: false; reason: string; runId: string | null } {
  const envelope = v.safeParse(EnvelopeSchema, message);
  if (!envelope.success) {
    const runId = typeof message.runId === "string" && ADDRESSABLE_RUN_ID.test(message.runId) ? message.runId : null;
    return { ok: false, reason: `invalid webhook run record: ${formatIssues(envelope.issues)}`, runId };
  }
  const { orgId, runId, action, body } = envelope.output;
  const context = isPlainObject(body.port_context) ? body.port_context : {};
  const trigger = isPlainObject(context.trigger) ? context.trigger : {};
  const by = isPlainObject(trigger.by) ? trigger.by : {};
  return {
    ok: true,
    run: {
      id: runId,
      action,
      operation: null,
      blueprint: typeof context.blueprint === "string" ? context.blueprint : null,
      entity: entityOf(context.entity),
      inputs: inputsOf(body),
      secretInputs: [],
      orgId,
      user: userOf(by),
      origin: typeof trigger.origin === "string" ? trigger.origin : null,
      triggeredAt: typeof trigger.at === "string" ? trigger.at : null,
      shape: "webhook",
      forAgent: false,
      raw: body,
    },
  };
}

/** The inputs where templates put them: `inputs`, `properties`, else (Port's default) the body without `port_context`. */
function inputsOf(body: Record<string, unknown>): Record<string, unknown> {
  if (isPlainObject(body.inputs)) return body.inputs;
  if (isPlainObject(body.properties)) return body.properties;
  const { port_context: _context, ...rest } = body;
  return rest;
}

function entityOf(value: unknown): PortEntity | null {
  if (typeof value === "string" && value !== "") return { identifier: value };
  if (isPlainObject(value) && typeof value.identifier === "string") return { ...value, identifier: value.identifier };
  return null;
}

function userOf(by: Record<string, unknown>): PortUser {
  const user = isPlainObject(by.user) ? by.user : {};
  const name = [user.firstName, user.lastName].filter((part) => typeof part === "string" && part).join(" ");
  return {
    id: typeof user.id === "string" ? user.id : typeof by.userId === "string" ? by.userId : null,
    email: typeof user.email === "string" ? user.email : null,
    name: name || null,
  };
}
