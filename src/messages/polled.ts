import * as v from "valibot";
import { type PolledNodeRun, PolledNodeRunSchema, type PolledRun, PolledRunSchema } from "../port/polling.ts";
import { formatIssues } from "./issues.ts";
import { isPlainObject } from "./json.ts";
import { ADDRESSABLE_RUN_ID, isActionId } from "./run-schemas.ts";
import type { PortEntity, Run } from "./views.ts";

/**
 * A run claimed from Port's API (the polling ingress) as the ledger keeps it: Port's run as claimed, in an
 * envelope that says which kind it is and for which organisation it was claimed. Claimed runs are this
 * organisation's and meant for its execution agent; portside serves them as the agent would.
 *
 * Workflow node runs carry no action identifier: they are known by `WORKFLOW_NODE_ACTION` and always go
 * to their webhook (see the execution agent's routing in targets/).
 */
export const POLLED_MARKER = "portsidePolled";
export const POLLED_KINDS = ["run", "nodeRun"] as const;
export type PolledKind = (typeof POLLED_KINDS)[number];

/** What a polled workflow node run is called where an action identifier would be (metrics, history). */
export const WORKFLOW_NODE_ACTION = "workflow_node";

const EnvelopeSchema = v.looseObject({
  [POLLED_MARKER]: v.picklist(POLLED_KINDS, `must be ${POLLED_KINDS.join(" or ")}`),
  orgId: v.pipe(v.string(), v.nonEmpty("must not be empty")),
  run: v.unknown(),
});

/** The record text the polling ingress commits for one claimed run. */
export function polledRecord(kind: PolledKind, orgId: string, run: unknown): string {
  return JSON.stringify({ [POLLED_MARKER]: kind, orgId, run });
}

export const isPolledRecord = (message: Record<string, unknown>): boolean => POLLED_MARKER in message;

/** The run a polled record holds, or why it cannot be read (with its id when one is there to report to). */
export function parsePolled(message: Record<string, unknown>): { ok: true; run: Run } | { ok: false; reason: string; runId: string | null } {
  const envelope = v.safeParse(EnvelopeSchema, message);
  if (!envelope.success) return { ok: false, reason: `invalid polled run record: ${formatIssues(envelope.issues)}`, runId: null };
  const { orgId, run } = envelope.output;
  const kind = envelope.output[POLLED_MARKER];
  if (kind === "nodeRun") {
    const node = v.safeParse(PolledNodeRunSchema, run);
    if (!node.success) return { ok: false, reason: `invalid polled workflow node run: ${formatIssues(node.issues)}`, runId: idIn(run, "identifier") };
    return { ok: true, run: fromNodeRun(node.output, orgId) };
  }
  const polled = v.safeParse(PolledRunSchema, run);
  if (!polled.success) return { ok: false, reason: `invalid polled run: ${formatIssues(polled.issues)}`, runId: idIn(run, "id") };
  const action = polled.output.action?.identifier;
  if (!isActionId(action)) return { ok: false, reason: "invalid polled run: action.identifier: missing, or not an action identifier", runId: polled.output.id };
  return { ok: true, run: fromRun(polled.output, action, orgId) };
}

function fromRun(run: PolledRun, action: string, orgId: string): Run {
  const entity = entityOf(run.entity);
  const created = isPlainObject(run.createdBy) ? run.createdBy : null;
  return {
    id: run.id,
    action,
    operation: null,
    blueprint:
      typeof run.blueprint === "object" && run.blueprint && "identifier" in run.blueprint ? String(run.blueprint.identifier) : (entity?.blueprint ?? null),
    entity,
    inputs: run.properties ?? {},
    // Port hands the agent no secret inputs over polling (its docs: encrypted inputs are not supported there).
    secretInputs: [],
    orgId,
    user: { id: typeof created?.id === "string" ? created.id : null, email: typeof created?.email === "string" ? created.email : null, name: null },
    origin: typeof run.source === "string" ? run.source : null,
    triggeredAt: typeof run.createdAt === "string" ? run.createdAt : null,
    shape: "polled",
    forAgent: true,
    raw: run,
  };
}

function fromNodeRun(node: PolledNodeRun, orgId: string): Run {
  return {
    id: node.identifier,
    action: WORKFLOW_NODE_ACTION,
    operation: null,
    blueprint: null,
    entity: null,
    inputs: {},
    secretInputs: [],
    orgId,
    user: { id: null, email: null, name: null },
    origin: null,
    triggeredAt: null,
    shape: "polled",
    forAgent: true,
    raw: node,
  };
}

/** The entity a run ran on, as Port's run object gives it: an object with its identifier, or nothing. */
function entityOf(value: unknown): PortEntity | null {
  if (!isPlainObject(value) || typeof value.identifier !== "string") return null;
  return { ...value, identifier: value.identifier };
}

/** The id `run` names in `field`, when it is one Port can address (what is parked under it, and acknowledged). */
export function idIn(run: unknown, field: string): string | null {
  const id = isPlainObject(run) ? run[field] : undefined;
  return typeof id === "string" && ADDRESSABLE_RUN_ID.test(id) ? id : null;
}
