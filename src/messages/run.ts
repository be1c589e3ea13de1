/**
 * From a parsed record on the runs topic to the normalised `Run` handlers see, whatever shape arrived:
 * Port's legacy invocation, the agent-style one (legacy + signature headers), portside's Actions-v2
 * template, or a team's own template described by a `RunLocator`.
 *
 * The shape is detected from marker fields first and then validated against that one schema, rather
 * than tried against a union of all of them: a union can only say "matched none of the shapes", while a
 * single schema says which field of the intended shape is wrong — the reason parked records carry and
 * Port shows the user as the run's FAILURE message.
 */
import * as v from "valibot";
import { describeValue, formatIssues } from "./issues.ts";
import { runAudience } from "./audience.ts";
import { getAtPath, isPlainObject } from "./json.ts";
import { isPolledRecord, parsePolled } from "./polled.ts";
import { isWebhookRecord, parseWebhook } from "./webhook.ts";
import type { RunLocator } from "./locator.ts";
import { extractCustomRun } from "./locator.ts";
import { ADDRESSABLE_RUN_ID, AgentRunSchema, isActionId, LegacyRunSchema, TemplateRunSchema } from "./run-schemas.ts";
import type { LegacyRunMessage, TemplateRunMessage } from "./run-schemas.ts";
import { type PortTrigger, type PortUserMessage, RUN_OPERATIONS } from "./schemas.ts";
import type { PortEntity, PortUser, Run, RunOperation } from "./views.ts";

export interface ParseRunOptions {
  /** Where a team's own template puts the run's parts; without it only the known shapes are accepted. */
  locator?: RunLocator;
}

export type ParseRunResult =
  | { ok: true; run: Run }
  /**
   * `runId` is dug out best-effort from a record of a shape portside knows, so a poison record can still be
   * reported to Port as FAILURE; null for records of no known shape (they may be another consumer's).
   */
  | { ok: false; reason: string; runId: string | null };

const SHAPE_SCHEMAS = { legacy: LegacyRunSchema, agent: AgentRunSchema, template: TemplateRunSchema } as const;

/** Validates one runs-topic record and normalises it. Never throws. */
export function parseRun(value: unknown, opts: ParseRunOptions = {}): ParseRunResult {
  if (!isPlainObject(value)) {
    return { ok: false, reason: `not a run message: expected a JSON object, got ${describeValue(value)}`, runId: null };
  }
  if (isPolledRecord(value)) return parsePolled(value);
  if (isWebhookRecord(value)) return parseWebhook(value);
  const shape = detectShape(value);
  if (typeof shape === "object") return { ok: false, reason: shape.refused, runId: null };
  if (shape === "unknown") {
    if (opts.locator) return parseCustom(value, opts.locator);
    // Not a shape portside knows, so not known to be for portside: parked, never reported to Port.
    return { ok: false, reason: UNRECOGNISED, runId: null };
  }
  const result = v.safeParse(SHAPE_SCHEMAS[shape], value);
  if (!result.success) {
    const label = shape === "template" ? "portside template run" : `${shape} run`;
    return { ok: false, reason: `invalid ${label}: ${formatIssues(result.issues)}`, runId: digRunId(value) };
  }
  const run = shape === "template" ? fromTemplate(result.output as TemplateRunMessage, value) : fromLegacy(result.output as LegacyRunMessage, shape, value);
  return { ok: true, run };
}

const UNRECOGNISED =
  "not a recognised run message: expected Port's run message (resourceType \"run\"), portside's template " +
  '("portside": 1, see connectors/port-action-payload.json), or a message your configured run locator ' +
  "describes (none is configured)";

/**
 * Which shape a message claims to be, from its marker fields: `portside` (our template), `resourceType`
 * (Port's own messages); "unknown" is left to the team's locator. A change-log record sent to the runs
 * endpoint is refused here with a pointer to the right endpoint — and without a run id, because it is not
 * a run invocation and reporting FAILURE against the run it describes would be wrong.
 */
function detectShape(message: Record<string, unknown>): "legacy" | "agent" | "template" | "unknown" | { refused: string } {
  if ("portside" in message) return "template";
  if (!("resourceType" in message)) return "unknown";
  const { resourceType } = message;
  if (typeof resourceType === "string" && resourceType !== "run") {
    return {
      refused:
        `resourceType: expected "run", got ${describeValue(resourceType)}: this looks like a change-log ` +
        "message; send ORG_ID.change.log records to /sink/changes, not /sink/runs",
    };
  }
  if ("diff" in message) {
    return {
      refused:
        "this is a change-log message about a run (it has a diff), not an action invocation; send " +
        "ORG_ID.change.log records to /sink/changes, not /sink/runs",
    };
  }
  return isPlainObject(message.headers) && "X-Port-Signature" in message.headers ? "agent" : "legacy";
}

