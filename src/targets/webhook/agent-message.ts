/**
 * The message a mapping's jq sees, built as Port's agent builds it (port-agent.md §4 and §5):
 *
 * - a polled action run (`claim-pending`): a shallow copy of its rendered body (`payload.body`, which must be a
 *   JSON object), with `headers` replaced by the invocation's headers, `payload.action.invocationMethod` set
 *   to the invocation (without `agent`; method default POST, headers `{}`, synchronized false) and
 *   `context.runId` set to the run's id;
 * - a polled workflow node run: `{headers, payload: {action: {invocationMethod}}, context: {runId, nodeConfig}}`;
 * - a message from the runs topic (Kafka): the message itself, without its signature headers (the whole
 *   `headers` key for GITLAB), as the agent leaves it after checking the signature.
 */
import * as v from "valibot";
import { isRecord } from "../../port/http.ts";
import { type PolledInvocation, PolledNodeRunSchema, PolledRunSchema } from "../../port/polling.ts";

/** Port's agent's default method (`app/core/consts.py`). */
export const DEFAULT_METHOD = "POST";

/** The invocation as the agent reads it, and what a run is forwarded by when no mapping applies. */
export interface AgentInvocation {
  type: string;
  url: string | null;
  method: string;
  synchronized: boolean;
  headers: Record<string, unknown>;
}

/** What the forwarding needs of a run, whatever way it came in. */
export interface AgentMessage {
  runId: string;
  kind: "action" | "workflowNode";
  invocation: AgentInvocation;
  /** The jq input of `enabled`, `url`, `method`, `headers`, `query` and `body`; `.body` of the report's. */
  message: Record<string, unknown>;
}

/** The run cannot be forwarded as Port's agent would (it would fail it too); the message says which field. */
export class AgentMessageError extends Error {
  override name = "AgentMessageError";
}

const SIGNATURE_HEADERS = ["X-Port-Signature", "X-Port-Timestamp"];

function invocationOf(source: PolledInvocation | Record<string, unknown>): AgentInvocation {
  const headers = source.headers;
  return {
    type: typeof source.type === "string" ? source.type : "",
    url: typeof source.url === "string" ? source.url : null,
    method: typeof source.method === "string" && source.method ? source.method : DEFAULT_METHOD,
    synchronized: source.synchronized === true,
    headers: isRecord(headers) ? headers : {},
  };
}

/** The invocation method as the agent writes it into the message (`agent` left out). */
const written = (im: AgentInvocation) => ({ type: im.type, url: im.url, synchronized: im.synchronized, method: im.method, headers: im.headers });

/** The message Port's agent hands its mapping for a polled action run. */
export function messageFromPolledRun(run: v.InferOutput<typeof PolledRunSchema>): AgentMessage {
  const body = run.payload.body;
  if (!isRecord(body)) throw new AgentMessageError(`run ${run.id}: payload.body is not a JSON object, so Port's agent cannot build its message`);
  const invocation = invocationOf(run.payload);
  const payload = body.payload ?? {};
  if (!isRecord(payload)) throw new AgentMessageError(`run ${run.id}: payload.body.payload is not an object`);
  const action = payload.action ?? {};
  if (!isRecord(action)) throw new AgentMessageError(`run ${run.id}: payload.body.payload.action is not an object`);
  const context = body.context ?? {};
  if (!isRecord(context)) throw new AgentMessageError(`run ${run.id}: payload.body.context is not an object`);
  const message = {
    ...body,
    headers: invocation.headers,
    payload: { ...payload, action: { ...action, invocationMethod: written(invocation) } },
    context: { ...context, runId: run.id },
  };
  return { runId: run.id, kind: "action", invocation, message };
}

/** The message Port's agent hands its mapping for a polled workflow node run (the node's body only at `.context.nodeConfig.body`). */
export function messageFromPolledNodeRun(nodeRun: v.InferOutput<typeof PolledNodeRunSchema>): AgentMessage {
  const invocation = invocationOf(nodeRun.config);
  const message = {
    headers: invocation.headers,
    payload: { action: { invocationMethod: written(invocation) } },
    context: { runId: nodeRun.identifier, nodeConfig: nodeRun.config },
  };
  return { runId: nodeRun.identifier, kind: "workflowNode", invocation, message };
}

/** A runs-topic message (legacy or agent shape): the message without its signature, as the agent maps it. */
export function messageFromTopic(raw: Record<string, unknown>, runId: string): AgentMessage {
  const payload = isRecord(raw.payload) ? raw.payload : {};
  const action = isRecord(payload.action) ? payload.action : {};
  const im = isRecord(action.invocationMethod) ? action.invocationMethod : {};
  const invocation = invocationOf(im);
  const message: Record<string, unknown> = { ...raw };
  if (invocation.type === "GITLAB") delete message.headers;
  else if (isRecord(raw.headers)) {
    message.headers = Object.fromEntries(Object.entries(raw.headers).filter(([name]) => !SIGNATURE_HEADERS.includes(name)));
  }
  return { runId, kind: runId.startsWith("wfnr_") ? "workflowNode" : "action", invocation, message };
}

/**
 * The agent's message for a run as portside keeps it (`run.raw`): a polled node run, a polled action run, or
 * a runs-topic message (its id given, since its shape may be a custom template's).
 */
export function agentMessageOf(raw: unknown, runId: string): AgentMessage {
  const node = v.safeParse(PolledNodeRunSchema, raw);
  if (node.success) return messageFromPolledNodeRun(node.output);
  const polled = v.safeParse(PolledRunSchema, raw);
  if (polled.success && polled.output.payload.body !== undefined) return messageFromPolledRun(polled.output);
  if (!isRecord(raw)) throw new AgentMessageError(`run ${runId}: the message is not a JSON object`);
  return messageFromTopic(raw, runId);
}
