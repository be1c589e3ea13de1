import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { parseAllDocuments } from "yaml";
import { loadConfig, variables } from "../../src/config.ts";
import { SETTINGS } from "../../src/config-settings.ts";
import { PORT_EGRESS } from "../../src/port/egress.ts";
import { getHelm } from "../support/helm.ts";

/**
 * The Helm chart (connectors/helm/portside): `helm lint` passes, and `helm template` renders what a
 * cluster needs for each way of running portside — checked on the rendered objects, not by eye.
 */
const chart = new URL("../../connectors/helm/portside", import.meta.url).pathname;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

function helm(args: string[]): { code: number; out: string; err: string } {
  const run = spawnSync(getHelm(), args, { encoding: "utf8" });
  return { code: run.status ?? -1, out: run.stdout, err: run.stderr };
}

const setArgs = (sets: string[]) => ["--set", "orgId=org_chart", ...sets.flatMap((s) => ["--set", s])];

function render(...sets: string[]): K8sObject[] {
  return renderWith([], ...sets);
}

/** Rendered with values files (`-f`) as well as `--set`s. */
function renderWith(files: string[], ...sets: string[]): K8sObject[] {
  const { code, out, err } = helm(["template", "ps", chart, ...files.flatMap((file) => ["-f", file]), ...setArgs(sets)]);
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

/** portside's configuration from what the chart sets, the Secret's Port credentials standing in as placeholders. */
function configOf(env: ReturnType<typeof deployment>["env"]) {
  const plain = Object.fromEntries(Object.entries(env).flatMap(([name, value]) => (typeof value === "string" ? [[name, value]] : [])));
  return loadConfig({ ...plain, PORT_CLIENT_ID: "client-id-placeholder", PORT_CLIENT_SECRET: "client-secret-placeholder" });
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
    // A number from a values file (or --set-json) is a float: still written as an integer.
    const { code, out } = helm(["template", "ps", chart, "--set", "orgId=org_chart", "--set-json", "shutdownGraceMs=1200000"]);
    expect(code).toBe(0);
    expect(out).toContain('value: "1200000"');
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
    // No webhooks unless asked for, and nothing exposed outside the cluster.
    expect(env.PORT_WEBHOOKS).toBeUndefined();
    expect(byKind(objects, "Ingress")).toEqual([]);
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

  test("a team's own image (connectors/team/values.yaml): that image, HANDLERS at handlers.path inside it, no ConfigMap and nothing mounted for code; the set passes portside's configuration check", () => {
    const teamValues = new URL("../../connectors/team/values.yaml", import.meta.url).pathname;
    const objects = renderWith([teamValues]);
    const { spec, container, env } = deployment(objects);
    expect((spec.template.spec.containers[0] as unknown as { image: string }).image).toBe("registry.example.com/platform/portside-handlers:1.0.0");
    expect(env.HANDLERS).toBe("/app/handlers.ts");
    expect(byKind(objects, "ConfigMap")).toEqual([]);
    expect(container.volumeMounts.map((m) => m.mountPath)).toEqual(["/tmp", "/data"]);
    expect(spec.template.spec.volumes.map((v) => v.name)).toEqual(["tmp", "ledger"]);
    // The Secret's SINK_TOKEN stands in as a placeholder too (configOf gives the Port credentials).
    expect(configOf({ ...env, SINK_TOKEN: "sink-token-placeholder-0123456789" }).handlersPath).toBe("/app/handlers.ts");
    // A module from a ConfigMap and one in the image at once: refused, saying which to keep.
    const both = helm(["template", "ps", chart, "-f", teamValues, ...setArgs(["handlers.module=export default {}"])]);
    expect(both.code).not.toBe(0);
    expect(both.err).toContain("handlers.module and handlers.path both give the handler module");
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
    const config = configOf(env);
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

  /** The values of a webhook deployment behind an ingress controller, as the README shows them. */
  const webhooks = [
    "webhooks.enabled=true",
    "webhooks.allow=port-eu",
    "webhooks.trustedProxies=10.244.0.0/16",
    "webhooks.ingress.enabled=true",
    "webhooks.ingress.className=nginx",
    "webhooks.ingress.host=portside.example.com",
    "webhooks.ingress.annotations.cert-manager\\.io/cluster-issuer=letsencrypt",
    "webhooks.ingress.tls[0].secretName=portside-tls",
  ];

  // The Ingress is checked here on its fields; `kubectl create --dry-run=client` would need an API server
  // (it downloads the OpenAPI schema and the API groups even on a client dry run).
  test("webhooks behind an Ingress: only the path prefix /webhooks/ to the Service's http port, with TLS; helm lint passes", () => {
    const lint = helm(["lint", chart, ...setArgs(webhooks)]);
    expect(lint.code).toBe(0);
    expect(lint.out).toContain("0 chart(s) failed");
    const objects = render(...webhooks);
    const [ingress, ...more] = byKind(objects, "Ingress");
    expect(more).toEqual([]);
    expect(ingress?.apiVersion).toBe("networking.k8s.io/v1");
    expect(ingress?.metadata.name).toBe("ps-portside-webhooks");
    expect(ingress?.metadata.annotations).toEqual({ "cert-manager.io/cluster-issuer": "letsencrypt" });
    const service = byKind(objects, "Service")[0] as K8sObject;
    expect(ingress?.spec).toEqual({
      ingressClassName: "nginx",
      // The hosts of a TLS entry default to the Ingress's host.
      tls: [{ secretName: "portside-tls", hosts: ["portside.example.com"] }],
      rules: [
        {
          host: "portside.example.com",
          http: { paths: [{ path: "/webhooks/", pathType: "Prefix", backend: { service: { name: service.metadata.name, port: { name: "http" } } } }] },
        },
      ],
    });
    // The port it names is the Service's main one, where portside serves /webhooks (not the metrics port).
    expect((service.spec as { ports: { name: string; targetPort: string }[] }).ports).toContainEqual(
      expect.objectContaining({ name: "http", targetPort: "http" }),
    );
    // TLS entries with hosts of their own keep them.
    const tls = byKind(render(...webhooks, "webhooks.ingress.tls[0].hosts[0]=hooks.example.com"), "Ingress")[0]?.spec?.tls;
    expect(tls).toEqual([{ secretName: "portside-tls", hosts: ["hooks.example.com"] }]);
  }, 300_000);

  test("webhooks: PORT_WEBHOOKS, WEBHOOK_ALLOW and WEBHOOK_TRUSTED_PROXIES set, SINK_TOKEN optional, portside's own defaults for the rest; the set passes portside's configuration check", () => {
    const { env } = deployment(render(...webhooks));
    expect(env.PORT_WEBHOOKS).toBe("true");
    expect(env.WEBHOOK_ALLOW).toBe("port-eu");
    expect(env.WEBHOOK_TRUSTED_PROXIES).toBe("10.244.0.0/16");
    expect(env.WEBHOOK_SYNC_TIMEOUT_MS).toBeUndefined();
    expect(env.WEBHOOK_RUN_ID_PATH).toBeUndefined();
    expect(env.PORT_POLLING).toBeUndefined();
    expect(env.KAFKA_BROKERS).toBeUndefined();
    expect(env.SINK_TOKEN).toEqual({ secretKeyRef: { name: "portside", key: "SINK_TOKEN", optional: true } });
    expect(Object.keys(env).filter((name) => !(name in variables))).toEqual([]);
    const config = configOf(env);
    expect(config.sinkToken).toBeNull();
    expect(config.polling).toBeNull();
    expect(config.kafka).toBeNull();
    expect(config.webhook?.allow).toHaveLength(PORT_EGRESS["port-eu"]?.length ?? -1);
    expect(config.webhook?.trustedProxies).toHaveLength(1);
    expect(config.webhook?.syncTimeoutMs).toBe(Number(SETTINGS.WEBHOOK_SYNC_TIMEOUT_MS.default));
    expect(config.webhook?.runIdPath).toBeNull();

    // The optional settings, when given; webhooks without the Ingress render none (exposed some other way).
    const objects = render("webhooks.enabled=true", "webhooks.syncTimeoutMs=10000", "webhooks.runIdPath=port_context.id");
    const given = deployment(objects).env;
    expect(given.WEBHOOK_SYNC_TIMEOUT_MS).toBe("10000");
    expect(given.WEBHOOK_RUN_ID_PATH).toBe("port_context.id");
    expect(given.WEBHOOK_ALLOW).toBeUndefined();
    expect(byKind(objects, "Ingress")).toEqual([]);
    const configGiven = configOf(given);
    expect(configGiven.webhook?.syncTimeoutMs).toBe(10_000);
    expect(configGiven.webhook?.runIdPath).toBe("port_context.id");
    expect(configGiven.webhook?.allow).toBeNull();
  }, 300_000);

  test("the webhooks' Ingress is refused without webhooks.enabled and without a host, saying what to set", () => {
    const off = helm(["template", "ps", chart, ...setArgs(["webhooks.ingress.enabled=true", "webhooks.ingress.host=portside.example.com"])]);
    expect(off.code).not.toBe(0);
    expect(off.err).toContain("webhooks.ingress needs webhooks.enabled=true");
    const hostless = helm(["template", "ps", chart, ...setArgs(["webhooks.enabled=true", "webhooks.ingress.enabled=true"])]);
    expect(hostless.code).not.toBe(0);
    expect(hostless.err).toContain("webhooks.ingress needs webhooks.ingress.host");
  }, 300_000);
});
