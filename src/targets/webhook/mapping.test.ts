import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentMessageOf, AgentMessageError, messageFromPolledRun } from "./agent-message.ts";
import { createJqEngine } from "./jq.ts";
import { gitlabTriggerTokenVar, pickJqEnv } from "./jq-program.ts";
import { loadMappingFile, MappingFileError, parseMappingFile } from "./mapping.ts";
import { createMappingEvaluator, MappingRequestError } from "./mapping-eval.ts";

const jq = createJqEngine();
afterAll(() => jq.close());
const DEFAULT_MAPPING = new URL("./default-mapping.json", import.meta.url).pathname;

/** A GITLAB run for Port's agent, as it arrives on the runs topic (signed). */
const gitlabMessage = {
  action: "deploy",
  resourceType: "run",
  status: "TRIGGERED",
  trigger: { by: { orgId: "org_1", userId: "auth0|1" }, origin: "UI", at: "2026-03-01T10:00:00.000Z" },
  context: { entity: "svc-a", blueprint: "service", runId: "r_Q2mGf9ZYkFRnZJjB" },
  payload: {
    entity: { identifier: "svc-a", blueprint: "service" },
    action: { invocationMethod: { type: "GITLAB", agent: true, groupName: "acme/platform", projectName: "svc", defaultRef: "develop", omitUserInputs: false } },
    properties: { ref: "feature/x", cpu: 2, tags: ["a", "b"] },
  },
  headers: { "X-Port-Signature": "v1,abc", "X-Port-Timestamp": 1713277889 },
};

describe("the agent's default mapping, unchanged", () => {
  test("builds GitLab's pipeline trigger for a GITLAB run, which a GitLab on 127.0.0.1 takes", async () => {
    const received: { path: string; method: string; body: Record<string, unknown> }[] = [];
    const gitlab = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        received.push({ path: new URL(req.url).pathname, method: req.method, body: (await req.json()) as Record<string, unknown> });
        return Response.json({ id: 1234, web_url: "https://gitlab.example/acme/platform/svc/-/pipelines/1234" }, { status: 201 });
      },
    });
    try {
      const file = await loadMappingFile(DEFAULT_MAPPING);
      expect(file.warnings).toEqual([]);
      const env = pickJqEnv({ GITLAB_URL: `http://127.0.0.1:${gitlab.port}/`, [gitlabTriggerTokenVar("acme/platform", "svc")]: "tok123", HOME: "/root" }, [
        "GITLAB_URL",
        "acme_platform_svc",
      ]);
      const evaluator = createMappingEvaluator({ jq, mappings: file.mappings, env });
      const agent = agentMessageOf(gitlabMessage, "r_Q2mGf9ZYkFRnZJjB");
      const built = await evaluator.request(agent);
      expect(built.mappingIndex).toBe(0);
      expect(built.problems).toEqual([]);
      expect(built.request).toMatchObject({
        method: "POST",
        url: `http://127.0.0.1:${gitlab.port}/api/v4/projects/acme%2Fplatform%2Fsvc/trigger/pipeline`,
        headers: {},
        query: {},
      });
      // GITLAB messages lose their whole `headers` key (signature included) before mapping, as in the agent.
      const { headers: _signed, ...unsigned } = gitlabMessage;
      expect(built.request.body).toEqual({
        ref: "feature/x",
        token: "tok123",
        variables: { ref: "feature/x", cpu: "2", tags: '["a","b"]' },
        port_payload: unsigned,
      });

      const res = await fetch(built.request.url, {
        method: built.request.method,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(built.request.body),
      });
      expect(res.status).toBe(201);
      expect(received).toEqual([
        { path: "/api/v4/projects/acme%2Fplatform%2Fsvc/trigger/pipeline", method: "POST", body: built.request.body as Record<string, unknown> },
      ]);

      const report = await evaluator.report(built.mapping!, {
        body: agent.message,
        request: built.request,
        response: { statusCode: 201, headers: {}, text: "", json: await res.json() },
      });
      expect(report.overrides).toEqual({ link: "https://gitlab.example/acme/platform/svc/-/pipelines/1234", externalRunId: "1234" });
    } finally {
      gitlab.stop(true);
    }
  });

  test("a WEBHOOK run falls to the second mapping: the invocation's url and method, the whole message as body", async () => {
    const { mappings } = await loadMappingFile(DEFAULT_MAPPING);
    const evaluator = createMappingEvaluator({ jq, mappings, env: {} });
    const polled = {
      id: "r_1",
      payload: {
        type: "WEBHOOK",
        agent: true,
        synchronized: true,
        url: "http://127.0.0.1:9/run",
        method: "PUT",
        headers: { RUN_ID: "r_1" },
        body: { cpu: 2, port_context: { runId: "r_1" } },
      },
    };
    const agent = agentMessageOf(polled, "r_1");
    const built = await evaluator.request(agent);
    expect(built.mappingIndex).toBe(1);
    expect(built.request).toEqual({ method: "PUT", url: "http://127.0.0.1:9/run", headers: {}, query: {}, body: agent.message });
  });
});

