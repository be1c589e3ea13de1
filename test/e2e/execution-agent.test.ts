import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kafka, logLevel, type Producer } from "kafkajs";
import { startBroker } from "../../connectors/local/broker.ts";
import { declareAction, triggerAction } from "../../src/emulator/port-emulator-actions.ts";
import { createPortEmulator, type PortEmulator } from "../../src/emulator/port-emulator.ts";
import { createTopics, getKafka } from "../support/kafka.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";
import { readExecutions } from "../support/recording-handlers.ts";

/**
 * portside in the place of Port's execution agent, as real processes on 127.0.0.1: runs for the agent, from
 * the shared runs topic (Kafka) or claimed from Port's API (polling), forwarded to a local webhook server as
 * `port-labs/port-agent` forwards them (/work/notes/port-agent.md §4–§7) and reported to the Port emulator;
 * left alone when portside is not the agent; and portside started with nothing but the agent's environment.
 */
const SECRET = "emulator-client-secret";
const ADMIN_TOKEN = "admin-token-for-agent-tests";
const GITLAB_TRIGGER_TOKEN = "glptt-trigger-token-of-acme-platform-infra";
const dir = mkdtempSync(join(tmpdir(), "portside-agent-e2e-"));
const processes: PortsideProcess[] = [];
const emulators: { stop(): void }[] = [];

// ---- a local webhook server (and a fake GitLab) that records every call --------------------------------

interface WebhookCall {
  atMs: number;
  method: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  json: unknown;
  /** The Idempotency-Key header (portside sends the run id). */
  key: string | null;
}
const hooks: WebhookCall[] = [];
const callsWith = (key: string) => hooks.filter((c) => c.key === key);
const receiver = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  idleTimeout: 30,
  async fetch(req) {
    const url = new URL(req.url);
    const text = await req.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {}
    const call: WebhookCall = {
      atMs: Date.now(),
      method: req.method,
      path: url.pathname,
      search: url.search,
      headers: Object.fromEntries(req.headers),
      json,
      key: req.headers.get("idempotency-key"),
    };
    hooks.push(call);
    const [, kind, ...rest] = url.pathname.split("/");
    switch (kind) {
      case "sync":
        return Response.json({ deployed: true, release: `rel-${call.key}` });
      case "async":
        return new Response(null, { status: 202 });
      case "flaky":
        // The first call for a run fails; the next one for the same run (same key) succeeds.
        return hooks.filter((c) => c.key === call.key).length === 1 ? new Response("warming up", { status: 500 }) : Response.json({ deployed: true });
      case "refuse":
        return Response.json({ error: "version 9.9.9 is not allowed" }, { status: 400 });
      case "hang":
        return new Promise<Response>(() => {});
      case "releases": {
        const service = decodeURIComponent(rest.join("/"));
        return Response.json(
          service === "billing"
            ? { state: "rejected", releaseId: "rel-9" }
            : { state: "released", releaseId: "rel-7", url: `https://deploy.example.com/${encodeURIComponent(service)}/rel-7` },
        );
      }
      case "gitlab": {
        // GitLab's pipeline trigger: POST /api/v4/projects/:id/trigger/pipeline {ref, token, variables}.
        const body = json as { token?: unknown; ref?: unknown };
        if (!url.pathname.endsWith("/trigger/pipeline") || req.method !== "POST") return new Response("not found", { status: 404 });
        if (body?.token !== GITLAB_TRIGGER_TOKEN) return Response.json({ message: "404 Not Found" }, { status: 404 });
        return Response.json(
          { id: 4242, ref: body.ref, status: "created", web_url: "https://gitlab.example.com/acme/platform/infra/-/pipelines/4242" },
          { status: 201 },
        );
      }
    }
    return new Response("no such hook", { status: 404 });
  },
});
const hookBase = `http://127.0.0.1:${receiver.port}`;

afterAll(async () => {
  await Promise.all(processes.map((p) => p.crash()));
  receiver.stop(true);
  for (const e of emulators) e.stop();
  rmSync(dir, { recursive: true, force: true });
});

// ---- helpers -------------------------------------------------------------------------------------------

/** A Port emulator of its own on 127.0.0.1 (a polling portside claims every agent run of its emulator). */
function emulatorOnPort(): { emulator: PortEmulator; port: number; url: string } {
  const emulator = createPortEmulator({});
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  emulators.push({ stop: () => server.stop(true) });
  return { emulator, port: server.port as number, url: `http://127.0.0.1:${server.port}` };
}

async function start(env: Record<string, string>, options: { cwd?: string } = {}) {
  const p = await startPortside(env, options);
  processes.push(p);
  return p;
}

async function until(check: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await Bun.sleep(25);
  }
}

/** A run's message as Port publishes it on the runs topic (the legacy shape), or, with `{{ }}`, the body template that renders it. */
function portMessage(org: string, runId: string, action: string, properties: unknown, invocationMethod?: Record<string, unknown>) {
  return {
    action,
    resourceType: "run",
    status: "TRIGGERED",
    trigger: {
      by: { orgId: org, userId: "auth0|5f1c", user: { email: "lee@example.com", firstName: "Lee", lastName: "Ops", id: "auth0|5f1c" } },
      origin: "UI",
      at: "2026-08-02T08:12:44.010Z",
    },
    context: { entity: null, blueprint: "service", runId },
    payload: { entity: null, action: { identifier: action, trigger: "CREATE", ...(invocationMethod ? { invocationMethod } : {}) }, properties },
  };
}

/** Signed as Port signs runs for its agent: over the JSON with `headers` emptied (GITLAB: without `headers`). */
function signed(message: Record<string, unknown>, timestampS = Math.floor(Date.now() / 1000)) {
  const type = (message.payload as { action: { invocationMethod: { type: string } } }).action.invocationMethod.type;
  const unsigned = type === "GITLAB" ? message : { ...message, headers: {} };
  const signature = createHmac("sha256", SECRET)
    .update(`${timestampS}.${JSON.stringify(unsigned)}`)
    .digest("base64");
  return { ...unsigned, headers: { "X-Port-Signature": `v1,${signature}`, "X-Port-Timestamp": timestampS } };
}

