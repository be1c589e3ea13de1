import * as v from "valibot";
import { CHANGE_ACTIONS, CHANGE_RESOURCE_TYPES } from "../messages/schemas.ts";
import type { Change } from "../messages/views.ts";
import { within } from "../shared/time.ts";
import { matchesChange, type ChangeRule, type ExternalTarget, type HandlerModule, type RunHandler, type RunTarget, type TypedHandlerModule } from "./define.ts";
import { isSchema } from "../actions/check.ts";
import type { ActionSpecs, InputsSchema } from "../actions/spec.ts";
import { formatImportFailure, locateImportFailure } from "./import-errors.ts";
import { firstIssue } from "../messages/issues.ts";

/**
 * The registry answers "what runs for this action / this change?" from the handler module (and, later,
 * a routes file). It checks the module's shape once at start-up so a typo fails the start, not a run.
 */

export type RunRoute =
  | {
      type: "local";
      handle: RunHandler;
      timeoutMs: number | null;
      rerunOnInterrupt: boolean;
      sync?: boolean;
      /** The action's inputs as defined in Port (the module's `actions`), checked before the handler starts; null: not checked. */
      inputs?: InputsSchema | null;
    }
  | { type: "external"; target: ExternalTarget; rerunOnInterrupt: boolean }
  | { type: "missing"; reason: string };

export type ChangeRoute = { type: "local"; handle: NonNullable<ChangeRule["handle"]>; timeoutMs: number | null } | { type: "external"; target: ExternalTarget };

/** What routing needs to know of a run besides its action: whether it is meant for Port's execution agent. */
export interface RunFacts {
  id: string;
  forAgent: boolean;
}

export interface Registry {
  /** What runs for this action; `run` lets an execution agent (targets/agent-routes.ts) take runs meant for one. */
  forRun(action: string, run?: RunFacts): RunRoute;
  forChange(change: Change): ChangeRoute[];
  /** Where the handlers came from, named in "no handler" failures. */
  readonly source: string;
  /** Every change rule sends to a target such as EventBridge: no change runs local code. */
  readonly changesOnlyToTargets?: boolean;
  readonly actions: string[];
}

const fn = v.custom<(...args: never[]) => unknown>((x) => typeof x === "function", "must be a function");
const external = v.looseObject({ kind: v.string() });
const runTarget = v.union(
  [
    fn,
    v.looseObject({
      handle: fn,
      timeoutMs: v.optional(v.pipe(v.number(), v.minValue(1))),
      rerunOnInterrupt: v.optional(v.boolean()),
      sync: v.optional(v.boolean()),
    }),
    external,
  ],
  "must be a function, { handle }, or a target such as eventBridge(…)",
);
const oneOrMany = <T extends v.GenericSchema>(s: T) => v.optional(v.union([s, v.array(s)]));
const changeRule = v.pipe(
  v.looseObject({
    match: v.optional(
      v.strictObject({
        blueprint: oneOrMany(v.string()),
        action: oneOrMany(v.picklist(CHANGE_ACTIONS)),
        resourceType: oneOrMany(v.picklist(CHANGE_RESOURCE_TYPES)),
      }),
    ),
    handle: v.optional(fn),
    to: v.optional(external),
    timeoutMs: v.optional(v.pipe(v.number(), v.minValue(1))),
  }),
  v.check((r) => (r.handle === undefined) !== (r.to === undefined), "needs exactly one of `handle` or `to`"),
);
const actionSpec = v.looseObject({
  invocation: v.picklist(["KAFKA", "WEBHOOK"]),
  inputs: v.nullable(v.custom<InputsSchema>(isSchema, "must be a valibot schema of the inputs, or null")),
});
const moduleSchema = v.looseObject({
  actions: v.optional(v.record(v.string(), actionSpec)),
  runs: v.optional(v.record(v.string(), runTarget)),
  changes: v.optional(v.array(changeRule)),
});

export class HandlerModuleError extends Error {
  override name = "HandlerModuleError";
}