describe("the message a polled run is mapped over", () => {
  test("the rendered body, with headers, payload.action.invocationMethod and context.runId set as the agent sets them", () => {
    const agent = messageFromPolledRun({
      id: "r_9",
      payload: {
        type: "WEBHOOK",
        agent: true,
        url: "http://127.0.0.1:9/x",
        headers: { RUN_ID: "r_9" },
        body: { a: 1, headers: { old: 1 }, payload: { keep: true, action: { invocationMethod: { type: "OLD" } } }, context: { runId: "template-value", x: 1 } },
      },
    });
    expect(agent.message).toEqual({
      a: 1,
      headers: { RUN_ID: "r_9" },
      payload: {
        keep: true,
        action: { invocationMethod: { type: "WEBHOOK", url: "http://127.0.0.1:9/x", synchronized: false, method: "POST", headers: { RUN_ID: "r_9" } } },
      },
      context: { runId: "r_9", x: 1 },
    });
    expect(agent.invocation).toMatchObject({ synchronized: false, method: "POST" });
  });

  test("a body that is not an object cannot be mapped (the agent fails such a run too)", () => {
    expect(() => agentMessageOf({ id: "r_2", payload: { type: "WEBHOOK", body: "text" } }, "r_2")).toThrow(AgentMessageError);
  });

  test("a node run: its config as the invocation, its body only at .context.nodeConfig.body", () => {
    const agent = agentMessageOf({ identifier: "wfnr_1", config: { type: "WEBHOOK", url: "http://127.0.0.1:9/n", agent: true, body: { b: 1 } } }, "wfnr_1");
    expect(agent).toMatchObject({ runId: "wfnr_1", kind: "workflowNode" });
    expect(agent.message).toEqual({
      headers: {},
      payload: { action: { invocationMethod: { type: "WEBHOOK", url: "http://127.0.0.1:9/n", synchronized: false, method: "POST", headers: {} } } },
      context: { runId: "wfnr_1", nodeConfig: { type: "WEBHOOK", url: "http://127.0.0.1:9/n", agent: true, body: { b: 1 } } },
    });
  });
});

