import { describe, expect, test } from "bun:test";
import { fromAgentEnvironment } from "./config-agent-env.ts";
import { loadConfig } from "./config.ts";

/** Port's execution agent's environment, as its Helm chart and Docker example set it (no secrets: placeholders). */
const agentPolling = {
  PORT_ORG_ID: "org_agent",
  PORT_CLIENT_ID: "client-id-placeholder",
  PORT_CLIENT_SECRET: "client-secret-placeholder",
  PORT_API_BASE_URL: "https://api.us.port.io",
  STREAMER_NAME: "POLLING",
  POLLING_INTERVAL_SECONDS: "5",
  POLLING_RUNS_BATCH_SIZE: "50",
  POLLING_MAX_FAILURE_DURATION_SECONDS: "600",
  LOG_LEVEL: "WARNING",
};

describe("Port's agent's environment read as portside's settings", () => {
  test("a polling agent's variables become portside's polling settings, each said once", () => {
    const config = loadConfig(agentPolling);
    expect(config.orgId).toBe("org_agent");
    expect(config.portApiUrl).toBe("https://api.us.port.io");
    expect(config.polling).toEqual({ intervalMs: 5_000, batch: 50, nodeRuns: true, maxFailureMs: 600_000 });
    expect(config.executionAgent).not.toBeNull();
    expect(config.sinkToken).toBeNull();
    expect(config.logLevel).toBe("warn");
    expect(config.agentVariablesTaken).toEqual([
      "PORT_ORG_ID → ORG_ID",
      "PORT_API_BASE_URL → PORT_API_URL",
      "POLLING_RUNS_BATCH_SIZE → POLLING_BATCH",
      "STREAMER_NAME → PORT_POLLING",
      "POLLING_INTERVAL_SECONDS → POLLING_INTERVAL_MS",
      "POLLING_MAX_FAILURE_DURATION_SECONDS → POLLING_MAX_FAILURE_MS",
      "LOG_LEVEL (Port's agent's spelling)",
    ]);
  });

  test("portside's own names win over the agent's", () => {
    const { env, taken } = fromAgentEnvironment({ ...agentPolling, ORG_ID: "org_own", POLLING_MAX_FAILURE_MS: "120000" });
    expect(env.ORG_ID).toBe("org_own");
    expect(env.POLLING_MAX_FAILURE_MS).toBe("120000");
    expect(taken).not.toContain("PORT_ORG_ID → ORG_ID");
    expect(taken).not.toContain("POLLING_MAX_FAILURE_DURATION_SECONDS → POLLING_MAX_FAILURE_MS");
  });

  test("STREAMER_NAME=KAFKA: the built-in consumer on Port's brokers, in the agent's place", () => {
    const config = loadConfig({
      PORT_ORG_ID: "org_agent",
      PORT_CLIENT_ID: "client-id-placeholder",
      PORT_CLIENT_SECRET: "client-secret-placeholder",
      STREAMER_NAME: "KAFKA",
      KAFKA_CONSUMER_GROUP_ID: "org_agent.agent",
      KAFKA_CONSUMER_AUTO_OFFSET_RESET: "largest",
      KAFKA_CONSUMER_SECURITY_PROTOCOL: "SASL_SSL",
    });
    expect(config.kafka).toMatchObject({ brokers: "port", groupId: "org_agent.agent", fromBeginning: false, ssl: true });
    expect(config.executionAgent).not.toBeNull();
    expect(config.polling).toBeNull();
    expect(config.agentVariablesTaken).toContain(
      "KAFKA_CONSUMER_SECURITY_PROTOCOL (not needed: KAFKA_BROKERS=port brings the brokers' TLS and SCRAM from Port)",
    );
  });

  test("a refused value set under the agent's name is named by it too", () => {
    expect(() => loadConfig({ ...agentPolling, POLLING_INTERVAL_SECONDS: "600" })).toThrow(
      /^POLLING_INTERVAL_MS \(read from Port's agent's POLLING_INTERVAL_SECONDS\): /,
    );
    expect(() => loadConfig({ ...agentPolling, POLLING_INTERVAL_MS: "600000" })).toThrow(/^POLLING_INTERVAL_MS: /);
  });
});
