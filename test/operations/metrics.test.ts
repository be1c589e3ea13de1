import { afterEach, describe, expect, test } from "bun:test";
import { checkRoutes } from "../../src/targets/routes.ts";
import { eventBridgeEnv, eventBridgeTargets, startEventBridgeServer, type EventBridgeServer } from "../support/eventbridge-server.ts";
import { ADMIN_TOKEN, createHarness, type Harness, ORG, runMessage } from "../support/harness.ts";
import { emulatorEnv, startPortside, type PortsideProcess } from "../support/portside-process.ts";

/**
 * `GET /metrics`: Prometheus's text format, with the values a known workload must leave behind, behind
 * ADMIN_TOKEN (or apart on METRICS_PORT, with no token).
 */
let h: Harness | undefined;
let eb: EventBridgeServer | undefined;
let proc: PortsideProcess | undefined;
afterEach(async () => {
  await h?.stop();
  eb?.stop();
  await proc?.stop();
  h = eb = proc = undefined;
});

/** The value of one sample (`name{labels}`), or undefined when absent. Labels in the order prom-client writes them. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const rendered = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  const key = rendered ? `${name}{${rendered}}` : name;
  const line = text.split("\n").find((l) => l.startsWith(`${key} `));
  return line === undefined ? undefined : Number(line.slice(key.length + 1));
}

async function scrape(harness: Harness): Promise<string> {
  const res = await harness.service.app.request("/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
  return res.text();
}

describe("/metrics", () => {
  test("after a known workload: records by outcome, runs by action and status, handler durations, Port calls, ledger commits, EventBridge, outbox", async () => {
    eb = startEventBridgeServer();
    eb.throttleEntries(1, (entry) => entry.DetailType === "port.run.publish");
    h = await createHarness({
      env: eventBridgeEnv(eb),
      targets: eventBridgeTargets(),
      routes: checkRoutes({ runs: { publish: { detailType: "port.run.publish" } } }, "routes.json"),
      handlers: {
        runs: {
          deploy: async () => ({ summary: "ok" }),
          break: async () => {
            throw new Error("no");
          },
        },
      },
    });
    const body = [
      runMessage("r_m_1", "deploy"),
      runMessage("r_m_2", "deploy"),
      runMessage("r_m_3", "break"),
      runMessage("r_m_4", "publish"),
      runMessage("r_m_5", "nobody_handles_this"),
    ]
      .map((m) => JSON.stringify(m))
      .join("\n");
    expect((await h.post("/sink/runs", `${body}\n{"not json": }`)).status).toBe(200);
    expect((await h.post("/sink/runs", JSON.stringify(runMessage("r_m_1", "deploy")))).status).toBe(200);
    await h.waitForTerminal(["r_m_1", "r_m_2", "r_m_3", "r_m_4"]);
    await h.waitUntil(async () => (await h?.ledger.counts())?.pendingReports === 0, "every report delivered");

    const text = await scrape(h);
    const records = (outcome: string) => sample(text, "portside_records_total", { route: "sink/runs", kind: "run", outcome });
    expect(records("accepted")).toBe(4);
    expect(records("duplicate")).toBe(1);
    expect(records("parked")).toBe(1);
    expect(records("ignored")).toBe(1);
    expect(sample(text, "portside_records_ignored_total", { route: "sink/runs", reason: "unhandled_action" })).toBe(1);
    expect(sample(text, "portside_records_parked_total", { route: "sink/runs", reason: "unreadable" })).toBe(1);

    expect(sample(text, "portside_runs_finished_total", { action: "deploy", status: "SUCCESS" })).toBe(2);
    expect(sample(text, "portside_runs_finished_total", { action: "break", status: "FAILURE" })).toBe(1);
    expect(sample(text, "portside_runs_finished_total", { action: "publish", status: "SUCCESS" })).toBe(1);
    expect(sample(text, "portside_handler_duration_seconds_count", { action: "deploy" })).toBe(2);
    expect(sample(text, "portside_handler_duration_seconds_bucket", { le: "+Inf", action: "deploy" })).toBe(2);

    // One token, then one status call per run (the parked record with no run id is reported nowhere).
    expect(sample(text, "portside_port_calls_total", { endpoint: "token", status: "200" })).toBe(1);
    expect(sample(text, "portside_port_calls_total", { endpoint: "patchRun", status: "200" })).toBe(4);
    expect(sample(text, "portside_port_rate_budget_limit")).toBeGreaterThan(0);
    expect(sample(text, "portside_port_rate_budget_remaining")).toBeGreaterThan(0);

    expect(sample(text, "portside_ledger_commit_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(sample(text, "portside_eventbridge_entries_total", { outcome: "retried" })).toBe(1);
    expect(sample(text, "portside_eventbridge_entries_total", { outcome: "published" })).toBe(1);
    expect(sample(text, "portside_outbox_reports")).toBe(0);
    expect(sample(text, "portside_outbox_oldest_report_age_seconds")).toBe(0);
    expect(sample(text, "portside_dead_letters")).toBe(1);
    expect(sample(text, "portside_work_items", { state: "done" })).toBe(4);
    // No value from a record becomes a label: the unhandled action is not named anywhere.
    expect(text).not.toContain("nobody_handles_this");
  });

  test("reports Port could not take: the outbox depth, the age of the oldest, and the calls by status", async () => {
    h = await createHarness({ handlers: { runs: { deploy: async () => ({ summary: "ok" }) } } });
    h.emulator.state.failNext(1_000, 503);
    expect((await h.post("/sink/runs", JSON.stringify(runMessage("r_m_held", "deploy")))).status).toBe(200);
    await h.waitUntil(() => h?.logs.some((l) => l.includes('"event":"port.report.retry"')) ?? false, "a report held back");
    await Bun.sleep(1_100);
    const text = await scrape(h);
    expect(sample(text, "portside_outbox_reports")).toBe(1);
    expect(sample(text, "portside_outbox_oldest_report_age_seconds")).toBeGreaterThanOrEqual(1);
    expect(sample(text, "portside_port_calls_total", { endpoint: "token", status: "503" })).toBeGreaterThanOrEqual(1);
  });

  test("consumer lag per partition, from a running ingress's state", async () => {
    h = await createHarness();
    const lag = [
      { topic: `${ORG}.runs`, partition: 0, messages: 7 },
      { topic: `${ORG}.runs`, partition: 1, messages: 0 },
    ];
    h.service.attachIngress("kafka", { ready: () => true, live: () => true, state: () => ({}), lag: () => lag });
    const text = await scrape(h);
    expect(sample(text, "portside_kafka_consumer_lag", { topic: `${ORG}.runs`, partition: "0" })).toBe(7);
    expect(sample(text, "portside_kafka_consumer_lag", { topic: `${ORG}.runs`, partition: "1" })).toBe(0);
  });

  test("refusals: no token is 401; without ADMIN_TOKEN it is off and says how to turn it on", async () => {
    h = await createHarness();
    const anonymous = await h.service.app.request("/metrics");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Bearer realm="metrics"');
    await h.stop();
    h = await createHarness({ env: { ADMIN_TOKEN: "" } });
    const off = await h.service.app.request("/metrics");
    expect(off.status).toBe(404);
    expect(await off.json()).toEqual({
      error: "metrics_disabled",
      message:
        "/metrics is off because ADMIN_TOKEN is not set. Set ADMIN_TOKEN (scrape with it as a bearer token) or METRICS_PORT (served apart, without a token).",
    });
  });

  test("METRICS_PORT serves them apart, without a token, on a real socket; the main port then has none", async () => {
    const { freePort } = await import("../support/net.ts");
    const metricsPort = await freePort();
    proc = await startPortside(emulatorEnv(9, ORG, "metrics-sink-token-0123456789", { METRICS_PORT: String(metricsPort), LEDGER: "memory" }));
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("# TYPE portside_records_total counter");
    expect(text).toContain("# TYPE portside_handler_duration_seconds histogram");
    expect((await fetch(`${proc.url}/metrics`)).status).toBe(404);
  }, 60_000);
});

describe("the Grafana dashboard (connectors/observability/grafana-dashboard.json)", () => {
  test("every query names metrics portside exports, and every metric has a panel", async () => {
    const dashboard = (await Bun.file(new URL("../../connectors/observability/grafana-dashboard.json", import.meta.url)).json()) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    h = await createHarness();
    const exported = new Set([...(await scrape(h)).matchAll(/^# TYPE (portside_\w+) (\w+)$/gm)].map((m) => m[1] as string));
    const used = new Set<string>();
    for (const panel of dashboard.panels)
      for (const target of panel.targets) for (const [name] of target.expr.matchAll(/portside_\w+/g)) used.add(name.replace(/_(bucket|count|sum)$/, ""));
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
    expect([...exported].filter((name) => !used.has(name))).toEqual([]);
  });
});
