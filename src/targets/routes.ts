import * as v from "valibot";
import { CHANGE_ACTIONS, CHANGE_RESOURCE_TYPES } from "../messages/schemas.ts";
import type { ChangeRule } from "./define.ts";
import { describeIssue, eventBridge, EventBridgeOptionsSchema, type EventBridgeTarget } from "./eventbridge/target.ts";
import { createRegistry, emptyRegistry, HandlerModuleError, type Registry } from "./registry.ts";
import { describeError } from "../shared/errors.ts";

/**
 * The routes file: EventBridge routing without code. A team that only fans runs and changes out to a bus
 * writes this file (path in ROUTES) and no handler module; a team with a module can have both, as long
 * as no action is claimed twice. It becomes an ordinary handler-module fragment of `eventBridge()`
 * targets, so the executor treats routed and coded targets alike.
 *
 * ```json
 * { "defaults": { "bus": "platform-events" },
 *   "runs": { "create_vm": { "status": "deferred" } },
 *   "changes": [{ "match": { "blueprint": "microservice" } }] }
 * ```
 */

const oneOrMany = <T extends v.GenericSchema>(schema: T) =>
  v.optional(v.union([schema, v.pipe(v.array(schema), v.minLength(1))], "must be a string or a non-empty list of them"));

const { status: _status, ...changeOptionEntries } = EventBridgeOptionsSchema.entries;

const RoutesFileSchema = v.strictObject({
  /** Applied to every route that leaves the option out. */
  defaults: v.optional(
    v.strictObject({
      bus: EventBridgeOptionsSchema.entries.bus,
      source: EventBridgeOptionsSchema.entries.source,
      status: EventBridgeOptionsSchema.entries.status,
    }),
  ),
  /** Keyed by action identifier. */
  runs: v.optional(
    v.pipe(
      v.custom<object>((x) => typeof x === "object" && x !== null && !Array.isArray(x), "must be an object keyed by action identifier"),
      v.record(v.pipe(v.string(), v.minLength(1)), EventBridgeOptionsSchema),
    ),
  ),
  /** Every matching route publishes, in order. `status` does not apply: changes have no Port status. */
  changes: v.optional(
    v.array(
      v.strictObject({
        match: v.optional(
          v.strictObject({
            blueprint: oneOrMany(v.pipe(v.string(), v.minLength(1))),
            action: oneOrMany(v.picklist(CHANGE_ACTIONS)),
            resourceType: oneOrMany(v.picklist(CHANGE_RESOURCE_TYPES)),
          }),
        ),
        ...changeOptionEntries,
      }),
    ),
  ),
});

export type RoutesFile = v.InferOutput<typeof RoutesFileSchema>;

/** A loaded routes file: where it came from and the handler-module fragment it stands for. */
export interface Routes {
  source: string;
  module: { runs: Record<string, EventBridgeTarget>; changes: ChangeRule[] };
}

/** A routes file that cannot be used; the message names the file and the JSON path. Stops the start. */
export class RoutesError extends HandlerModuleError {
  override name = "RoutesError";
}

export interface RoutesIO {
  readText(path: string): Promise<string>;
  /** YAML support comes from the entry (Bun.YAML on Bun, the `yaml` package on Deno); without it only JSON files load. */
  parseYaml?: (text: string) => unknown;
}

/** Reads, parses and checks the routes file at `path` (ROUTES). */
export async function loadRoutesFile(path: string, io: RoutesIO): Promise<Routes> {
  let text: string;
  try {
    text = await io.readText(path);
  } catch (error) {
    throw new RoutesError(`ROUTES: could not read ${path}: ${describeError(error)}`);
  }
  return parseRoutes(text, path, io.parseYaml ? { parseYaml: io.parseYaml } : {});
}