/** The run's story in portside (`/admin/runs/:id`): its phase, e.g. DEFERRED once a forwarded run is left to its backend. */
async function phaseOf(p: PortsideProcess, id: string): Promise<string | null> {
  const res = await fetch(`${p.url}/admin/runs/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return res.ok ? ((await res.json()) as { phase: string }).phase : null;
}

/** The output lines of a process with this event. */
const events = (p: PortsideProcess, event: string) =>
  p.output
    .join("")
    .split("\n")
    .filter((line) => line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** Replaces every run id in a value with <run>, so the calls of two runs compare. */
const withoutIds = (value: unknown, ids: string[]): unknown =>
  JSON.parse(ids.reduce((text, id) => text.replaceAll(id, "<run>"), JSON.stringify(value ?? null)));

// ---- 1. forwarding, the same runs over Kafka and over polling -------------------------------------------

interface Scenario {
  name: string;
  /** The action's identifier ("deploy" has a local handler: recording-handlers.ts). */
  action: string;
  hook: string;
  synchronized: boolean;
  properties: Record<string, unknown>;
}
const scenarios: Scenario[] = [
  { name: "sync", action: "notify", hook: "sync", synchronized: true, properties: { version: "2.1.0", replicas: 3 } },
  { name: "refused", action: "notify_refused", hook: "refuse", synchronized: true, properties: { version: "9.9.9" } },
  { name: "async", action: "provision", hook: "async", synchronized: false, properties: { size: "m", tags: ["a", "b"] } },
  { name: "async_refused", action: "provision_refused", hook: "refuse", synchronized: false, properties: { size: "xxl" } },
  { name: "flaky", action: "rollout", hook: "flaky", synchronized: true, properties: { version: "3.0.0" } },
  { name: "hang", action: "backup", hook: "hang", synchronized: true, properties: { db: "orders" } },
  { name: "handled", action: "deploy", hook: "sync", synchronized: true, properties: { version: "1.0.0" } },
];
const INVOCATION_HEADERS = { "X-Team": "platform" };
const kafkaId = (s: Scenario) => `r_kafka_${s.name}`;
const pollId = (s: Scenario) => `r_poll_${s.name}`;
const scenario = (name: string) => scenarios.find((s) => s.name === name) as Scenario;
const urlOf = (s: Scenario) => `${hookBase}/${s.hook}/${s.action}`;
/** The invocation method Port puts in a Kafka message for an agent WEBHOOK action. */
const kafkaInvocation = (s: Scenario) => ({ type: "WEBHOOK", agent: true, url: urlOf(s), synchronized: s.synchronized, method: "POST" });

describe("execution-agent mode: runs forwarded to a local webhook, from the runs topic and by polling", () => {
  const org = `org_agent_${randomBytes(3).toString("hex")}`;
  const { emulator, port: emulatorPort } = emulatorOnPort();
  const state = emulator.state;
  const execLog = join(dir, `${org}.exec.log`);
  let kafkaSide: PortsideProcess;
  let pollingSide: PortsideProcess;
  let producer: Producer;
  let brokers: string[];
  const sideOf = (id: string) => (id.startsWith("r_kafka_") ? kafkaSide : pollingSide);
  const both = (s: Scenario) => [kafkaId(s), pollId(s)];
  const gitlabIds = { ok: "r_kafka_gitlab", unlisted: "r_kafka_gitlab_unlisted" };
  /** Runs for the agent that Port did not sign: no signature at all, and one made with another secret. */
  const untrusted = { unsigned: "r_kafka_unsigned", forged: "r_kafka_forged" };
  const untrustedMessage = (id: string) =>
    portMessage(org, id, "notify", { version: "6.6.6" }, { ...kafkaInvocation(scenario("sync")), url: `${hookBase}/sync/${id}` });

  beforeAll(async () => {
    brokers = (await getKafka()).brokers;
    await createTopics(brokers, [`${org}.runs`, `${org}.change.log`], 1);
    const common = {
      LEDGER: "memory",
      ADMIN_TOKEN,
      WEBHOOK_INVOKER_TIMEOUT: "1",
      EXEC_LOG: execLog,
      LOG_LEVEL: "info",
    };
    const sink = `sink_${randomBytes(12).toString("hex")}`;
    [kafkaSide, pollingSide] = await Promise.all([
      start(
        emulatorEnv(emulatorPort, org, sink, {
          ...common,
          EXECUTION_AGENT: "true",
          KAFKA_BROKERS: brokers.join(","),
          KAFKA_FROM_BEGINNING: "true",
          GITLAB_URL: `${hookBase}/gitlab/`,
          // The trigger token of acme/platform/infra may be read by jq; acme/platform/billing's is set but not listed.
          JQ_ENV: "GITLAB_URL,acme_platform_infra",
          acme_platform_infra: GITLAB_TRIGGER_TOKEN,
          acme_platform_billing: GITLAB_TRIGGER_TOKEN,
        }),
      ),
      start(emulatorEnv(emulatorPort, org, sink, { ...common, PORT_POLLING: "true", POLLING_INTERVAL_MS: "100" })),
    ]);
    producer = new Kafka({ brokers, clientId: "agent-e2e", logLevel: logLevel.NOTHING }).producer();
    await producer.connect();

    // Port creates each run, then publishes it (Kafka) or queues it for the agent to claim (polling).
    for (const s of scenarios) {
      declareAction(state, {
        identifier: s.action,
        blueprint: "service",
        invocationMethod: {
          type: "WEBHOOK",
          url: urlOf(s),
          agent: true,
          synchronized: s.synchronized,
          method: "POST",
          headers: INVOCATION_HEADERS,
          // The body renders the message Port publishes on the runs topic, so both ways carry the same run.
          body: portMessage(org, "{{ .run.id }}", s.action, "{{ .inputs }}"),
        },
      });
      triggerAction(state, Date.now, s.action, { id: pollId(s), properties: s.properties });
      state.declareRun(kafkaId(s));
    }
    const gitlab = (id: string, projectName: string) =>
      signed(
        portMessage(
          org,
          id,
          "trigger_pipeline",
          { ref: "release-2.1", version: "2.1.0", replicas: 3, dry_run: false },
          { type: "GITLAB", agent: true, groupName: "acme/platform", projectName, defaultRef: "main", omitPayload: false, omitUserInputs: false },
        ),
      );
    for (const id of [...Object.values(gitlabIds), ...Object.values(untrusted)]) state.declareRun(id);
    await producer.send({
      topic: `${org}.runs`,
      acks: -1,
      messages: [
        ...scenarios.map((s) => ({ key: kafkaId(s), value: JSON.stringify(signed(portMessage(org, kafkaId(s), s.action, s.properties, kafkaInvocation(s)))) })),
        { key: gitlabIds.ok, value: JSON.stringify(gitlab(gitlabIds.ok, "infra")) },
        { key: gitlabIds.unlisted, value: JSON.stringify(gitlab(gitlabIds.unlisted, "billing")) },
        { key: untrusted.unsigned, value: JSON.stringify(untrustedMessage(untrusted.unsigned)) },
        {
          key: untrusted.forged,
          value: JSON.stringify({
            ...untrustedMessage(untrusted.forged),
            headers: { "X-Port-Signature": "v1,bm90IFBvcnQncyBzaWduYXR1cmU=", "X-Port-Timestamp": Math.floor(Date.now() / 1000) },
          }),
        },
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await producer?.disconnect();
    await Promise.all([kafkaSide?.stop(), pollingSide?.stop()]);
  });

  const waitForTerminal = (ids: string[], timeoutMs = 30_000) =>
    until(
      () => ids.every((id) => state.terminalStatus(id)),
      () => `${ids.filter((id) => !state.terminalStatus(id)).join(", ")} to end`,
      timeoutMs,
    );
  const statusPatches = (id: string) => state.callsFor(id).filter((c) => c.endpoint === "patchRun" && (c.body as { status?: string }).status);
  /** The run's log lines at Port (portside sends the lines of a run together, one per line of a log call). */
  const logLines = (id: string) => state.logsFor(id).flatMap((m) => m.split("\n"));
  const reportsOf = (id: string) => state.callsFor(id).map((c) => ({ endpoint: c.endpoint, body: c.body, status: c.status }));
  /**
   * What Port heard of a run: its calls other than logs, in order; its log lines, in order; and whether every
   * log came before the status. (How many log lines one call carries depends on timing, not on the way in.)
   */
  const portView = (id: string) => {
    const calls = reportsOf(id);
    const statusAt = calls.findIndex((c) => c.endpoint === "patchRun" && (c.body as { status?: string }).status);
    return {
      calls: calls.filter((c) => c.endpoint !== "postLog"),
      logs: logLines(id),
      logsBeforeStatus: statusAt === -1 || calls.every((c, i) => c.endpoint !== "postLog" || i < statusAt),
    };
  };

  test("synchronized: the run's status comes from the HTTP status, the answer is stored with PATCH /v1/actions/runs/{id}/response", async () => {
    const ok = scenario("sync");
    const refused = scenario("refused");
    await waitForTerminal([...both(ok), ...both(refused)]);
    for (const id of both(ok)) {
      expect(state.runs.get(id)).toMatchObject({ status: "SUCCESS", response: { deployed: true, release: `rel-${id}` } });
      expect(callsWith(id)).toHaveLength(1);
      expect(callsWith(id)[0]).toMatchObject({ method: "POST", path: `/sync/${ok.action}`, headers: { "content-type": "application/json" } });
      // The answer is stored, then the one status, last (run logs go coalesced, in order, before the status).
      expect(reportsOf(id).filter((r) => r.endpoint !== "postLog")).toEqual([
        { endpoint: "putRunResponse", body: { response: { deployed: true, release: `rel-${id}` } }, status: 200 },
        { endpoint: "patchRun", body: { status: "SUCCESS" }, status: 200 },
      ]);
      expect(reportsOf(id).at(-1)?.endpoint).toBe("patchRun");
      expect(logLines(id)).toEqual(["Sending the request", "Action invocation has completed successfully with status code: 200"]);
    }
    for (const id of both(refused)) {
      // 4xx: not retried; FAILURE quoting the status and the answer, which is stored too (synchronized).
      expect(callsWith(id)).toHaveLength(1);
      expect(state.runs.get(id)).toMatchObject({
        status: "FAILURE",
        summary: 'Failed to invoke the webhook with status code: 400. Response: {"error":"version 9.9.9 is not allowed"}',
        response: { error: "version 9.9.9 is not allowed" },
      });
      expect(statusPatches(id)).toHaveLength(1);
    }
  }, 30_000);

  test("not synchronized: a 2xx leaves the run IN_PROGRESS for its backend, with no status and no stored answer from portside; a refusal is still FAILURE", async () => {
    const async = scenario("async");
    const refused = scenario("async_refused");
    for (const id of both(async)) await until(async () => (await phaseOf(sideOf(id), id)) === "DEFERRED", `${id} left to its backend`);
    await waitForTerminal(both(refused));
    // Anything portside meant to send for the deferred runs would have gone by now.
    await Bun.sleep(500);
    for (const id of both(async)) {
      expect(callsWith(id)).toHaveLength(1);
      expect(callsWith(id)[0]).toMatchObject({ method: "POST", path: `/async/${async.action}` });
      expect(state.runs.get(id)?.status).toBe("IN_PROGRESS");
      expect(state.runs.get(id)?.response).toBeUndefined();
      expect(new Set(state.callsFor(id).map((c) => c.endpoint))).toEqual(new Set(["postLog"]));
      expect(logLines(id)).toEqual(["Sending the request", "Action invocation has completed successfully with status code: 202"]);
    }
    for (const id of both(refused)) {
      // As Port's agent: a non-2xx answer fails the run even when not synchronized; the answer is not stored.
      expect(state.runs.get(id)).toMatchObject({ status: "FAILURE", summary: expect.stringContaining("status code: 400") });
      expect(state.runs.get(id)?.response).toBeUndefined();
    }
  }, 30_000);

  test("a webhook answering 500 then 200: called again with the same Idempotency-Key and body, the run SUCCESS once", async () => {
    const s = scenario("flaky");
    await waitForTerminal(both(s));
    for (const id of both(s)) {
      const calls = callsWith(id);
      expect(calls).toHaveLength(2);
      expect(calls.map((c) => c.key)).toEqual([id, id]);
      expect(calls[1]?.json).toEqual(calls[0]?.json);
      expect(calls[1]?.path).toBe(calls[0]?.path);
      expect(state.terminalStatus(id)).toBe("SUCCESS");
      expect(statusPatches(id)).toHaveLength(1);
      // Port hears of the call that counted only.
      expect(logLines(id)).toEqual(["Sending the request", "Action invocation has completed successfully with status code: 200"]);
      expect(state.runs.get(id)?.response).toEqual({ deployed: true });
    }
  }, 30_000);

  test("a webhook that never answers (WEBHOOK_INVOKER_TIMEOUT=1): three tries of 1 s, then FAILURE saying so, within bounds", async () => {
    const s = scenario("hang");
    await waitForTerminal(both(s), 20_000);
    for (const id of both(s)) {
      const calls = callsWith(id);
      expect(calls).toHaveLength(3);
      // Each try waits out the time limit before the next (at most 0.5 s, then 1 s, of backoff between them).
      const gaps = calls.slice(1).map((c, i) => c.atMs - (calls[i] as WebhookCall).atMs);
      for (const gap of gaps) {
        expect(gap).toBeGreaterThanOrEqual(950);
        expect(gap).toBeLessThan(3_000);
      }
      const failed = statusPatches(id);
      expect(failed).toHaveLength(1);
      const tookMs = (failed[0]?.atMs ?? 0) - (calls[0] as WebhookCall).atMs;
      expect(tookMs).toBeGreaterThanOrEqual(2_900);
      expect(tookMs).toBeLessThan(8_000);
      expect(state.runs.get(id)).toMatchObject({ status: "FAILURE", summary: "The webhook could not be reached: no answer within 1000 ms (3 attempts)" });
    }
  }, 30_000);

  test("a run for the agent whose action has a local handler is served by it, not forwarded", async () => {
    const s = scenario("handled");
    await waitForTerminal(both(s));
    const { starts } = readExecutions(readFileSync(execLog, "utf8"));
    for (const id of both(s)) {
      expect(starts.get(id)).toBe(1);
      expect(callsWith(id)).toEqual([]);
      expect(state.runs.get(id)).toMatchObject({ status: "SUCCESS", summary: `ok ${id}` });
    }
  }, 30_000);

  test("the agent's default mapping, GitLab entry: a GITLAB run on the runs topic triggers the pipeline at a fake GitLab; its link and id are reported", async () => {
    await until(() => callsWith(gitlabIds.ok).length > 0 && callsWith(gitlabIds.unlisted).length > 0, "the pipeline triggers");
    const [call] = callsWith(gitlabIds.ok);
    // GITLAB_URL + "api/v4/projects/" + (group/project | @uri) + "/trigger/pipeline"
    expect(call?.method).toBe("POST");
    expect(call?.path).toBe("/gitlab/api/v4/projects/acme%2Fplatform%2Finfra/trigger/pipeline");
    const sent = call?.json as Record<string, unknown>;
    expect(sent.ref).toBe("release-2.1");
    // The token from the variable named <group with / as _>_<project>, which JQ_ENV lists.
    expect(sent.token).toBe(GITLAB_TRIGGER_TOKEN);
    // Every input as a string; the whole message without its signature (GITLAB: without `headers`) as port_payload.
    expect(sent.variables).toEqual({ ref: "release-2.1", version: "2.1.0", replicas: "3", dry_run: "false" });
    const message = portMessage(
      org,
      gitlabIds.ok,
      "trigger_pipeline",
      { ref: "release-2.1", version: "2.1.0", replicas: 3, dry_run: false },
      { type: "GITLAB", agent: true, groupName: "acme/platform", projectName: "infra", defaultRef: "main", omitPayload: false, omitUserInputs: false },
    );
    expect(sent.port_payload).toEqual(message);
    expect(Object.keys(sent).sort()).toEqual(["port_payload", "ref", "token", "variables"]);
    // Not synchronized: link and externalRunId from GitLab's answer, no status (the pipeline reports it).
    await until(() => state.callsFor(gitlabIds.ok).some((c) => c.endpoint === "patchRun"), "the pipeline's link");
    expect(state.runs.get(gitlabIds.ok)).toMatchObject({
      status: "IN_PROGRESS",
      link: "https://gitlab.example.com/acme/platform/infra/-/pipelines/4242",
      externalRunId: "4242",
    });
    expect(statusPatches(gitlabIds.ok)).toEqual([]);

    // A project whose token variable is set but not in JQ_ENV: jq does not see it; GitLab refuses the trigger.
    const [unlisted] = callsWith(gitlabIds.unlisted);
    expect(unlisted?.path).toBe("/gitlab/api/v4/projects/acme%2Fplatform%2Fbilling/trigger/pipeline");
    expect(unlisted?.json).toMatchObject({ token: null });
    await waitForTerminal([gitlabIds.unlisted]);
    expect(state.runs.get(gitlabIds.unlisted)).toMatchObject({ status: "FAILURE", summary: expect.stringContaining("status code: 404") });
  }, 30_000);

  test("a run for the agent on the runs topic that Port did not sign (none, or a forged one) is never forwarded, never reported: parked", async () => {
    // Every run on the topic before them is done (one partition), GitLab's last among them.
    await waitForTerminal([gitlabIds.unlisted]);
    await until(
      async () => {
        const stats = (await (await fetch(`${kafkaSide.url}/admin/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
          sinceStart: { parkedBy: Record<string, number> };
        };
        return stats.sinceStart.parkedBy.signature === 2;
      },
      "both parked for their signature",
      10_000,
    );
    for (const id of Object.values(untrusted)) {
      expect(hooks.filter((c) => c.key === id || c.path.includes(id))).toEqual([]);
      expect(state.callsFor(id)).toEqual([]);
    }
  }, 30_000);

  test("the same runs through the Kafka topic and through polling: the same webhook calls and the same reports, but where Port's agent itself builds the message differently", async () => {
    for (const s of scenarios) {
      if (s.name === "async") for (const id of both(s)) await until(async () => (await phaseOf(sideOf(id), id)) === "DEFERRED", `${id} deferred`);
      else await waitForTerminal(both(s));
    }
    const ids = scenarios.flatMap(both);
    const differences: string[] = [];
    for (const s of scenarios) {
      const [k, p] = [kafkaId(s), pollId(s)];
      // The webhook calls: method, URL, headers (but the length of the body) and body, in order.
      const webhookCalls = (id: string) =>
        callsWith(id).map((c) => {
          const { "content-length": _length, ...headers } = c.headers;
          return { method: c.method, path: c.path, search: c.search, headers, body: structuredClone(c.json) as Record<string, unknown> | null };
        });
      const viaKafka = webhookCalls(k);
      const viaPolling = webhookCalls(p);
      expect(viaKafka.length).toBe(viaPolling.length);
      for (const [i, kc] of viaKafka.entries()) {
        const pc = viaPolling[i] as (typeof viaPolling)[number];
        const kBody = kc.body as { headers?: unknown; payload: { action: { invocationMethod?: unknown } } };
        const pBody = pc.body as typeof kBody;
        // Port's agent (§4, §5): on Kafka the message as published, its signature headers removed (`headers: {}`)
        // and its invocation method as Port wrote it (`agent: true` kept); on polling the rendered body with
        // `headers` replaced by the invocation's headers and the invocation method rewritten (no `agent`, with `headers`).
        expect(kBody.headers).toEqual({});
        expect(kBody.payload.action.invocationMethod).toEqual(kafkaInvocation(s));
        expect(pBody.headers).toEqual(INVOCATION_HEADERS);
        expect(pBody.payload.action.invocationMethod).toEqual({
          type: "WEBHOOK",
          url: urlOf(s),
          synchronized: s.synchronized,
          method: "POST",
          headers: INVOCATION_HEADERS,
        });
        if (i === 0 && JSON.stringify(kBody.headers) !== JSON.stringify(pBody.headers)) differences.push(`${s.name}: headers`);
        if (i === 0 && JSON.stringify(kBody.payload.action.invocationMethod) !== JSON.stringify(pBody.payload.action.invocationMethod))
          differences.push(`${s.name}: payload.action.invocationMethod`);
        for (const body of [kBody, pBody]) {
          delete body.headers;
          delete body.payload.action.invocationMethod;
        }
      }
      // Everything else the same: the URL, the headers sent (Idempotency-Key: the run id), the rest of the body.
      expect(withoutIds(viaPolling, ids)).toEqual(withoutIds(viaKafka, ids));
      // Port hears the same: the same calls with the same bodies, in the same order, and the run ends the same.
      expect(portView(k).logsBeforeStatus).toBe(true);
      expect(withoutIds(portView(p), ids)).toEqual(withoutIds(portView(k), ids));
      const end = (id: string) => {
        const { status, summary, response, link, externalRunId } = state.runs.get(id) ?? {};
        return { status, summary, response, link, externalRunId };
      };
      expect(withoutIds(end(p), ids)).toEqual(withoutIds(end(k), ids));
    }
    // Only the two places where the agent builds the message differently, for every forwarded scenario.
    const forwarded = scenarios.filter((s) => s.name !== "handled").map((s) => s.name);
    expect(differences).toEqual(forwarded.flatMap((name) => [`${name}: headers`, `${name}: payload.action.invocationMethod`]));
  }, 30_000);
});

