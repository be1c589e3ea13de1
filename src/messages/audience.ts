/**
 * Whose record is it? `ORG_ID.runs` carries every Kafka-backed run of the organisation: runs of KAFKA
 * actions (portside's), but also runs Port hands to its own agent (WEBHOOK or GITLAB with `agent: true`,
 * workflow nodes for the agent) and, possibly, runs other teams' consumers take. `ORG_ID.change.log`
 * likewise carries records for Port's agent. portside must never execute or report someone else's run.
 *
 * The rule, as Port's agent applies it from the other side (`payload.action.invocationMethod.agent` on the
 * runs topic, `changelogDestination.agent` on the change log):
 *   - `agent: true` → Port's agent's;
 *   - an invocation type other than KAFKA (WEBHOOK, GITLAB, GITHUB, …) → not a Kafka consumer's;
 *   - otherwise (KAFKA, or no invocation method: portside's template, a team's own template, older
 *     messages) → portside's, subject to the action having a handler (see UNHANDLED_RUNS).
 */
import { isPlainObject } from "./json.ts";

export type Audience = { ours: true } | { ours: false; reason: string; owner: "agent" | "other" };

const OURS: Audience = { ours: true };

/**
 * The audience of a run message, from `payload.action.invocationMethod`. With `executionAgent` (portside in
 * Port's agent's place) a run for the agent is portside's too.
 */
export function runAudience(message: unknown, opts: { executionAgent?: boolean } = {}): Audience {
  if (!isPlainObject(message)) return OURS;
  const payload = message.payload;
  const action = isPlainObject(payload) ? payload.action : undefined;
  const method = isPlainObject(action) ? action.invocationMethod : undefined;
  const audience = fromDestination(method, "payload.action.invocationMethod");
  return opts.executionAgent && !audience.ours && audience.owner === "agent" ? OURS : audience;
}

/** The audience of a change-log record, from `changelogDestination`. */
export function changeAudience(message: unknown): Audience {
  if (!isPlainObject(message)) return OURS;
  return fromDestination(message.changelogDestination, "changelogDestination");
}

function fromDestination(destination: unknown, where: string): Audience {
  if (!isPlainObject(destination)) return OURS;
  if (destination.agent === true || destination.agent === "true") {
    return { ours: false, owner: "agent", reason: `${where}.agent is true: it is for Port's agent` };
  }
  const type = destination.type;
  if (typeof type === "string" && type.toUpperCase() !== "KAFKA") {
    return { ours: false, owner: "other", reason: `${where}.type is not KAFKA: another backend handles it` };
  }
  return OURS;
}