/** Checks a handler module's default export; throws `HandlerModuleError` saying which key is wrong. */
export function checkHandlerModule(value: unknown, source: string): AnyHandlerModule {
  const result = v.safeParse(moduleSchema, value);
  if (!result.success) {
    const { path: where, message } = firstIssue(result.issues);
    throw new HandlerModuleError(
      `${source}: ${where ? `default export .${where}` : "default export"} ${message}. Export { runs: { <action>: async (run) => … }, changes: [{ match, handle }] }.`,
    );
  }
  return value as AnyHandlerModule;
}

/** A module as loaded: plain, or typed by the generated actions (`TypedHandlerModule`). */
export type AnyHandlerModule = HandlerModule | TypedHandlerModule<ActionSpecs>;

export function createRegistry(module: AnyHandlerModule, source: string): Registry {
  const runs = (module.runs ?? {}) as Record<string, RunTarget>;
  const changes = module.changes ?? [];
  const actions: ActionSpecs = "actions" in module && module.actions ? module.actions : {};
  const inputsOf = (action: string) => (Object.hasOwn(actions, action) ? (actions[action]?.inputs ?? null) : null);
  return {
    source,
    actions: Object.keys(runs),
    changesOnlyToTargets: changes.every((rule) => rule.handle === undefined),
    forRun(action) {
      const target = Object.hasOwn(runs, action) ? runs[action] : undefined;
      if (target === undefined) {
        return { type: "missing", reason: `No handler for action "${action}" in ${source}. Add runs["${action}"] to its default export.` };
      }
      if (typeof target === "function") return { type: "local", handle: target, timeoutMs: null, rerunOnInterrupt: false, inputs: inputsOf(action) };
      if ("handle" in target && typeof target.handle === "function") {
        return {
          type: "local",
          handle: target.handle as RunHandler,
          timeoutMs: (target.timeoutMs as number | undefined) ?? null,
          rerunOnInterrupt: target.rerunOnInterrupt === true,
          sync: target.sync === true,
          inputs: inputsOf(action),
        };
      }
      const ext = target as ExternalTarget;
      return { type: "external", target: ext, rerunOnInterrupt: ext.rerunOnInterrupt === true };
    },
    forChange(change) {
      const routes: ChangeRoute[] = [];
      for (const rule of changes) {
        if (!matchesChange(rule.match, change)) continue;
        if (rule.handle) routes.push({ type: "local", handle: rule.handle, timeoutMs: rule.timeoutMs ?? null });
        else if (rule.to) routes.push({ type: "external", target: rule.to });
      }
      return routes;
    },
  };
}

/** The registry used when no handler module is configured: every run fails saying how to add one. */
export const emptyRegistry = (): Registry => createRegistry({}, "no handler module (set HANDLERS)");

/**
 * Imports a handler module by path (works on Bun and Deno) and checks it. An import still going after
 * `importTimeoutMs` (HANDLERS_IMPORT_TIMEOUT_MS; a top-level await that never settles) fails the start naming the module.
 */
export async function loadHandlerModule(path: string, importTimeoutMs: number): Promise<Registry> {
  return createRegistry(await importHandlerModule(path, importTimeoutMs), path);
}

/** The handler module at `path`, imported and checked (what `loadHandlerModule` builds its registry from). */
export async function importHandlerModule(path: string, importTimeoutMs: number): Promise<AnyHandlerModule> {
  const url = path.startsWith("file:") ? path : new URL(path, `file://${cwd()}/`).href;
  const late = `HANDLERS: importing ${path} did not finish within ${importTimeoutMs} ms (a top-level await that never settles?); fix the module, or raise HANDLERS_IMPORT_TIMEOUT_MS if it needs longer to start`;
  let imported: { default?: unknown };
  try {
    imported = await within(import(url), importTimeoutMs, late);
  } catch (error) {
    if (error instanceof Error && error.message === late) throw new HandlerModuleError(late);
    // The place first (file:line:column), as the runtime says it; without one, which module it was.
    const failure = await locateImportFailure(error, url);
    throw new HandlerModuleError(failure.at ? `HANDLERS: ${formatImportFailure(failure)}` : `HANDLERS: could not import ${path}: ${failure.message}`);
  }
  return checkHandlerModule(imported.default, path);
}

function cwd(): string {
  const g = globalThis as { process?: { cwd(): string }; Deno?: { cwd(): string } };
  return g.process?.cwd() ?? g.Deno?.cwd() ?? "/";
}