// ---- 2. a mapping file of one's own --------------------------------------------------------------------

/** A mapping file in Port's agent's format: jq for the URL, method, headers, query, body and report; then a catch-all. */
const CUSTOM_MAPPING = [
  {
    enabled: '.payload.action.identifier == "release"',
    method: '"PUT"',
    url: 'env.RELEASES_URL + "/releases/" + (.payload.properties.service | @uri)',
    headers: {
      Authorization: '"Bearer " + env.RELEASES_TOKEN',
      "X-Port-Run": ".context.runId",
      "X-Requested-By": ".trigger.by.user.email",
      // A variable JQ_ENV does not list is not there for jq, however it is set.
      "X-Client-Secret": 'env.PORT_CLIENT_SECRET // "hidden"',
    },
    query: { dryRun: ".payload.properties.dry_run | tostring" },
    body: {
      service: ".payload.properties.service",
      version: ".payload.properties.version",
      requestedBy: { email: ".trigger.by.user.email" },
      labels: ".payload.properties.labels | map(ascii_upcase)",
    },
    report: {
      status: 'if .response.json.state == "released" then "SUCCESS" else "FAILURE" end',
      link: '[.response.json.url, ("https://audit.example.com/runs/" + .body.context.runId)] | map(select(. != null))',
      summary:
        '"Release of " + .request.body.service + " " + .request.body.version + ": " + .response.json.state + " (HTTP " + (.response.statusCode | tostring) + ")"',
      externalRunId: ".response.json.releaseId",
    },
  },
  { enabled: true, url: ".payload.action.invocationMethod.url", method: '.payload.action.invocationMethod.method // "POST"' },
];

