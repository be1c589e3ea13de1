/**
 * Run records for the benchmark: Port's legacy run shape (what Port publishes on ORG_ID.runs), a CREATE
 * run of the no-op action `bench`. Bodies are built from a pre-split template, so the load generator
 * spends its time sending, not serialising.
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

const MARK = "__RUN_ID__";

/** Builds records for run ids quickly: the JSON of `runRecord` with the id spliced in. */
export function recordFactory(orgId: string): (runId: string) => string {
  const [head, tail] = JSON.stringify(runRecord(MARK, orgId)).split(MARK) as [string, string];
  return (runId) => head + runId + tail;
}

export type BodyForm = "array" | "ndjson";

/** One sink request body of `ids.length` records, in Confluent's array form or Aiven's newline form. */
export function batchBody(record: (runId: string) => string, ids: string[], form: BodyForm): string {
  const parts = ids.map(record);
  return form === "array" ? `[${parts.join(",")}]` : `${parts.join("\n")}\n`;
}
