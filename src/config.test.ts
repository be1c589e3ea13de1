import { describe, expect, test } from "bun:test";
import { ConfigError, LOCAL_ORG_ID, loadConfig } from "./config.ts";

const base = { ORG_ID: "org_abc", SINK_TOKEN: "s3cret-sink-token-value", PORT_CLIENT_ID: "cid", PORT_CLIENT_SECRET: "very-secret-client-secret" };
const refusal = (env: Record<string, string>, open?: boolean) => {
  try {
    loadConfig(env, open === undefined ? {} : { open });
  } catch (error) {
    if (error instanceof ConfigError) return { variable: error.variable, message: error.message };
    throw error;
  }
  throw new Error("expected a ConfigError");
};

describe("loadConfig", () => {
  test("defaults", () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 3000,
      orgId: "org_abc",
      portApiUrl: "https://api.port.io",
      ackMode: "durable",
      concurrency: 16,
      bodyLimitBytes: 5 * 1024 * 1024,
      orderBy: "entity",
      open: false,
    });
    expect(config.ledger).toEqual({ type: "sqlite", path: "./.portside/ledger.sqlite" });
    expect(config.retentionMs).toBe(168 * 3600_000);
    expect(config.deadLetterRetentionMs).toBe(336 * 3600_000);
    expect(config).toMatchObject({ unhandledRuns: "ignore", maxRunAttempts: 3 });
    // The connector's token does not administer portside: without ADMIN_TOKEN, /admin is off.
    expect(config.adminToken).toBeNull();
  });

  test("PORT_MAX_WAIT_MS: 5 min by default, never to half of REPORT_LEASE_MS or beyond", () => {
    expect(loadConfig({ ...base, REPORT_LEASE_MS: "900000" }).portMaxWaitMs).toBe(300_000);
    // The default gives way to a shorter lease (the default one: 2 min).
    expect(loadConfig(base).portMaxWaitMs).toBe(60_000);
    expect(loadConfig({ ...base, PORT_MAX_WAIT_MS: "2000" }).portMaxWaitMs).toBe(2_000);
    expect(refusal({ ...base, PORT_MAX_WAIT_MS: "90000" })).toEqual({
      variable: "PORT_MAX_WAIT_MS",
      message: expect.stringContaining("PORT_MAX_WAIT_MS: must be at most half of REPORT_LEASE_MS; lower it, or raise REPORT_LEASE_MS."),
    });
    expect(refusal({ ...base, PORT_MAX_WAIT_MS: "soon" }).variable).toBe("PORT_MAX_WAIT_MS");
  });

  test("ADMIN_TOKEN is its own secret: long enough and not the SINK_TOKEN", () => {
    expect(loadConfig({ ...base, ADMIN_TOKEN: "admin-token-0123456789" }).adminToken?.reveal()).toBe("admin-token-0123456789");
    expect(refusal({ ...base, ADMIN_TOKEN: base.SINK_TOKEN })).toEqual({ variable: "ADMIN_TOKEN", message: expect.stringContaining("same as SINK_TOKEN") });
    const short = refusal({ ...base, ADMIN_TOKEN: "tiny-admin" });
    expect(short.variable).toBe("ADMIN_TOKEN");
    expect(short.message).not.toContain("tiny-admin");
  });

  test("a malformed Redis URL is refused with its password redacted", () => {
    for (const url of ["redis://user:PASSWORD@", "redis://:PASSWORD@host:port", "redis://user:PASSWORD@host/not-a-db"]) {
      const { variable, message } = refusal({ ...base, LEDGER: url });
      expect(variable).toBe("LEDGER");
      expect(message).not.toContain("PASSWORD");
      expect(message).toContain("[redacted]");
    }
    expect(loadConfig({ ...base, LEDGER: "rediss://user:PASSWORD@cache.internal:6380/2" }).ledger.type).toBe("redis");
  });

  test("refuses to start without SINK_TOKEN unless open, and says how to fix it", () => {
    const { SINK_TOKEN: _, ...withoutToken } = base;
    expect(refusal(withoutToken)).toEqual({ variable: "SINK_TOKEN", message: expect.stringContaining("PORTSIDE_OPEN=true") });
    expect(loadConfig(withoutToken, { open: true }).sinkToken).toBeNull();
    expect(loadConfig({ ...withoutToken, PORTSIDE_OPEN: "true" }).open).toBe(true);
  });

  test("names the variable and the fix; never shows a secret", () => {
    expect(refusal({ ...base, ORG_ID: "" }).message).toStartWith("ORG_ID: is not set.");
    expect(refusal({ ...base, PORT: "http" })).toEqual({ variable: "PORT", message: "PORT: must be a whole number. listen port (default 3000)." });
    expect(refusal({ ...base, ACK_MODE: "later" }).message).toContain("must be durable or sync");
    // The local Port emulator's port is a setting like the others (it was once read unchecked).
    expect(refusal({ ...base, PORT_EMULATOR_PORT: "emulator" }).message).toStartWith("PORT_EMULATOR_PORT: must be a whole number.");
    expect(refusal({ ...base, PORT_EMULATOR_PORT: "70000" }).variable).toBe("PORT_EMULATOR_PORT");
    expect([loadConfig(base).emulatorPort, loadConfig({ ...base, PORT_EMULATOR_PORT: "4010" }).emulatorPort]).toEqual([0, 4010]);
    // Not even a value that is no secret is repeated: a secret pasted into the wrong variable would be.
    expect(refusal({ ...base, CONCURRENCY: "hunter2-pasted-here" }).message).toBe(
      "CONCURRENCY: must be a whole number. how many handlers run at once (default 16); work waiting on EventBridge takes no slot.",
    );
    expect(refusal({ ...base, PORT_CLIENT_SECRET: "" }).variable).toBe("PORT_CLIENT_SECRET");
    const short = refusal({ ...base, SINK_TOKEN: "short-secret" });
    expect(short.variable).toBe("SINK_TOKEN");
    expect(short.message).not.toContain("short-secret");
    const ledger = refusal({ ...base, LEDGER: "redis//user:pa55word@host" });
    expect(ledger.variable).toBe("LEDGER");
    expect(refusal({ ...base, LEDGER: "postgres://user:pa55word@host/db" }).message).not.toContain("pa55word");
  });

  test("secrets print as [redacted] in strings, JSON and logs", () => {
    const config = loadConfig({ ...base, LEDGER: "redis://:pa55word@127.0.0.1:6379" });
    const printed = `${JSON.stringify(config)} ${String(config.sinkToken)} ${config.portCredentials?.clientSecret}`;
    for (const secret of [base.SINK_TOKEN, base.PORT_CLIENT_SECRET, "pa55word"]) expect(printed).not.toContain(secret);
    expect(config.portCredentials?.clientSecret.reveal()).toBe(base.PORT_CLIENT_SECRET);
  });

  test("custom template locator needs both paths", () => {
    expect(refusal({ ...base, RUN_ID_PATH: "meta.run" }).variable).toBe("ACTION_PATH");
    expect(loadConfig({ ...base, RUN_ID_PATH: "meta.run", ACTION_PATH: "meta.action" }).locator).toEqual({ runIdPath: "meta.run", actionPath: "meta.action" });
  });

  test("every bad or missing variable is named at once, each with its fix, none with its value", () => {
    const { SINK_TOKEN: _, ...withoutToken } = base;
    let refused: unknown;
    try {
      loadConfig({ ...withoutToken, ORG_ID: "", PORT: "http", CONCURRENCY: "hunter2-pasted-here", ACK_MODE: "later", LOG_FORMAT: "xml" });
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ConfigError);
    const error = refused as ConfigError;
    // The first, for callers that want one line; all of them, in the order the variables are read.
    expect(error.variable).toBe("ORG_ID");
    expect(error.message).toBe(error.all[0]?.message ?? "");
    expect(error.all.map((e) => e.message)).toEqual([
      "ORG_ID: is not set. your Port organisation id (org_…); records of any other organisation are parked (open mode without Port credentials, `portside dev` among them, defaults to org_portside_dev).",
      "SINK_TOKEN: is not set, so anyone could post runs; set it, or take runs another way (PORT_WEBHOOKS=true, PORT_POLLING=true, KAFKA_BROKERS), or set PORTSIDE_OPEN=true for local use only. bearer token the Kafka Connect HTTP sink sends; generate one with `openssl rand -hex 32`.",
      "PORT: must be a whole number. listen port (default 3000).",
      "CONCURRENCY: must be a whole number. how many handlers run at once (default 16); work waiting on EventBridge takes no slot.",
      "ACK_MODE: must be durable or sync. `durable` (default: ack once recorded) or `sync` (ack once the handlers finished).",
      "LOG_FORMAT: must be auto, json or pretty. how log lines read: `json` (one JSON object per line), `pretty` (lines for people) or `auto` (the default: pretty for `portside dev` writing to a terminal, JSON otherwise).",
    ]);
    expect(error.all.map((e) => e.message).join("\n")).not.toContain("hunter2");
  });

  test("with the others, a refusal of a value read from Port's agent's variable names that variable", () => {
    let refused: ConfigError | undefined;
    try {
      loadConfig({ ...base, PORT_API_BASE_URL: "ftp://port.example", KAFKA_BROKERS: "kafka:9092", KAFKA_GROUP_ID: "someone-else", ADMIN_TOKEN: "tiny" });
    } catch (error) {
      refused = error as ConfigError;
    }
    expect(refused?.all.map((e) => [e.variable, e.agentVariable])).toEqual([
      ["ADMIN_TOKEN", undefined],
      ["PORT_API_URL", "PORT_API_BASE_URL"],
      ["KAFKA_GROUP_ID", undefined],
    ]);
    expect(refused?.all[1]?.message).toStartWith("PORT_API_URL (read from Port's agent's PORT_API_BASE_URL): must be an https:// URL");
  });

  test("ORG_ID: open mode without Port credentials (the emulator stands in) defaults it; with credentials it is required", () => {
    expect(loadConfig({ PORTSIDE_OPEN: "true" }).orgId).toBe(LOCAL_ORG_ID);
    expect(loadConfig({}, { open: true }).orgId).toBe("org_portside_dev");
    expect(loadConfig({ ORG_ID: "org_mine" }, { open: true }).orgId).toBe("org_mine");
    expect(refusal({ PORT_CLIENT_ID: "cid", PORT_CLIENT_SECRET: "secret" }, true).variable).toBe("ORG_ID");
    expect(refusal({ SINK_TOKEN: base.SINK_TOKEN, PORT_CLIENT_ID: "cid", PORT_CLIENT_SECRET: "secret" }).variable).toBe("ORG_ID");
  });

  test("LOG_FORMAT: auto by default, json or pretty", () => {
    expect(loadConfig(base).logFormat).toBe("auto");
    expect(loadConfig({ ...base, LOG_FORMAT: "pretty" }).logFormat).toBe("pretty");
    expect(loadConfig({ ...base, LOG_FORMAT: " json " }).logFormat).toBe("json");
  });
});
