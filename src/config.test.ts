import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "./config.ts";

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
});
