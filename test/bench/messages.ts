/**
 * Records for the benchmark: runs in Port's legacy run shape (what Port publishes on ORG_ID.runs), a CREATE
 * run of the no-op action `bench`; and catalog changes as Port publishes them on ORG_ID.change.log, an
 * entity UPDATE (a catalog sync touches many entities, one change each). Bodies are built from a pre-split
 * template, so the load generator spends its time sending, not serialising.
 */
export const BENCH_ACTION = "bench";

export function runRecord(runId: string, orgId: string, inputs: Record<string, unknown> = { version: "1.0.0" }): Record<string, unknown> {
  return {
    action: BENCH_ACTION,
    resourceType: "run",
    status: "TRIGGERED",
    trigger: {
      by: { orgId, userId: "auth0|5f1c", user: { email: "lee@example.com", firstName: "Lee", lastName: "Ops", id: "auth0|5f1c" } },
      origin: "UI",
      at: "2026-08-02T08:12:44.010Z",
    },
    context: { entity: null, blueprint: "microservice", runId },
    payload: { entity: null, action: { invocationMethod: { type: "KAFKA" }, trigger: "CREATE" }, properties: inputs },
  };
}

/** An entity UPDATE on the change log; `id` names the entity (so each change has its own digest). */
export function changeRecord(id: string, orgId: string): Record<string, unknown> {
  const entity = (freeStorage: number, updatedAt: string) => ({
    identifier: id,
    title: `Service ${id}`,
    blueprint: "microservice",
    team: ["platform"],
    properties: { language: "go", tier: "2", free_storage: freeStorage },
    relations: {},
    createdAt: "2026-07-15T16:34:47.385Z",
    createdBy: "auth0|5f1c",
    updatedAt,
    updatedBy: "auth0|5f1c",
  });
  return {
    action: "UPDATE",
    resourceType: "entity",
    status: "SUCCESS",
    trigger: { by: { orgId, userId: "auth0|5f1c" }, origin: "API", at: "2026-07-15T16:44:56.288Z" },
    context: { entity: id, blueprint: "microservice" },
    diff: { before: entity(6, "2026-07-15T16:34:47.385Z"), after: entity(0.5, "2026-07-15T16:44:56.288Z") },
  };
}

export type RecordKind = "run" | "change";

const MARK = "__RUN_ID__";

/** Builds records for ids quickly: the JSON of `runRecord` (or `changeRecord`) with the id spliced in. */
export function recordFactory(orgId: string, kind: RecordKind = "run"): (id: string) => string {
  const parts = JSON.stringify(kind === "run" ? runRecord(MARK, orgId) : changeRecord(MARK, orgId)).split(MARK);
  return (id) => parts.join(id);
}

export type BodyForm = "array" | "ndjson";

/** One sink request body of `ids.length` records, in Confluent's array form or Aiven's newline form. */
export function batchBody(record: (runId: string) => string, ids: string[], form: BodyForm): string {
  const parts = ids.map(record);
  return form === "array" ? `[${parts.join(",")}]` : `${parts.join("\n")}\n`;
}
