import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { DeadLetterPageSchema, DeadLetterSchema, ErrorSchema, ReplayReplySchema, SinkReplySchema, StatsSchema } from "../../src/http/schemas.ts";
import { createHarness, type Harness, runMessage } from "../support/harness.ts";

/**
 * `GET /openapi.json`: an OpenAPI 3.1 document of every route, generated from the valibot schemas the routes
 * answer with — and real answers hold to those schemas. (`.ci/run` also fuzzes a running portside against
 * the document with schemathesis.)
 */
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { security?: Record<string, string[]>[]; responses: Record<string, unknown> }>>;
  components: { securitySchemes: Record<string, unknown> };
};

async function documentOf(harness: Harness): Promise<Doc> {
  const res = await harness.service.app.request("/openapi.json");
  expect(res.status).toBe(200);
  return (await res.json()) as Doc;
}

describe("/openapi.json", () => {
  test("documents every route the app serves, each with its answers, and the tokens each asks for", async () => {
    h = await createHarness();
    const doc = await documentOf(h);
    expect(doc.openapi).toBe("3.1.0");
    const served = new Set(
      h.service.app.routes
        // The console is HTML for people, left out of the document on purpose.
        .filter((r) => r.method !== "ALL" && r.path !== "/openapi.json" && !r.path.includes("*") && !r.path.startsWith("/console"))
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
    );
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`)));
    expect([...served].sort()).toEqual([...documented].sort());
    expect(documented.has("post /sink/runs")).toBe(true);
    expect(doc.paths["/sink/runs"]?.post?.security).toEqual([{ sinkToken: [] }]);
    expect(doc.paths["/admin/stats"]?.get?.security).toEqual([{ adminToken: [] }]);
    expect(Object.keys(doc.paths["/sink/runs"]?.post?.responses ?? {}).sort()).toEqual(["200", "401", "413", "503"]);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(["adminToken", "sinkToken"]);
  });

  test("in open mode the document asks for no token, as the routes do not", async () => {
    h = await createHarness({ env: { SINK_TOKEN: "", ADMIN_TOKEN: "", PORTSIDE_OPEN: "true" } });
    const doc = await documentOf(h);
    const secured = Object.values(doc.paths).flatMap((ops) => Object.values(ops).filter((op) => op.security));
    expect(secured).toEqual([]);
    expect(doc.components.securitySchemes).toEqual({});
  });

  test("real answers hold to the schemas the document is made from", async () => {
    let changeHandlerFails = true;
    h = await createHarness({
      env: { BODY_LIMIT_BYTES: "2048" },
      handlers: {
        runs: { deploy: async () => ({ summary: "ok" }) },
        changes: [
          {
            handle: () => {
              if (changeHandlerFails) throw new Error("not yet");
            },
          },
        ],
      },
    });
    const ok = await h.post("/sink/runs", `${JSON.stringify(runMessage("r_oa_1"))}\n{"bad": }`);
    expect(v.parse(SinkReplySchema, await ok.json())).toMatchObject({ accepted: 1, parked: 1 });
    expect(v.is(ErrorSchema, await (await h.post("/sink/runs", "{}", { token: "wrong-token-0123456789" })).json())).toBe(true);
    expect(v.is(ErrorSchema, await (await h.post("/sink/runs", "x".repeat(4096))).json())).toBe(true);
    await h.waitForTerminal(["r_oa_1"]);

    const page = v.parse(DeadLetterPageSchema, await (await h.admin("/dead-letters")).json());
    expect(page.items).toHaveLength(1);
    const id = page.items[0]?.id ?? "";
    expect(v.is(DeadLetterSchema, await (await h.admin(`/dead-letters/${id}`)).json())).toBe(true);
    expect(v.is(ErrorSchema, await (await h.admin("/dead-letters/999999")).json())).toBe(true);
    expect(v.is(ErrorSchema, await (await h.admin("/dead-letters?after=nope")).json())).toBe(true);
    expect(v.is(ErrorSchema, await (await h.admin(`/dead-letters/${id}/replay`, "POST")).json())).toBe(true); // still invalid: 422
    expect(v.parse(StatsSchema, await (await h.admin("/stats")).json()).ledger.deadLetters).toBe(1);

    // A change whose handler failed is parked; once the handler works, replaying it is a 200 of its own shape.
    const change = readFileSync(new URL("../../src/messages/fixtures/changes/entity-update.json", import.meta.url), "utf8").trim();
    expect((await h.post("/sink/changes", change)).status).toBe(200);
    await h.waitUntil(async () => (await h?.ledger.counts())?.deadLetters === 2, "the failed change parked");
    changeHandlerFails = false;
    const letters = v.parse(DeadLetterPageSchema, await (await h.admin("/dead-letters")).json()).items;
    const failedChange = letters.find((l) => l.kind === "change");
    const replayed = await h.admin(`/dead-letters/${failedChange?.id}/replay`, "POST");
    expect(replayed.status).toBe(200);
    expect(v.parse(ReplayReplySchema, await replayed.json())).toMatchObject({ type: "replayed", outcome: "accepted", removed: true });
  });
});
