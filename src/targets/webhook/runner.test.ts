import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createLogger } from "../../log.ts";
import type { Run } from "../../messages/views.ts";
import type { ReportInput } from "../../port/calls.ts";
import { DEFERRED } from "../external.ts";
import { IDEMPOTENCY_KEY_HEADER } from "./forward.ts";
import { createJqEngine } from "./jq.ts";
import { parseMappingFile } from "./mapping.ts";
import { agentWebhook, createAgentWebhookRunner, type AgentWebhookRunnerOptions } from "./runner.ts";

/** A receiver on 127.0.0.1 that answers from a script of replies and records what it got. */
const replies: (() => Response | Promise<Response>)[] = [];
const received: { method: string; path: string; headers: Headers; body: string }[] = [];
let server: ReturnType<typeof Bun.serve>;
let base = "";
const jq = createJqEngine();

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      received.push({ method: req.method, path: new URL(req.url).pathname + new URL(req.url).search, headers: req.headers, body: await req.text() });
      return (replies.shift() ?? (() => new Response("no reply scripted", { status: 599 })))();
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  server.stop(true);
  await jq.close();
});

function setup(opts: Partial<AgentWebhookRunnerOptions> = {}) {
  replies.length = 0;
  received.length = 0;
  const reports: ReportInput[] = [];
  const logLines: string[] = [];
  const logs: string[] = [];
  const runner = createAgentWebhookRunner({
    jq,
    mappings: [],
    report: async (r) => void reports.push(...r),
    logger: createLogger({ level: "debug", sink: (line) => void logLines.push(line) }),
    retry: { initialMs: 1, maxMs: 5, factor: 2, maxAttempts: 3 },
    ...opts,
  });
  const go = (raw: unknown, id = "r_1") => runner.run(agentWebhook(), { id, action: "deploy", raw } as Run, async (line) => void logs.push(line));
  return { runner, reports, logLines, logs, go };
}

const polled = (over: Record<string, unknown> = {}, id = "r_1") => ({
  id,
  payload: {
    type: "WEBHOOK",
    agent: true,
    synchronized: true,
    url: `${base}/hook`,
    method: "POST",
    headers: { RUN_ID: id },
    body: { cpu: 2, port_context: { runId: id } },
    ...over,
  },
});

