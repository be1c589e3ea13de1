/**
 * The normalised views handlers receive, whatever message shape arrived. They are produced by code
 * (`normaliseRun`, `normaliseChange`) from validated messages, so they are plain interfaces; the shapes
 * that arrive over the wire are the valibot schemas next to this file.
 */
import type { CHANGE_ACTIONS, CHANGE_RESOURCE_TYPES, RUN_OPERATIONS } from "./schemas.ts";

export type RunOperation = (typeof RUN_OPERATIONS)[number];

/** Which wire shape a run arrived in. */
export type RunShape = "legacy" | "agent" | "template" | "custom" | "polled" | "webhook";

export interface PortUser {
  id: string | null;
  email: string | null;
  name: string | null;
}

/** A Port entity as it appears in messages (extra keys are kept). */
export interface PortEntity {
  identifier: string;
  title?: string | null;
  blueprint?: string;
  team?: string[] | string | null;
  properties?: Record<string, unknown>;
  relations?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface Run {
  /** The id to report against (`r_…`, older `run_…`, workflow node runs `wfnr_…`). */
  id: string;
  /** The action identifier; handlers are looked up by it. */
  action: string;
  operation: RunOperation | null;
  blueprint: string | null;
  /** The entity the action ran on: the full object when the message carries it, else `{ identifier }`. Null for CREATE. */
  entity: PortEntity | null;
  /** The user's inputs (`payload.properties` in the legacy shape). */
  inputs: Record<string, unknown>;
  /** Names of inputs Port marked secret. */
  secretInputs: string[];
  orgId: string;
  user: PortUser;
  /** `UI`, `API` or `AUTOMATION` (other values are passed through). */
  origin: string | null;
  /** When Port triggered it (ISO 8601), if the message says. */
  triggeredAt: string | null;
  shape: RunShape;
  /**
   * Meant for Port's execution agent: `agent: true` in its invocation method, or claimed from Port's API. Only
   * served in execution-agent mode, by a local handler or forwarded as the agent forwards it.
   */
  forAgent: boolean;
  /** The message as it arrived, every field kept (a polled run: Port's run as claimed). */
  raw: unknown;
}

export type ChangeAction = (typeof CHANGE_ACTIONS)[number];
export type ChangeResourceType = (typeof CHANGE_RESOURCE_TYPES)[number];

export interface Change {
  action: ChangeAction;
  resourceType: ChangeResourceType;
  blueprint: string | null;
  /** Identifier of the entity (or run / blueprint) the change is about, when the message says. */
  identifier: string | null;
  runId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  orgId: string;
  /** Port itself (timers) rather than a user. */
  byPort: boolean;
  userId: string | null;
  origin: string | null;
  at: string | null;
  /** Hex SHA-256 of the record; the dedupe key, stable across redeliveries. */
  digest: string;
  raw: unknown;
}
