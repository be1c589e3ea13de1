/**
 * The emulator's entity routes (tests and the local demo only — this is not Port):
 * `POST /v1/blueprints/{bp}/entities` with `upsert`, `merge`, `run_id` and `create_missing_related_entities`.
 * Every write checks the body's shape and identifier, the blueprint (see port-emulator-blueprints.ts) and the
 * run it links to: an unknown run is 404, and a run that ended takes no more links (422).
 */
import type { Context, Hono } from "hono";
import { checkAgainstBlueprint, missingRelatedRefusal } from "./port-emulator-blueprints.ts";
import { answerRefusal, type Env, type Refusal } from "./port-emulator-http.ts";
import { checkEntity, type EntityBody } from "./port-emulator-rules.ts";
import type { EmulatedRun, PortEmulatorState, StoredEntity } from "./port-emulator-state.ts";

interface Deps {
  state: PortEmulatorState;
  clock: () => number;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

const refused = (refusal: Refusal): { ok: false; refusal: Refusal } => ({ ok: false, refusal });

export function registerEntityRoutes(app: Hono<Env>, { state }: Deps): void {
  app.post("/v1/blueprints/:blueprint/entities", (c) => {
    const blueprint = c.req.param("blueprint");
    const checked = checkEntity(c.get("body"));
    if (!checked.ok) return answerRefusal(c, { status: 422, error: "invalid_request", message: checked.message });
    const run = linkedRun(c);
    if (!run.ok) return answerRefusal(c, run.refusal);
    const written = upsert(blueprint, checked.value, {
      upsert: c.req.query("upsert") === "true",
      merge: c.req.query("merge") === "true",
      createMissing: c.req.query("create_missing_related_entities") === "true",
    });
    if (!written.ok) return answerRefusal(c, written.refusal);
    run.value?.linkedEntities.push({ blueprint, identifier: checked.value.identifier });
    return c.json({ ok: true, entity: written.value }, 201);
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

  /** The blueprint must exist (once any is declared); a declared one checks the fields and the related entities. */
  function fitBlueprint(blueprint: string, fields: Pick<EntityBody, "properties" | "relations">, createMissing: boolean): Outcome<undefined> {
    const declared = state.blueprintFor(blueprint);
    if (declared === undefined) return refused({ status: 404, error: "not_found", message: `Blueprint with identifier "${blueprint}" was not found` });
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
}
