import { describe, expect, test } from "bun:test";
import { locateWebhookRun, parseWebhook, webhookRecord } from "./webhook.ts";

describe("a webhook's run id and action", () => {
  const where = { runIdPath: null, action: null };

  test("the run id at port_context.runId, context.runId or runId, in that order, else the RUN_ID header; the action from the URL first", () => {
    expect(locateWebhookRun({ port_context: { runId: "r_a" }, runId: "r_b" }, { ...where, action: "deploy" })).toEqual({
      ok: true,
      runId: "r_a",
      action: "deploy",
    });
    expect(locateWebhookRun({ context: { runId: "r_c" }, action: { identifier: "scale" } }, where)).toEqual({ ok: true, runId: "r_c", action: "scale" });
    expect(locateWebhookRun({ port_context: { action: "restart" } }, { ...where, runIdHeader: "r_h" })).toEqual({ ok: true, runId: "r_h", action: "restart" });
  });

  test("WEBHOOK_RUN_ID_PATH is the only place looked at when set", () => {
    const body = { meta: { run: "r_m" }, port_context: { runId: "r_p" } };
    expect(locateWebhookRun(body, { runIdPath: "meta.run", action: "deploy", runIdHeader: null })).toMatchObject({ runId: "r_m" });
    expect(locateWebhookRun({ port_context: { runId: "r_p" } }, { runIdPath: "meta.run", action: "deploy" })).toMatchObject({
      ok: false,
      runId: null,
      reason: expect.stringContaining("no run id at meta.run"),
    });
  });

  test("refusals name the places looked at, never a value", () => {
    const noId = locateWebhookRun({ runId: "not a run id; DROP TABLE" }, { ...where, action: "deploy" });
    expect(noId).toMatchObject({ ok: false, runId: null });
    expect(JSON.stringify(noId)).not.toContain("DROP");
    const noAction = locateWebhookRun({ port_context: { runId: "r_x" }, action: "secret-looking value" }, where);
    expect(noAction).toMatchObject({ ok: false, runId: "r_x", reason: expect.stringContaining("no action identifier") });
    expect(JSON.stringify(noAction)).not.toContain("secret-looking");
    expect(locateWebhookRun([1, 2], where)).toEqual({ ok: false, reason: "the body is not a JSON object", runId: null });
  });
});

describe("the run a webhook record holds", () => {
  test("inputs as Port's default template puts them (the body without port_context), entity, blueprint and user from port_context", () => {
    const body = {
      version: "2.0",
      replicas: 3,
      port_context: {
        runId: "r_w",
        entity: "checkout",
        blueprint: "service",
        trigger: { by: { user: { email: "lee@example.com", firstName: "Lee", lastName: "Ops", id: "u_1" } }, origin: "UI", at: "2026-12-07T10:00:00.000Z" },
      },
    };
    const parsed = parseWebhook(JSON.parse(webhookRecord("org_1", "r_w", "deploy", body)));
    expect(parsed).toMatchObject({
      ok: true,
      run: {
        id: "r_w",
        action: "deploy",
        orgId: "org_1",
        inputs: { version: "2.0", replicas: 3 },
        entity: { identifier: "checkout" },
        blueprint: "service",
        user: { email: "lee@example.com", name: "Lee Ops", id: "u_1" },
        origin: "UI",
        triggeredAt: "2026-12-07T10:00:00.000Z",
        shape: "webhook",
      },
    });
  });

  test("a template that nests the inputs under `inputs` or `properties` is read there", () => {
    for (const key of ["inputs", "properties"]) {
      const parsed = parseWebhook(JSON.parse(webhookRecord("org_1", "r_n", "deploy", { [key]: { cpu: 2 }, port_context: { runId: "r_n" } })));
      expect(parsed).toMatchObject({ ok: true, run: { inputs: { cpu: 2 } } });
    }
  });

  test("a record that is not one names the field at fault, and its run id when it has a good one", () => {
    expect(parseWebhook({ portsideWebhook: 1, orgId: "org_1", runId: "r_ok", action: "", body: {} })).toMatchObject({ ok: false, runId: "r_ok" });
    expect(parseWebhook({ portsideWebhook: 1, orgId: "org_1", runId: 7, action: "deploy", body: {} })).toMatchObject({ ok: false, runId: null });
  });
});