function parseCustom(message: Record<string, unknown>, locator: RunLocator): ParseRunResult {
  const custom = extractCustomRun(message, locator);
  if (!custom.ok) return { ok: false, reason: custom.reason, runId: digRunId(message, locator) };
  const p = custom.parts;
  const trigger = p.triggerPath;
  return {
    ok: true,
    run: {
      id: p.runIdPath,
      action: p.actionPath,
      operation: toOperation(p.operationPath),
      blueprint: p.blueprintPath ?? p.entityPath?.blueprint ?? null,
      entity: p.entityPath ?? null,
      inputs: p.inputsPath ?? {},
      secretInputs: [],
      orgId: p.orgIdPath,
      user: toUser(trigger?.by?.userId, trigger?.by?.user),
      origin: trigger?.origin ?? null,
      triggeredAt: trigger?.at ?? null,
      shape: "custom",
      forAgent: false,
      raw: message,
    },
  };
}

function fromLegacy(m: LegacyRunMessage, shape: "legacy" | "agent", raw: unknown): Run {
  const trigger = m.payload.action?.trigger;
  const entity = m.payload.entity ?? (m.context.entity ? { identifier: m.context.entity } : null);
  return {
    id: m.context.runId,
    action: m.action,
    operation: toOperation(typeof trigger === "string" ? trigger : trigger?.operation),
    blueprint: m.context.blueprint ?? m.payload.action?.blueprint ?? entity?.blueprint ?? null,
    entity,
    inputs: m.payload.properties ?? {},
    secretInputs: m.payload.censoredProperties ?? [],
    ...fromTrigger(m.trigger),
    shape,
    forAgent: isForAgent(raw),
    raw,
  };
}

function fromTemplate(m: TemplateRunMessage, raw: unknown): Run {
  const entity: PortEntity | null = m.entity ?? null;
  return {
    id: m.runId,
    action: m.action,
    operation: toOperation(m.operation ?? m.trigger.operation),
    blueprint: m.blueprint ?? entity?.blueprint ?? null,
    entity,
    inputs: m.inputs ?? {},
    secretInputs: m.secretInputs ?? [],
    ...fromTrigger(m.trigger),
    shape: "template",
    forAgent: false,
    raw,
  };
}

function fromTrigger(t: PortTrigger): Pick<Run, "orgId" | "user" | "origin" | "triggeredAt"> {
  return { orgId: t.by.orgId, user: toUser(t.by.userId, t.by.user), origin: t.origin ?? null, triggeredAt: t.at ?? null };
}

/** The user object's id when Port sends one (it matches the email and name), else `trigger.by.userId`. */
function toUser(userId: string | null | undefined, user: PortUserMessage | null | undefined): PortUser {
  const name = [user?.firstName, user?.lastName].filter((part) => part).join(" ");
  return { id: user?.id ?? userId ?? null, email: user?.email ?? null, name: name || null };
}

/** `agent: true` in the message's invocation method: a run for Port's execution agent. */
function isForAgent(raw: unknown): boolean {
  const audience = runAudience(raw);
  return !audience.ours && audience.owner === "agent";
}

/** Known operations pass; anything else (a value Port adds later) becomes null rather than a refusal. */
function toOperation(value: string | null | undefined): RunOperation | null {
  return (RUN_OPERATIONS as readonly string[]).includes(value ?? "") ? (value as RunOperation) : null;
}

/** Best effort: the first non-empty string at the paths any shape keeps its run id. */
function digRunId(message: Record<string, unknown>, locator?: RunLocator): string | null {
  const paths = ["context.runId", "runId", "run.id"];
  if (locator) paths.unshift(locator.runIdPath);
  for (const path of paths) {
    const id = getAtPath(message, path);
    // Only an id Port can address: a FAILURE for anything else could land on another run's URL.
    if (typeof id === "string" && ADDRESSABLE_RUN_ID.test(id)) return id;
  }
  return null;
}

/**
 * The run id and action in a record that is not even valid JSON, so Port can still be told the run
 * failed. Read only when the text names exactly one addressable run id and one action, and nothing in it
 * says the run is someone else's (an agent run, a non-Kafka invocation, another organisation): a broken
 * record is never reported on a guess.
 */
export function brokenRun(text: string, orgId: string): { runId: string; action: string } | null {
  const runId = onlyValue(text, /"runId"\s*:\s*"([^"\\]{1,200})"/g);
  const action = onlyValue(text, /"action"\s*:\s*"([^"\\]{1,200})"/g);
  if (runId === null || action === null || !ADDRESSABLE_RUN_ID.test(runId) || !isActionId(action)) return null;
  if (/"agent"\s*:\s*(true|"true")/.test(text)) return null;
  if (/"invocationMethod"\s*:\s*\{[^{}]*"type"\s*:\s*"(?!KAFKA")/i.test(text)) return null;
  for (const match of text.matchAll(/"orgId"\s*:\s*"([^"\\]*)"/g)) if (match[1] !== orgId) return null;
  return { runId, action };
}

/** The one distinct value `pattern` captures in `text`, or null for none or several. */
function onlyValue(text: string, pattern: RegExp): string | null {
  const found = new Set<string>();
  for (const match of text.matchAll(pattern)) found.add(match[1] as string);
  const [only] = found;
  return found.size === 1 && only !== undefined ? only : null;
}