describe("forwarding a run as Port's agent does", () => {
  test("synchronized, 2xx: SUCCESS, the answer stored as the run's response, the idempotency key sent", async () => {
    const { go, reports, logs } = setup();
    replies.push(() => Response.json({ built: 12 }));
    expect(await go(polled())).toEqual({ status: "SUCCESS" });
    expect(received).toHaveLength(1);
    expect(received[0]?.method).toBe("POST");
    expect(received[0]?.headers.get(IDEMPOTENCY_KEY_HEADER)).toBe("r_1");
    expect(JSON.parse(received[0]?.body ?? "")).toMatchObject({ cpu: 2, context: { runId: "r_1" }, headers: { RUN_ID: "r_1" } });
    expect(reports).toEqual([{ runId: "r_1", call: { kind: "response", response: { built: 12 } } }]);
    expect(logs).toEqual(["Sending the request", "Action invocation has completed successfully with status code: 200"]);
  });

  test("not synchronized, 2xx: DEFERRED, nothing stored; a refusal is a FAILURE even then", async () => {
    const { go, reports } = setup();
    replies.push(() => new Response("accepted", { status: 202 }));
    expect(await go(polled({ synchronized: false }))).toBe(DEFERRED);
    expect(reports).toEqual([]);
    replies.push(() => new Response("bad input", { status: 400 }));
    expect(await go(polled({ synchronized: false }))).toEqual({
      status: "FAILURE",
      summary: "Failed to invoke the webhook with status code: 400. Response: bad input",
    });
  });

  test("500 then 200: retried once with the same idempotency key, and the run ends once", async () => {
    const { go, reports } = setup();
    replies.push(
      () => new Response("busy", { status: 500 }),
      () => Response.json({ ok: true }),
    );
    expect(await go(polled())).toEqual({ status: "SUCCESS" });
    expect(received.map((r) => r.headers.get(IDEMPOTENCY_KEY_HEADER))).toEqual(["r_1", "r_1"]);
    expect(reports.filter((r) => r.call.kind === "response")).toHaveLength(1);
  });

  test("5xx every time: a bounded number of tries, then FAILURE with the status and a bounded excerpt of the answer", async () => {
    const { go, logLines } = setup();
    const secretish = "x".repeat(5_000);
    for (let i = 0; i < 5; i++) replies.push(() => new Response(`down ${secretish}`, { status: 503 }));
    const result = (await go(polled())) as { status: string; summary: string };
    expect(received).toHaveLength(3);
    expect(result.status).toBe("FAILURE");
    expect(result.summary.startsWith("Failed to invoke the webhook with status code: 503. Response: down xxx")).toBe(true);
    expect(result.summary.length).toBeLessThanOrEqual(500);
    expect(logLines.join("\n")).not.toContain("down x");
  });

  test("a webhook that never answers: each try ends at the time limit, then FAILURE saying so", async () => {
    const { go } = setup({ timeoutMs: 200 });
    for (let i = 0; i < 3; i++) replies.push(() => new Promise<Response>(() => {}));
    const startedMs = Date.now();
    const result = await go(polled());
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(600);
    expect(result).toEqual({ status: "FAILURE", summary: "The webhook could not be reached: no answer within 200 ms (3 attempts)" });
  });

  test("a mapping builds the request and its report overrides the default (null removes the status: the run is left to the receiver)", async () => {
    const { mappings } = parseMappingFile(
      JSON.stringify([
        {
          enabled: '.payload.action.invocationMethod.type == "WEBHOOK"',
          url: `"${base}/mapped"`,
          method: '"PUT"',
          headers: { "X-Run": ".context.runId" },
          query: { cpu: ".cpu" },
          body: { n: ".cpu" },
          report: { status: "null", link: '"https://ci.example/" + (.response.json.id | tostring)', externalRunId: ".response.json.id | tostring" },
        },
      ]),
      "test",
    );
    const { go, reports } = setup({ mappings });
    replies.push(() => Response.json({ id: 77 }));
    expect(await go(polled())).toBe(DEFERRED);
    expect(received[0]).toMatchObject({ method: "PUT", path: "/mapped?cpu=2", body: '{"n":2}' });
    expect(received[0]?.headers.get("x-run")).toBe("r_1");
    expect(reports).toEqual([
      { runId: "r_1", call: { kind: "response", response: { id: 77 } } },
      { runId: "r_1", call: { kind: "update", patch: { link: "https://ci.example/77", externalRunId: "77" } } },
    ]);
  });

  test("a workflow node run: logs and COMPLETED with the answer as output on its own endpoints", async () => {
    const { go, reports, logs } = setup();
    replies.push(() => Response.json({ done: true }, { status: 201 }));
    const node = { identifier: "wfnr_1", config: { type: "WEBHOOK", url: `${base}/node`, agent: true, synchronized: true, body: { b: 1 } } };
    expect(await go(node, "wfnr_1")).toBe(DEFERRED);
    expect(logs).toEqual([]);
    expect(reports.map((r) => r.call)).toEqual([
      { kind: "log", message: "Sending the request" },
      { kind: "log", message: "Action invocation has completed successfully with status code: 201" },
      { kind: "update", patch: { status: "SUCCESS" }, output: { response: { status: 201, data: { done: true } } } },
    ]);
    expect(received[0]?.headers.get(IDEMPOTENCY_KEY_HEADER)).toBe("wfnr_1");
  });

  test("a run whose body is not an object fails with the reason, and nothing is sent", async () => {
    const { go } = setup();
    expect(await go(polled({ body: "text" }))).toMatchObject({ status: "FAILURE", summary: expect.stringContaining("payload.body is not a JSON object") });
    expect(received).toEqual([]);
  });
});

describe("TLS verification of forwarded calls", () => {
  test("on by default (a self-signed receiver is unreachable); off per call with verifyTls: false", async () => {
    const dir = new URL("./fixtures/", import.meta.url).pathname;
    const tls = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: readFileSync(`${dir}test-tls-cert.pem`, "utf8"), key: readFileSync(`${dir}test-tls-key.pem`, "utf8") },
      fetch: () => Response.json({ secure: true }),
    });
    try {
      const run = polled({ url: `https://127.0.0.1:${tls.port}/hook` });
      const strict = await setup({ retry: { initialMs: 1, maxMs: 1, factor: 1, maxAttempts: 1 } }).go(run);
      expect(strict).toMatchObject({ status: "FAILURE", summary: expect.stringContaining("could not be reached") });
      expect(await setup({ verifyTls: false }).go(run)).toEqual({ status: "SUCCESS" });
    } finally {
      tls.stop(true);
    }
  });
});