describe("mapping files: what they take and how they are refused", () => {
  test("the first mapping whose enabled is exactly true applies; literals kept, empty nested objects dropped, null headers dropped", async () => {
    const { mappings } = parseMappingFile(
      JSON.stringify([
        { enabled: '"yes"', url: '"http://127.0.0.1:1/no"' },
        { enabled: false, url: '"http://127.0.0.1:2/no"' },
        {
          enabled: ".go",
          url: '"http://127.0.0.1:3/" + .name',
          method: '"patch"',
          headers: { "X-Run": ".context.runId", "X-None": ".nothing", "X-Num": "1 + 1" },
          query: { tag: ".tags", skip: "null" },
          body: { n: 5, flag: false, nested: { empty: {}, v: ".name" }, list: [".name", 7], gone: {} },
        },
      ]),
      "inline",
    );
    const evaluator = createMappingEvaluator({ jq, mappings, env: {} });
    const message = { go: true, name: "svc", tags: ["a", "b"], context: { runId: "r_1" } };
    const built = await evaluator.request({
      runId: "r_1",
      kind: "action",
      invocation: { type: "WEBHOOK", url: null, method: "POST", synchronized: false, headers: {} },
      message,
    });
    expect(built.mappingIndex).toBe(2);
    expect(built.request).toEqual({
      url: "http://127.0.0.1:3/svc",
      method: "PATCH",
      headers: { "X-Run": "r_1", "X-Num": "2" },
      query: { tag: ["a", "b"] },
      body: { n: 5, flag: false, nested: { v: "svc" }, list: ["svc", 7] },
    });
  });

  test("no URL from the mapping or the run is a refusal naming where it came from", async () => {
    const { mappings } = parseMappingFile('[{"enabled": true, "url": ".missing"}]', "inline");
    const evaluator = createMappingEvaluator({ jq, mappings, env: {} });
    const agent = {
      runId: "r_1",
      kind: "action" as const,
      invocation: { type: "WEBHOOK", url: null, method: "POST", synchronized: false, headers: {} },
      message: {},
    };
    await expect(evaluator.request(agent)).rejects.toThrow(new MappingRequestError("mapping #1 gave no URL to forward the run to"));
  });

  test("a header HTTP does not allow (its name or its value) is a refusal naming the header's place, never the header", async () => {
    const agent = {
      runId: "r_1",
      kind: "action" as const,
      invocation: { type: "WEBHOOK", url: "http://127.0.0.1:3/svc", method: "POST", synchronized: false, headers: {} },
      message: { inputs: { name: "x y:secret-name", value: "line\r\nX-Injected: 1" } },
    };
    for (const [headers, at] of [
      ['{"X-Ok": "1", (.inputs.name): "v"}', "header #2 (its name"],
      [{ "X-Value": ".inputs.value" }, "header #1 (its value"],
    ] as const) {
      const { mappings } = parseMappingFile(JSON.stringify([{ enabled: true, headers }]), "inline");
      const refused = await createMappingEvaluator({ jq, mappings, env: {} })
        .request(agent)
        .then(
          () => null,
          (e: unknown) => e as Error,
        );
      expect(refused).toBeInstanceOf(MappingRequestError);
      expect(refused?.message).toContain(`mapping #1 gave a header HTTP does not allow: ${at}`);
      expect(refused?.message).not.toContain("secret-name");
      expect(refused?.message).not.toContain("Injected");
    }
  });

  test("refusals name the file, the mapping and the field; unknown keys are warnings", async () => {
    expect(() => parseMappingFile("{", "f.json")).toThrow(/^f\.json: not valid JSON/);
    expect(() => parseMappingFile('{"enabled": true}', "f.json")).toThrow(/f\.json: .*JSON array of mappings/);
    expect(() => parseMappingFile('[{"url": ".u"}, {"report": {"link": 5}}]', "f.json")).toThrow(/f\.json: mapping #2: report\.link/);
    expect(() => parseMappingFile('[{"enabled": "x", "body": 5}]', "f.json")).toThrow(MappingFileError);
    expect(parseMappingFile('[{"url": ".u", "bdy": {}}]', "f.json").warnings).toEqual([
      'mapping #1: unknown key "bdy" is ignored (Port\'s agent ignores it too)',
    ]);
    const dir = await mkdtemp(join(tmpdir(), "portside-mapping-"));
    await expect(loadMappingFile(join(dir, "absent.json"))).rejects.toThrow(/absent\.json: cannot read the mapping file \(ENOENT\)/);
    await writeFile(join(dir, "m.json"), "[]");
    expect((await loadMappingFile(join(dir, "m.json"))).mappings).toEqual([]);
  });
});