describe("execution-agent mode with a mapping file of one's own (CONTROL_THE_PAYLOAD_CONFIG_PATH)", () => {
  const org = `org_mapping_${randomBytes(3).toString("hex")}`;
  const { emulator, port: emulatorPort } = emulatorOnPort();
  const state = emulator.state;
  let portside: PortsideProcess;

  beforeAll(async () => {
    const file = join(dir, `${org}.mapping.json`);
    writeFileSync(file, JSON.stringify(CUSTOM_MAPPING, null, 2));
    portside = await start(
      emulatorEnv(emulatorPort, org, `sink_${randomBytes(12).toString("hex")}`, {
        PORT_POLLING: "true",
        POLLING_INTERVAL_MS: "100",
        LEDGER: "memory",
        CONTROL_THE_PAYLOAD_CONFIG_PATH: file,
        JQ_ENV: "RELEASES_URL,RELEASES_TOKEN",
        RELEASES_URL: hookBase,
        RELEASES_TOKEN: "releases-api-token",
      }),
    );
  }, 60_000);
  afterAll(async () => {
    await portside?.stop();
  });

  test("jq builds the URL, method, headers, query and body from the run, and the report from the answer; other actions fall to the next mapping", async () => {
    const invocation = (action: string, synchronized: boolean) => ({
      type: "WEBHOOK" as const,
      url: `${hookBase}/sync/${action}`,
      agent: true,
      synchronized,
      body: portMessage(org, "{{ .run.id }}", action, "{{ .inputs }}"),
    });
    declareAction(state, { identifier: "release", invocationMethod: invocation("release", true) });
    declareAction(state, { identifier: "notify", invocationMethod: invocation("notify", true) });
    const released = triggerAction(state, Date.now, "release", {
      id: "r_custom_released",
      properties: { service: "web shop", version: "4.2.0", dry_run: false, labels: ["eu", "prod"] },
    });
    const rejected = triggerAction(state, Date.now, "release", {
      id: "r_custom_rejected",
      properties: { service: "billing", version: "1.0.1", dry_run: true, labels: [] },
    });
    const other = triggerAction(state, Date.now, "notify", { id: "r_custom_other", properties: { channel: "#ops" } });
    const ids = [released, rejected, other].map((r) => r?.id as string);
    await until(() => ids.every((id) => state.terminalStatus(id)), "the three runs to end");

    const [call] = callsWith("r_custom_released");
    expect(callsWith("r_custom_released")).toHaveLength(1);
    expect(call).toMatchObject({
      method: "PUT",
      path: "/releases/web%20shop",
      search: "?dryRun=false",
      headers: {
        authorization: "Bearer releases-api-token",
        "x-port-run": "r_custom_released",
        "x-requested-by": "lee@example.com",
        "x-client-secret": "hidden",
        "content-type": "application/json",
      },
    });
    expect(call?.json).toEqual({ service: "web shop", version: "4.2.0", requestedBy: { email: "lee@example.com" }, labels: ["EU", "PROD"] });
    expect(state.runs.get("r_custom_released")).toMatchObject({
      status: "SUCCESS",
      summary: "Release of web shop 4.2.0: released (HTTP 200)",
      link: ["https://deploy.example.com/web%20shop/rel-7", "https://audit.example.com/runs/r_custom_released"],
      externalRunId: "rel-7",
      response: { state: "released", releaseId: "rel-7", url: "https://deploy.example.com/web%20shop/rel-7" },
    });
    // An HTTP 200 whose answer says otherwise: the mapping's report turns it into FAILURE.
    expect(callsWith("r_custom_rejected")[0]).toMatchObject({ method: "PUT", path: "/releases/billing", search: "?dryRun=true" });
    expect(state.runs.get("r_custom_rejected")).toMatchObject({
      status: "FAILURE",
      summary: "Release of billing 1.0.1: rejected (HTTP 200)",
      link: ["https://audit.example.com/runs/r_custom_rejected"],
      externalRunId: "rel-9",
    });
    // The second mapping: the invocation's own URL and method, the whole message as the body, the default report.
    const [fallback] = callsWith("r_custom_other");
    expect(fallback).toMatchObject({ method: "POST", path: "/sync/notify", search: "" });
    expect(fallback?.json).toMatchObject({ action: "notify", context: { runId: "r_custom_other" }, payload: { properties: { channel: "#ops" } } });
    expect(state.runs.get("r_custom_other")).toMatchObject({ status: "SUCCESS", response: { deployed: true, release: "rel-r_custom_other" } });
    expect(state.runs.get("r_custom_other")?.externalRunId).toBeUndefined();
  }, 30_000);
});

