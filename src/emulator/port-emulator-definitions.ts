/**
 * Action definitions in the Port EMULATOR (tests and the local demo only — this is not Port): what
 * `actions pull` reads, served from the actions declared with Port's definition (a `trigger`; see
 * port-emulator-actions.ts), and a file of them to declare at once.
 *
 *   GET /v1/actions?version=v2           `{ok, actions}`, in declaration order; Port's filters `action_identifier`,
 *                                        `blueprint_identifier`, `operation` (each repeatable) and `trigger_type`
 *   GET /v1/actions/{identifier}?version=v2   `{ok, action}`; 404 for an unknown action
 *
 * Port answers both in an older shape unless asked for `version=v2`; the emulator has only the current one,
 * and refuses a request that does not ask for it (422), so a client that forgets is caught here.
 */
import type { Context, Hono } from "hono";
import * as v from "valibot";
import { type Env, refuse } from "./port-emulator-http.ts";
import type { EmulatedAction, PortEmulatorState } from "./port-emulator-state.ts";
import { declareAction, type EmulatedActionInput } from "./port-emulator-actions.ts";

/** A definitions file: a list of actions, or Port's own answer to `GET /v1/actions` (`{ok, actions}`). */
const DefinitionsFileSchema = v.union([v.array(v.unknown()), v.looseObject({ actions: v.array(v.unknown()) })]);

/**
 * Declares every action of a definitions file's JSON (see `DefinitionsFileSchema`); throws naming the action
 * (identifier, else its place) and the field at fault.
 */
export function declareActions(state: PortEmulatorState, json: unknown): EmulatedAction[] {
  const parsed = v.safeParse(DefinitionsFileSchema, json);
  if (!parsed.success) throw new TypeError('expected a list of action definitions, or Port\'s answer {"actions": [...]}');
  const list = Array.isArray(parsed.output) ? parsed.output : parsed.output.actions;
  return list.map((item, index) => {
    try {
      return declareAction(state, item as EmulatedActionInput);
    } catch (error) {
      const identifier = (item as { identifier?: unknown } | null)?.identifier;
      const which = typeof identifier === "string" ? `action "${identifier}"` : `action #${index + 1}`;
      throw new TypeError(`${which}: ${(error as Error).message.replace(/^Port emulator: (action declaration|action \S+): /, "")}`);
    }
  });
}

export function registerDefinitionRoutes(app: Hono<Env>, deps: { state: PortEmulatorState }): void {
  const { state } = deps;
  app.get("/v1/actions", (c) => {
    const refused = refuseVersion(c);
    if (refused) return refused;
    const wanted = (name: string) => c.req.queries(name) ?? [];
    const [identifiers, blueprints, operations] = [wanted("action_identifier"), wanted("blueprint_identifier"), wanted("operation")];
    const triggerType = c.req.query("trigger_type");
    const actions = [...state.actions.values()].flatMap((action) => {
      const definition = action.definition;
      if (!definition) return [];
      const trigger = definition.trigger as { type: string; operation?: string };
      const keep =
        (identifiers.length === 0 || identifiers.includes(action.identifier)) &&
        (blueprints.length === 0 || (action.blueprint !== undefined && blueprints.includes(action.blueprint))) &&
        (operations.length === 0 || (trigger.operation !== undefined && operations.includes(trigger.operation))) &&
        (triggerType === undefined || trigger.type === triggerType);
      return keep ? [definition] : [];
    });
    return c.json({ ok: true, actions });
  });

  app.get("/v1/actions/:identifier", (c) => {
    const refused = refuseVersion(c);
    if (refused) return refused;
    const identifier = c.req.param("identifier");
    const definition = state.actions.get(identifier)?.definition;
    if (!definition) return refuse(c, 404, "not_found", `Action with identifier "${identifier}" was not found`);
    return c.json({ ok: true, action: definition });
  });
}

function refuseVersion(c: Context<Env>): Response | undefined {
  if (c.req.query("version") === "v2") return undefined;
  return refuse(c, 422, "invalid_request", "The Port emulator serves action definitions in Port's current shape only: ask with ?version=v2");
}
