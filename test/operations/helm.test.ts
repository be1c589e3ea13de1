import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { parseAllDocuments } from "yaml";
import { loadConfig, variables } from "../../src/config.ts";
import { getHelm } from "../support/helm.ts";

/**
 * The Helm chart (connectors/helm/portside): `helm lint` passes, and `helm template` renders what a
 * cluster needs for each way of running portside — checked on the rendered objects, not by eye.
 */
const chart = new URL("../../connectors/helm/portside", import.meta.url).pathname;

interface K8sObject {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

function helm(args: string[]): { code: number; out: string; err: string } {
  const run = spawnSync(getHelm(), args, { encoding: "utf8" });
  return { code: run.status ?? -1, out: run.stdout, err: run.stderr };
}

function render(...sets: string[]): K8sObject[] {
  const { code, out, err } = helm(["template", "ps", chart, "--set", "orgId=org_chart", ...sets.flatMap((s) => ["--set", s])]);
  if (code !== 0) throw new Error(`helm template failed: ${err}`);
  return parseAllDocuments(out)
    .map((d) => d.toJSON() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
type Container = {
  env: { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string; optional?: boolean } } }[];
  livenessProbe: { httpGet: { path: string } };
  readinessProbe: { httpGet: { path: string } };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  ports: { name: string; containerPort: number }[];
};
function deployment(objects: K8sObject[]) {
  const [d] = byKind(objects, "Deployment");
  const spec = d?.spec as {
    replicas: number;
    strategy: { type: string };
    template: { spec: { terminationGracePeriodSeconds: number; containers: Container[]; volumes: { name: string }[] } };
  };
  const container = spec.template.spec.containers[0] as Container;
  const env = Object.fromEntries(container.env.map((e) => [e.name, e.value ?? e.valueFrom]));
  return { spec, container, env };
}

describe("the Helm chart", () => {
  test("helm lint passes; without orgId the chart refuses, saying what to set", () => {
    const lint = helm(["lint", chart, "--set", "orgId=org_chart"]);
    expect(lint.code).toBe(0);
    expect(lint.out).toContain("0 chart(s) failed");
    const missing = helm(["template", "ps", chart]);
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain("orgId is required: your Port organisation id (org_…)");
  }, 300_000);

  test("defaults: one replica on the SQLite ledger's volume, probes on /healthz and /readyz, the grace period above SHUTDOWN_GRACE_MS, secrets by reference", () => {
    const objects = render("shutdownGraceMs=40000");
    const { spec, container, env } = deployment(objects);
    expect(spec.replicas).toBe(1);
    expect(spec.strategy.type).toBe("Recreate");
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    expect(spec.template.spec.terminationGracePeriodSeconds).toBe(50);
    expect(env.SHUTDOWN_GRACE_MS).toBe("40000");
    expect(env.ORG_ID).toBe("org_chart");
    expect(env.LEDGER).toBe("sqlite:/data/ledger.sqlite");
    expect(env.SINK_TOKEN).toEqual({ secretKeyRef: { name: "portside", key: "SINK_TOKEN" } });
    expect(env.ADMIN_TOKEN).toEqual({ secretKeyRef: { name: "portside", key: "ADMIN_TOKEN", optional: true } });
    expect(env.PORT_CLIENT_SECRET).toEqual({ secretKeyRef: { name: "portside", key: "PORT_CLIENT_SECRET" } });
    expect(container.volumeMounts).toContainEqual({ name: "ledger", mountPath: "/data" });
    expect(byKind(objects, "PersistentVolumeClaim").map((o) => o.metadata.name)).toEqual(["ps-portside-ledger"]);
    // Metrics apart for the scraper; the Service exposes both ports.
    expect(env.METRICS_PORT).toBe("9464");
    const service = byKind(objects, "Service")[0]?.spec as { ports: { name: string }[] };
    expect(service.ports.map((p) => p.name)).toEqual(["http", "metrics"]);
    expect(byKind(objects, "ServiceMonitor")).toEqual([]);
    expect(byKind(objects, "Secret")).toEqual([]);
    // Every variable the chart sets is one portside reads.
    expect(Object.keys(env).filter((name) => !(name in variables))).toEqual([]);
  }, 300_000);

  test("replicas on Redis: no volume, rolling updates, the Redis URL from the Secret, and a ServiceMonitor", () => {
    const objects = render("replicaCount=3", "ledger.redisUrlSecretKey=REDIS_URL", "metrics.serviceMonitor.enabled=true");
    const { spec, env } = deployment(objects);
    expect(spec.replicas).toBe(3);
    expect(spec.strategy.type).toBe("RollingUpdate");
    expect(env.LEDGER).toEqual({ secretKeyRef: { name: "portside", key: "REDIS_URL" } });
    expect(byKind(objects, "PersistentVolumeClaim")).toEqual([]);
    expect(spec.template.spec.volumes.map((v) => v.name)).toEqual(["tmp"]);
    const monitor = byKind(objects, "ServiceMonitor")[0]?.spec as { endpoints: { port: string; path: string; interval: string }[] };
    expect(monitor.endpoints).toEqual([{ port: "metrics", path: "/metrics", interval: "30s" }]);
  }, 300_000);

  test("several replicas on the SQLite ledger are refused, saying why", () => {
    const { code, err } = helm(["template", "ps", chart, "--set", "orgId=org_chart", "--set", "replicaCount=2"]);
    expect(code).not.toBe(0);
    expect(err).toContain("replicaCount > 1 needs a shared ledger: set ledger.redisUrl or ledger.redisUrlSecretKey");
  }, 300_000);

  test("the handler module and the routes file come from a ConfigMap, mounted where HANDLERS and ROUTES point", () => {
    const objects = render("handlers.module=export default {}", "routes.fileName=routes.yaml", "routes.content=runs: {}", "kafka.brokers=port");
    const config = byKind(objects, "ConfigMap")[0];
    expect(Object.keys(config?.data ?? {}).sort()).toEqual(["handlers.ts", "routes.yaml"]);
    const { container, env } = deployment(objects);
    expect(env.HANDLERS).toBe("/app/code/handlers.ts");
    expect(env.ROUTES).toBe("/app/code/routes.yaml");
    expect(env.KAFKA_BROKERS).toBe("port");
    // Fed by the built-in consumer, the Secret needs no SINK_TOKEN (values.yaml says so): without it the sink is off.
    expect(env.SINK_TOKEN).toEqual({ secretKeyRef: { name: "portside", key: "SINK_TOKEN", optional: true } });
    expect(container.volumeMounts).toContainEqual({ name: "code", mountPath: "/app/code", readOnly: true });
  }, 300_000);

  test("polling only: PORT_POLLING, no Kafka, SINK_TOKEN optional; the agent's mapping file from the ConfigMap where CONTROL_THE_PAYLOAD_CONFIG_PATH points", () => {
    const mapping = '[{"enabled": true, "url": ".payload.action.invocationMethod.url"}]';
    const objects = render("polling.enabled=true", `executionAgent.mapping=${mapping.replaceAll(",", "\\,")}`, "executionAgent.jqEnv=GITLAB_URL");
    const { container, env } = deployment(objects);
    expect(env.PORT_POLLING).toBe("true");
    expect(env.KAFKA_BROKERS).toBeUndefined();
    expect(env.EXECUTION_AGENT).toBeUndefined();
    expect(env.SINK_TOKEN).toEqual({ secretKeyRef: { name: "portside", key: "SINK_TOKEN", optional: true } });
    expect(env.CONTROL_THE_PAYLOAD_CONFIG_PATH).toBe("/app/code/control_the_payload_config.json");
    expect(env.JQ_ENV).toBe("GITLAB_URL");
    expect(byKind(objects, "ConfigMap")[0]?.data).toEqual({ "control_the_payload_config.json": `${mapping}\n` });
    expect(container.volumeMounts).toContainEqual({ name: "code", mountPath: "/app/code", readOnly: true });
    // Every variable the chart sets is one portside reads, and the set passes portside's configuration check
    // without a SINK_TOKEN (the Secret's values stand in as placeholders).
    expect(Object.keys(env).filter((name) => !(name in variables))).toEqual([]);
    const plain = Object.fromEntries(Object.entries(env).flatMap(([name, value]) => (typeof value === "string" ? [[name, value]] : [])));
    const config = loadConfig({ ...plain, PORT_CLIENT_ID: "client-id-placeholder", PORT_CLIENT_SECRET: "client-secret-placeholder" });
    expect(config.polling).not.toBeNull();
    expect(config.executionAgent?.mappingPath).toBe("/app/code/control_the_payload_config.json");
    expect(config.sinkToken).toBeNull();
    expect(config.kafka).toBeNull();
  }, 300_000);

  test("execution-agent mode on Kafka: EXECUTION_AGENT beside the built-in consumer", () => {
    const { env } = deployment(render("executionAgent.enabled=true", "kafka.brokers=port"));
    expect(env.EXECUTION_AGENT).toBe("true");
    expect(env.KAFKA_BROKERS).toBe("port");
    expect(env.PORT_POLLING).toBeUndefined();
  }, 300_000);
});