/** Parses routes text; YAML when `source` ends in .yaml/.yml, JSON otherwise. */
export function parseRoutes(text: string, source: string, opts: { parseYaml?: (text: string) => unknown } = {}): Routes {
  const yaml = /\.ya?ml$/i.test(source);
  let value: unknown;
  try {
    if (!yaml) value = JSON.parse(text);
    else if (opts.parseYaml) value = opts.parseYaml(text);
    else throw new RoutesError(`${source}: YAML routes files are not read here; write the routes as JSON instead`);
  } catch (error) {
    if (error instanceof RoutesError) throw error;
    throw new RoutesError(`${source}: not valid ${yaml ? "YAML" : "JSON"}: ${describeError(error)}`);
  }
  return checkRoutes(value, source);
}

/** Checks a parsed routes file and turns it into `eventBridge()` targets. */
export function checkRoutes(value: unknown, source: string): Routes {
  const result = v.safeParse(RoutesFileSchema, value);
  if (!result.success) throw new RoutesError(`${source}: ${describeIssue(result.issues[0], jsonPath)}. See src/examples/routes.json for the shape.`);
  const file = result.output;
  if (Object.keys(file.runs ?? {}).length === 0 && (file.changes ?? []).length === 0)
    throw new RoutesError(`${source}: has no routes under "runs" or "changes", so it routes nothing`);
  const defaults = file.defaults ?? {};
  const runs: Record<string, EventBridgeTarget> = {};
  for (const [action, options] of Object.entries(file.runs ?? {})) runs[action] = eventBridge({ ...defaults, ...options });
  const { status: _unused, ...changeDefaults } = defaults;
  const changes: ChangeRule[] = (file.changes ?? []).map(({ match, ...options }) => ({
    ...(match ? { match } : {}),
    to: eventBridge({ ...changeDefaults, ...options }),
  }));
  return { source, module: { runs, changes } };
}

/** Fails when an action has both a handler and a route: which one should run would be a guess. */
function checkConflicts(actions: string[], moduleSource: string, routes: Routes) {
  const both = actions.filter((action) => Object.hasOwn(routes.module.runs, action));
  if (both.length > 0) {
    const list = both.map((a) => `"${a}"`).join(", ");
    throw new RoutesError(
      `${list} ${both.length === 1 ? "has" : "have"} both a handler in ${moduleSource} (runs) and a route in ${routes.source} ($.runs); remove one of them`,
    );
  }
}

/**
 * The handler module's registry (what `loadHandlerModule` returns) with the routes added: module rules for
 * changes run first, then the routes'. With no handler module configured, the routes stand alone.
 */
export function mergeRoutes(registry: Registry, routes: Routes): Registry {
  checkConflicts(registry.actions, registry.source, routes);
  const routed = createRegistry(routes.module, routes.source);
  // main.ts uses emptyRegistry() when HANDLERS is unset; then the routes file is the only source to name.
  const hasModule = registry.source !== emptyRegistry().source;
  const source = hasModule ? `${registry.source} and ${routes.source}` : routes.source;
  return {
    source,
    actions: [...registry.actions, ...routed.actions],
    changesOnlyToTargets: registry.changesOnlyToTargets === true && routed.changesOnlyToTargets === true,
    forRun(action, run) {
      if (Object.hasOwn(routes.module.runs, action)) return routed.forRun(action, run);
      const route = registry.forRun(action, run);
      if (route.type !== "missing") return route;
      const where = hasModule
        ? `Add runs["${action}"] to the handler module's default export or a route to "runs" in ${routes.source}.`
        : `Add a route for it to "runs" in ${routes.source}.`;
      return { type: "missing", reason: `No handler or route for action "${action}" in ${source}. ${where}` };
    },
    forChange(change) {
      return [...registry.forChange(change), ...routed.forChange(change)];
    },
  };
}

/** `$.changes[0].match.blueprint`: the path as a person finds it in the file. */
function jsonPath(issue: v.BaseIssue<unknown>): string {
  let path = "$";
  for (const item of issue.path ?? []) {
    const key = item.key;
    if (typeof key === "number") path += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)) path += `.${key}`;
    else path += `[${JSON.stringify(String(key))}]`;
  }
  return path;
}