// ---- 3. not the agent: runs for Port's agent are never touched -----------------------------------------

describe("EXECUTION_AGENT unset: runs for Port's agent on the shared runs topic", () => {
  test("are not executed (even with a handler for their action), not forwarded, not reported; counted as left alone", async () => {
    const org = `org_noagent_${randomBytes(3).toString("hex")}`;
    const { emulator, port: emulatorPort } = emulatorOnPort();
    const state = emulator.state;
    const brokers = (await getKafka()).brokers;
    await createTopics(brokers, [`${org}.runs`, `${org}.change.log`], 1);
    const execLog = join(dir, `${org}.exec.log`);
    // Everything a forward would need is configured: only EXECUTION_AGENT is missing.
    const portside = await start(
      emulatorEnv(emulatorPort, org, `sink_${randomBytes(12).toString("hex")}`, {
        KAFKA_BROKERS: brokers.join(","),
        KAFKA_FROM_BEGINNING: "true",
        LEDGER: "memory",
        ADMIN_TOKEN,
        EXEC_LOG: execLog,
        LOG_LEVEL: "info",
        GITLAB_URL: `${hookBase}/gitlab/`,
        JQ_ENV: "GITLAB_URL,acme_platform_infra",
        acme_platform_infra: GITLAB_TRIGGER_TOKEN,
      }),
    );
    const ids = { webhook: "r_left_webhook", gitlab: "r_left_gitlab", mine: "r_left_sentinel" };
    for (const id of Object.values(ids)) state.declareRun(id);
    const producer = new Kafka({ brokers, clientId: "agent-e2e-left", logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    // One partition: when portside's own run (last) is done, the two before it were read.
    await producer.send({
      topic: `${org}.runs`,
      acks: -1,
      messages: [
        signed(
          portMessage(
            org,
            ids.webhook,
            "deploy",
            { version: "1.0.0" },
            { type: "WEBHOOK", agent: true, url: `${hookBase}/sync/left-alone`, synchronized: true },
          ),
        ),
        signed(
          portMessage(org, ids.gitlab, "trigger_pipeline", { ref: "main" }, { type: "GITLAB", agent: true, groupName: "acme/platform", projectName: "infra" }),
        ),
        portMessage(org, ids.mine, "deploy", { version: "1.0.0" }, { type: "KAFKA" }),
      ].map((m) => ({ value: JSON.stringify(m) })),
    });
    await producer.disconnect();
    await until(() => state.terminalStatus(ids.mine) === "SUCCESS", "portside's own run");
    await Bun.sleep(300);

    expect(hooks.filter((c) => [ids.webhook, ids.gitlab].includes(c.key ?? "") || c.path.includes("left-alone"))).toEqual([]);
    const { starts } = readExecutions(existsSync(execLog) ? readFileSync(execLog, "utf8") : "");
    expect([...starts.keys()]).toEqual([ids.mine]);
    expect(state.callsFor(ids.webhook)).toEqual([]);
    expect(state.callsFor(ids.gitlab)).toEqual([]);
    expect(state.runs.get(ids.webhook)?.status).toBe("IN_PROGRESS");
    const stats = (await (await fetch(`${portside.url}/admin/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
      sinceStart: { records: number; accepted: number; parked: number; ignored: number; ignoredBy: Record<string, number> };
    };
    expect(stats.sinceStart).toMatchObject({ records: 3, accepted: 1, parked: 0, ignored: 2, ignoredBy: { agent: 2 } });
    // Not the agent: no forwarding set up, no mapping read.
    expect(events(portside, "portside.listening")).toHaveLength(1);
    expect(events(portside, "agent.ready")).toEqual([]);
    await portside.stop();
  }, 60_000);
});

// ---- 4. drop-in: only the agent's environment ----------------------------------------------------------

/** Port's agent's docs' mapping: the invocation's URL and method, its headers as HTTP headers, the inputs as the body. */
const AGENT_DOCS_MAPPING = [
  {
    enabled: true,
    url: ".payload.action.invocationMethod.url",
    method: '.payload.action.invocationMethod.method // "POST"',
    headers: ".payload.action.invocationMethod.headers // {}",
    body: "{runId: .context.runId, inputs: .payload.properties}",
  },
];

describe("drop-in for Port's agent: portside started with the agent's environment alone", () => {
  const agentEnv = (emulatorUrl: string, org: string, mappingFile: string) => ({
    PORT_ORG_ID: org,
    PORT_CLIENT_ID: "emulator-client-id",
    PORT_CLIENT_SECRET: SECRET,
    PORT_API_BASE_URL: emulatorUrl,
    CONTROL_THE_PAYLOAD_CONFIG_PATH: mappingFile,
    WEBHOOK_INVOKER_TIMEOUT: "5",
    LOG_LEVEL: "INFO",
  });

  test("STREAMER_NAME=POLLING: starts, says once which of the agent's names it took, tells Port it polls, and forwards a run", async () => {
    const org = `org_dropin_${randomBytes(3).toString("hex")}`;
    const { emulator, url } = emulatorOnPort();
    const state = emulator.state;
    // The agent's container: its own working directory (portside's ledger goes there), its mapping file.
    const home = join(dir, `${org}-home`);
    mkdirSync(home);
    const mappingFile = join(home, "invocations.json");
    writeFileSync(mappingFile, JSON.stringify(AGENT_DOCS_MAPPING));
    const portside = await start({ ...agentEnv(url, org, mappingFile), STREAMER_NAME: "POLLING", POLLING_INTERVAL_SECONDS: "1" }, { cwd: home });

    declareAction(state, {
      identifier: "notify",
      invocationMethod: {
        type: "WEBHOOK",
        url: `${hookBase}/sync/dropin`,
        agent: true,
        synchronized: true,
        headers: { "X-Team": "{{ .inputs.team }}" },
        // On polling the agent's jq sees the rendered body (plus what the agent adds): this one renders Port's message.
        body: portMessage(org, "{{ .run.id }}", "notify", "{{ .inputs }}"),
      },
    });
    const run = triggerAction(state, Date.now, "notify", { id: "r_dropin_polling", properties: { team: "payments", message: "hello" } });
    await until(() => state.terminalStatus(run?.id as string) !== undefined, "the forwarded run", 15_000);

    expect(state.runs.get("r_dropin_polling")).toMatchObject({ status: "SUCCESS", response: { deployed: true, release: "rel-r_dropin_polling" } });
    const [call] = callsWith("r_dropin_polling");
    expect(call).toMatchObject({ method: "POST", path: "/sync/dropin", headers: { "x-team": "payments" } });
    expect(call?.json).toEqual({ runId: "r_dropin_polling", inputs: { team: "payments", message: "hello" } });
    const taken = events(portside, "portside.agent_environment");
    expect(taken).toHaveLength(1);
    expect(taken[0]?.taken).toEqual([
      "PORT_ORG_ID → ORG_ID",
      "PORT_API_BASE_URL → PORT_API_URL",
      "STREAMER_NAME → PORT_POLLING",
      "POLLING_INTERVAL_SECONDS → POLLING_INTERVAL_MS",
      "LOG_LEVEL (Port's agent's spelling)",
    ]);
    // LOG_LEVEL=INFO is info; the mapping file is the one given; Port is told the agent polls (as the agent tells it).
    expect(events(portside, "portside.listening")).toHaveLength(1);
    expect(events(portside, "agent.ready")[0]).toMatchObject({ mappings: 1, mappingFile });
    // No handler module, as with the agent: the start says the agent's runs are forwarded, not left to others.
    expect(events(portside, "portside.no_handlers")).toEqual([
      expect.objectContaining({ message: expect.stringContaining("runs for Port's execution agent are forwarded") }),
    ]);
    expect(events(portside, "polling.started")[0]).toMatchObject({ intervalMs: 1000 });
    expect(state.organization.settings).toEqual({ portAgentStreamerName: "POLLING" });
    // No sink without SINK_TOKEN, and the start line says so: runs come by polling only. The ledger is in the working directory.
    expect((await fetch(`${portside.url}/sink/runs`, { method: "POST", body: "{}" })).status).toBe(404);
    expect(events(portside, "portside.access")[0]?.message).toStartWith("/sink is off");
    expect(existsSync(join(home, ".portside", "ledger.sqlite"))).toBe(true);
    expect(portside.output.join("")).not.toContain(SECRET);
    expect(await portside.stop()).toBe(0);
  }, 60_000);

  test("STREAMER_NAME=KAFKA: the brokers and SCRAM credentials asked of Port (GET /v1/kafka-credentials), a signed run from the runs topic forwarded", async () => {
    const org = `org_dropkafka_${randomBytes(3).toString("hex")}`;
    const password = randomBytes(12).toString("hex");
    const secure = await startBroker({ sasl: { users: [{ name: `${org}-user`, password }] } });
    try {
      const { emulator, url } = emulatorOnPort();
      const state = emulator.state;
      state.kafkaCredentials = { brokers: [secure.sasl?.brokers as string], username: `${org}-user`, password };
      await createTopics([secure.brokers], [`${org}.runs`, `${org}.change.log`], 1);
      const home = join(dir, `${org}-home`);
      mkdirSync(home);
      const mappingFile = join(home, "invocations.json");
      writeFileSync(mappingFile, JSON.stringify(AGENT_DOCS_MAPPING));
      const portside = await start(
        {
          ...agentEnv(url, org, mappingFile),
          STREAMER_NAME: "KAFKA",
          KAFKA_CONSUMER_GROUP_ID: `${org}.agent`,
          KAFKA_CONSUMER_AUTO_OFFSET_RESET: "earliest",
          KAFKA_CONSUMER_SECURITY_PROTOCOL: "SASL_SSL",
          KAFKA_CONSUMER_AUTHENTICATION_MECHANISM: "SCRAM-SHA-512",
          // The test broker's self-signed certificate, trusted as the agent's image trusts extra CAs.
          NODE_EXTRA_CA_CERTS: secure.sasl?.caFile as string,
        },
        { cwd: home },
      );
      state.declareRun("r_dropin_kafka");
      const producer = new Kafka({ brokers: [secure.brokers], clientId: "agent-e2e-dropin", logLevel: logLevel.NOTHING }).producer();
      await producer.connect();
      const message = portMessage(
        org,
        "r_dropin_kafka",
        "notify",
        { team: "payments" },
        { type: "WEBHOOK", agent: true, url: `${hookBase}/sync/dropin-kafka`, synchronized: true, method: "POST", headers: { "X-Team": "payments" } },
      );
      await producer.send({ topic: `${org}.runs`, acks: -1, messages: [{ value: JSON.stringify(signed(message)) }] });
      await producer.disconnect();
      await until(() => state.terminalStatus("r_dropin_kafka") !== undefined, "the forwarded run", 60_000);

      expect(state.runs.get("r_dropin_kafka")).toMatchObject({ status: "SUCCESS", response: { deployed: true, release: "rel-r_dropin_kafka" } });
      expect(callsWith("r_dropin_kafka")[0]).toMatchObject({ method: "POST", path: "/sync/dropin-kafka", headers: { "x-team": "payments" } });
      expect(callsWith("r_dropin_kafka")[0]?.json).toEqual({ runId: "r_dropin_kafka", inputs: { team: "payments" } });
      expect(state.count("kafkaCredentials")).toBe(1);
      // Port is told the organisation's agent is on Kafka, as Port's agent tells it at every start.
      expect(state.organization.settings).toEqual({ portAgentStreamerName: "KAFKA" });
      const taken = events(portside, "portside.agent_environment");
      expect(taken).toHaveLength(1);
      expect(taken[0]?.taken).toEqual([
        "PORT_ORG_ID → ORG_ID",
        "PORT_API_BASE_URL → PORT_API_URL",
        "KAFKA_CONSUMER_GROUP_ID → KAFKA_GROUP_ID",
        "STREAMER_NAME → KAFKA_BROKERS",
        "STREAMER_NAME → EXECUTION_AGENT",
        "KAFKA_CONSUMER_AUTO_OFFSET_RESET → KAFKA_FROM_BEGINNING",
        "LOG_LEVEL (Port's agent's spelling)",
        "KAFKA_CONSUMER_SECURITY_PROTOCOL (not needed: KAFKA_BROKERS=port brings the brokers' TLS and SCRAM from Port)",
        "KAFKA_CONSUMER_AUTHENTICATION_MECHANISM (not needed: KAFKA_BROKERS=port brings the brokers' TLS and SCRAM from Port)",
      ]);
      expect(events(portside, "portside.listening")[0]).toMatchObject({ executionAgent: true, kafkaGroup: `${org}.agent` });
      expect(portside.output.join("")).not.toContain(SECRET);
      expect(portside.output.join("")).not.toContain(password);
      expect(await portside.stop()).toBe(0);
    } finally {
      await secure.stop();
    }
  }, 120_000);
});
