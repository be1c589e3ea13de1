import type { Change, ChangeAction, ChangeResourceType, Run } from "../messages/views.ts";
import type { EntityDeleteOptions, EntityInput, EntityPatch, EntityWriteOptions, RunPatch } from "../port/calls.ts";

/**
 * The team's handler module: its default export says what to do with each action and each kind of
 * change. A plain object works; `defineHandlers` only adds types.
 *
 * ```ts
 * export default defineHandlers({
 *   runs: { deploy: async (run) => ({ summary: "Deployed" }) },
 *   changes: [{ match: { blueprint: "vm", action: "UPDATE" }, handle: async (change) => {} }],
 * })
 * ```
 */
export interface HandlerModule {
  /** Keyed by action identifier. */
  runs?: Record<string, RunTarget>;
  /** Every matching rule runs, in order. */
  changes?: ChangeRule[];
}

/** What a run handler sees: the normalised run plus ways to talk to Port while it works. */
export interface RunContext extends Run {
  /** Adds a line to the run's log in Port (delivered in order, before the final status). */
  log(message: string): Promise<void>;
  /**
   * Creates or merges an entity and links it to this run in Port. With `createMissingRelatedEntities`, Port
   * creates the entities its relations name that do not exist yet (instead of refusing the write).
   */
  upsertEntity(blueprint: string, entity: EntityInput, options?: EntityWriteOptions): Promise<void>;
  /** Changes some fields of an existing entity (properties and relations merge) and links it to this run. */
  updateEntity(blueprint: string, identifier: string, patch: EntityPatch, options?: EntityWriteOptions): Promise<void>;
  /** Deletes an entity, linked to this run; `deleteDependents` also deletes the entities related to it. */
  deleteEntity(blueprint: string, identifier: string, options?: EntityDeleteOptions): Promise<void>;
  /**
   * Creates or merges many entities of one blueprint, 20 per call to Port. Port may take some and refuse
   * others: what it refused is written to the run's log (and portside's), the rest stays written.
   */
  upsertEntities(blueprint: string, entities: EntityInput[], options?: EntityWriteOptions): Promise<void>;
  /** Aborted when the handler's time is up or the service is shutting down for good. */
  signal: AbortSignal;
  /** 1 normally; more when an earlier attempt was interrupted (only with `rerunOnInterrupt`). */
  attempt: number;
}

/** A run handler's answer. Returning (anything) means SUCCESS; throwing means FAILURE with the message. */
export type RunResult = void | undefined | (Omit<RunPatch, "status"> & { status?: "SUCCESS" | "FAILURE" });

export type RunHandler = (run: RunContext) => Promise<RunResult> | RunResult;

export interface RunHandlerOptions {
  handle: RunHandler;
  /** Overrides the default handler time limit. */
  timeoutMs?: number;
  /**
   * Whether running this handler again after a crash mid-run is safe (it is idempotent). When false
   * (the default), an interrupted run is reported FAILURE asking the user to re-trigger it from Port.
   */
  rerunOnInterrupt?: boolean;
  /**
   * For a WEBHOOK action Port calls synchronously (`synchronized` in Port): when the run comes by Port's
   * webhook (`/webhooks/port`), the answer waits for the handler (up to WEBHOOK_SYNC_TIMEOUT_MS) and carries
   * its result, which is how Port learns the run's status; logs and entities still go through Port's API.
   */
  sync?: boolean;
}

/** A target that is not local code (e.g. EventBridge fan-out); its `kind` says which. */
export interface ExternalTarget {
  kind: string;
  [option: string]: unknown;
}

export type RunTarget = RunHandler | RunHandlerOptions | ExternalTarget;

export interface ChangeMatch {
  blueprint?: string | string[];
  action?: ChangeAction | ChangeAction[];
  resourceType?: ChangeResourceType | ChangeResourceType[];
}

export type ChangeHandler = (change: Change & { signal: AbortSignal }) => Promise<void> | void;

export interface ChangeRule {
  match?: ChangeMatch;
  handle?: ChangeHandler;
  to?: ExternalTarget;
  timeoutMs?: number;
}

/** Identity function that gives a handler module its types. */
export function defineHandlers<const M extends HandlerModule>(module: M): M {
  return module;
}

export function matchesChange(match: ChangeMatch | undefined, change: Change): boolean {
  if (!match) return true;
  const has = <T>(want: T | T[] | undefined, got: T | null) => want === undefined || (Array.isArray(want) ? want.includes(got as T) : want === got);
  return has(match.blueprint, change.blueprint) && has(match.action, change.action) && has(match.resourceType, change.resourceType);
}
