/**
 * The emulator's entity routes (tests and the local demo only — this is not Port):
 *   POST   /v1/blueprints/{bp}/entities        `upsert`, `merge`, `run_id`, `create_missing_related_entities`
 *   POST   /v1/blueprints/{bp}/entities/bulk   the same; `{entities: [...]}`, 1 to 20; 200, or 207 when some
 *                                              were refused, with `errors[]` naming them
 *   PATCH  /v1/blueprints/{bp}/entities/{id}   `run_id`, `create_missing_related_entities`; fields merge
 *   DELETE /v1/blueprints/{bp}/entities/{id}   `run_id`, `delete_dependents`
 * Every write checks the body's shape and identifier, the blueprint (see port-emulator-blueprints.ts) and the
 * run it links to: an unknown run is 404, and a run that ended takes no more links (422).
 */
import type { Context, Hono } from "hono";
import { checkAgainstBlueprint, missingRelatedRefusal } from "./port-emulator-blueprints.ts";
import { answerRefusal, type Env, type Refusal } from "./port-emulator-http.ts";
import { checkBulk, checkEntity, checkEntityPatch, type EntityBody, type EntityPatchBody } from "./port-emulator-rules.ts";
import type { EmulatedRun, PortEmulatorState, StoredEntity } from "./port-emulator-state.ts";

interface Deps {
  state: PortEmulatorState;
  clock: () => number;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

const refused = (refusal: Refusal): { ok: false; refusal: Refusal } => ({ ok: false, refusal });
const invalid = (message: string): Refusal => ({ status: 422, error: "invalid_request", message });
const flag = (c: Context<Env>, name: string) => c.req.query(name) === "true";

export function registerEntityRoutes(app: Hono<Env>, { state }: Deps): void {
  app.post("/v1/blueprints/:blueprint/entities", (c) => {
    const blueprint = c.req.param("blueprint");
    const checked = checkEntity(c.get("body"));
    if (!checked.ok) return answerRefusal(c, invalid(checked.message));
    const run = linkedRun(c);
    if (!run.ok) return answerRefusal(c, run.refusal);
    const written = upsert(blueprint, checked.value, writeFlags(c));
    if (!written.ok) return answerRefusal(c, written.refusal);
    run.value?.linkedEntities.push({ blueprint, identifier: checked.value.identifier });
    return c.json({ ok: true, entity: written.value }, 201);
  });

  app.post("/v1/blueprints/:blueprint/entities/bulk", (c) => {
    const blueprint = c.req.param("blueprint");
    const checked = checkBulk(c.get("body"));
    if (!checked.ok) return answerRefusal(c, invalid(checked.message));
    if (state.blueprintFor(blueprint) === undefined) return answerRefusal(c, blueprintNotFound(blueprint));
    const run = linkedRun(c);
    if (!run.ok) return answerRefusal(c, run.refusal);
    // Each entity stands alone: the ones that fit are written, the others listed in errors[] (207).
    const entities: { created: boolean; identifier: string; index: number }[] = [];
    const errors: { identifier?: string; index: number; statusCode: number; error: string; message: string }[] = [];
    checked.value.entities.forEach((item, index) => {
      const identifier = typeof (item as { identifier?: unknown })?.identifier === "string" ? (item as { identifier: string }).identifier : undefined;
      const one = checkEntity(item);
      const existed = one.ok && state.entity(blueprint, one.value.identifier) !== undefined;
      const written = one.ok ? upsert(blueprint, one.value, writeFlags(c)) : refused(invalid(one.message.replace("/body", `/body/entities/${index}`)));
      if (!written.ok) {
        errors.push({ ...(identifier !== undefined ? { identifier } : {}), index, statusCode: written.refusal.status, ...errorOf(written.refusal) });
        return;
      }
      entities.push({ created: !existed, identifier: written.value.identifier, index });
      run.value?.linkedEntities.push({ blueprint, identifier: written.value.identifier });
    });
    return c.json({ ok: errors.length === 0, entities, errors }, errors.length === 0 ? 200 : 207);
  });

  app.patch("/v1/blueprints/:blueprint/entities/:identifier", (c) => {
    const { blueprint, identifier } = c.req.param();
    const checked = checkEntityPatch(c.get("body"));
    if (!checked.ok) return answerRefusal(c, invalid(checked.message));
    const run = linkedRun(c);
    if (!run.ok) return answerRefusal(c, run.refusal);
    const written = update(blueprint, identifier, checked.value, flag(c, "create_missing_related_entities"));
    if (!written.ok) return answerRefusal(c, written.refusal);
    run.value?.linkedEntities.push({ blueprint, identifier: written.value.identifier, operation: "UPDATE" });
    return c.json({ ok: true, entity: written.value });
  });

  app.delete("/v1/blueprints/:blueprint/entities/:identifier", (c) => {
    const { blueprint, identifier } = c.req.param();
    if (state.blueprintFor(blueprint) === undefined) return answerRefusal(c, blueprintNotFound(blueprint));
    const run = linkedRun(c);
    if (!run.ok) return answerRefusal(c, run.refusal);
    if (!state.entity(blueprint, identifier)) return answerRefusal(c, entityNotFound(blueprint, identifier));
    const dependents = dependentsOf(blueprint, identifier);
    if (dependents.length > 0 && !flag(c, "delete_dependents")) {
      // The emulator's choice where Port's documentation is silent: refuse rather than leave dangling relations.
      return answerRefusal(c, {
        status: 422,
        error: "has_dependents",
        message: `Entity "${identifier}" of blueprint "${blueprint}" has ${dependents.length} dependent entities (delete_dependents=true deletes them too)`,
      });
    }
    for (const key of [...dependents.map((e) => `${e.blueprint}/${e.identifier}`), `${blueprint}/${identifier}`]) state.entities.delete(key);
    run.value?.linkedEntities.push({ blueprint, identifier, operation: "DELETE" });
    return c.json({ ok: true });
  });

  /** The run named by `run_id`, if any: it must exist and still be in progress to take a link. */
  function linkedRun(c: Context<Env>): Outcome<EmulatedRun | undefined> {
    const runId = c.req.query("run_id");
    if (runId === undefined) return { ok: true, value: undefined };
    const run = state.findRun(runId);
    if (!run) return refused({ status: 404, error: "not_found", message: `Action run with identifier "${runId}" was not found` });
    if (run.status !== "IN_PROGRESS") {
      return refused({
        status: 422,
        error: "run_not_in_progress",
        message: `Cannot link an entity to action run ${run.id}: it already ended with status ${run.status}`,
      });
    }
    return { ok: true, value: run };
  }

  /** Checks the blueprint, creates missing related entities when asked, and writes the entity. */
  function upsert(blueprint: string, input: EntityBody, opts: { upsert: boolean; merge: boolean; createMissing: boolean }): Outcome<StoredEntity> {
    const fitted = fitBlueprint(blueprint, input, opts.createMissing);
    if (!fitted.ok) return fitted;
    const key = `${blueprint}/${input.identifier}`;
    const existing = state.entities.get(key);
    if (existing && !opts.upsert) {
      return refused({
        status: 409,
        error: "identifier_taken",
        message: `An entity with identifier ${input.identifier} already exists in blueprint ${blueprint}`,
      });
    }
    const merge = opts.merge && existing !== undefined;
    const entity: StoredEntity = {
      ...(merge ? existing : {}),
      ...input,
      blueprint,
      properties: { ...(merge ? existing?.properties : {}), ...input.properties },
      relations: { ...(merge ? existing?.relations : {}), ...input.relations },
    };
    state.entities.set(key, entity);
    return { ok: true, value: entity };
  }

  /** PATCH: the entity must exist; given fields replace, properties and relations merge, `identifier` renames. */
  function update(blueprint: string, identifier: string, patch: EntityPatchBody, createMissing: boolean): Outcome<StoredEntity> {
    const fitted = fitBlueprint(blueprint, patch, createMissing);
    if (!fitted.ok) return fitted;
    const existing = state.entity(blueprint, identifier);
    if (!existing) return refused(entityNotFound(blueprint, identifier));
    const renamed = patch.identifier ?? identifier;
    if (renamed !== identifier && state.entity(blueprint, renamed)) {
      return refused({ status: 409, error: "identifier_taken", message: `An entity with identifier ${renamed} already exists in blueprint ${blueprint}` });
    }
    const entity: StoredEntity = {
      ...existing,
      ...patch,
      identifier: renamed,
      blueprint,
      properties: { ...existing.properties, ...patch.properties },
      relations: { ...existing.relations, ...patch.relations },
    };
    state.entities.delete(`${blueprint}/${identifier}`);
    state.entities.set(`${blueprint}/${renamed}`, entity);
    return { ok: true, value: entity };
  }

  /** The blueprint must exist (once any is declared); a declared one checks the fields and the related entities. */
  function fitBlueprint(blueprint: string, fields: Pick<EntityBody, "properties" | "relations">, createMissing: boolean): Outcome<undefined> {
    const declared = state.blueprintFor(blueprint);
    if (declared === undefined) return refused(blueprintNotFound(blueprint));
    if (declared === null) return { ok: true, value: undefined };
    const checked = checkAgainstBlueprint(declared, fields, state.entity);
    if (!checked.ok) return checked;
    const [first] = checked.missing;
    if (first && !createMissing) return refused(missingRelatedRefusal(first));
    for (const missing of checked.missing) {
      state.entities.set(`${missing.blueprint}/${missing.identifier}`, { ...missing, properties: {}, relations: {} });
    }
    return { ok: true, value: undefined };
  }

  /** Entities with a relation to this one: by the relation's declared target, or (undeclared) by identifier alone. */
  function dependentsOf(blueprint: string, identifier: string): StoredEntity[] {
    return [...state.entities.values()].filter((entity) =>
      Object.entries(entity.relations).some(([name, value]) => {
        const target = state.blueprints.get(entity.blueprint)?.relations?.[name]?.target;
        if (target !== undefined && target !== blueprint) return false;
        return value === identifier || (Array.isArray(value) && value.includes(identifier));
      }),
    );
  }
}

function writeFlags(c: Context<Env>) {
  return { upsert: flag(c, "upsert"), merge: flag(c, "merge"), createMissing: flag(c, "create_missing_related_entities") };
}

function errorOf(refusal: Refusal) {
  return { error: refusal.error, message: refusal.message };
}

function blueprintNotFound(blueprint: string): Refusal {
  return { status: 404, error: "not_found", message: `Blueprint with identifier "${blueprint}" was not found` };
}

function entityNotFound(blueprint: string, identifier: string): Refusal {
  return { status: 404, error: "not_found", message: `Entity with identifier "${identifier}" of blueprint "${blueprint}" was not found` };
}
