import { afterEach, describe, expect, test } from "bun:test";
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { createHarness, type Harness, ORG, runMessage } from "../support/harness.ts";

/**
 * portside on Port's shared topics: it takes its own runs and leaves everyone else's alone — Port's agent's
 * (WEBHOOK or GITLAB with `agent: true`), other backends', other consumers' Kafka actions — and it never
 * reports a run it cannot be sure is its own. Signed messages that arrive too late end FAILURE unexecuted;
 * secret inputs reach the handler in clear and nowhere else.
 */
let h: Harness;
afterEach(async () => h?.stop());

/** A client secret long enough to hold the AES key for secret inputs (its first 32 bytes). */
const SECRET = "a-client-secret-of-forty-four-characters-xyz";
const body = (...messages: unknown[]) => messages.map((m) => JSON.stringify(m)).join("\n");
const withInvocation = (id: string, invocationMethod: Record<string, unknown>, action = "deploy") => {
  const message = runMessage(id, action);
  return { ...message, payload: { ...message.payload, action: { ...message.payload.action, invocationMethod } } };
};
const changeRecord = (identifier: string, extra: Record<string, unknown> = {}) => ({
  action: "UPDATE",
  resourceType: "entity",
  status: "SUCCESS",
  trigger: { by: { orgId: ORG, userId: "u@clients" }, origin: "API", at: "2026-03-01T10:00:00.000Z" },
  context: { entity: identifier, blueprint: "vm" },
  diff: { before: { identifier }, after: { identifier } },
  ...extra,
});

describe("runs on the shared runs topic", () => {
  test("only portside's are executed and reported; the others are counted, never touched", async () => {
    const ran: string[] = [];
    h = await createHarness({ handlers: { runs: { deploy: async (run) => void ran.push(run.id) } } });
    const messages = [
      runMessage("r_mine"),
      withInvocation("r_agent_webhook", { type: "WEBHOOK", agent: true, url: "http://agent.internal/hook" }),
      withInvocation("r_agent_gitlab", { type: "GITLAB", agent: true }),
      withInvocation("r_github", { type: "GITHUB", org: "acme", repo: "ci" }),
      runMessage("r_other_team", "provision_db"),
      { ...withInvocation("wfnr_agent_node", { type: "WEBHOOK", agent: true }), context: { runId: "wfnr_agent_node" } },
      { hello: "a message of no known shape", run: { id: "r_unknown_shape" } },
    ];
    const res = await h.post("/sink/runs", body(...messages));
    expect(await res.json()).toEqual({
      records: 7,
      accepted: 1,
      duplicate: 0,
      parked: 1,
      ignored: 5,
      parkedReasons: [expect.stringContaining("not a recognised run message")],
    });
    await h.waitForTerminal(["r_mine"]);
    await Bun.sleep(50);
    expect(ran).toEqual(["r_mine"]);
    const touched = new Set(h.emulator.state.calls.map((c) => c.runId).filter(Boolean));
    expect([...touched]).toEqual(["r_mine"]);
    expect(h.service.stats().ignoredBy).toEqual({ agent: 3, other_consumer: 1, unhandled_action: 1 });
    const stats = (await (await h.admin("/stats")).json()) as { sinceStart: { ignoredBy: Record<string, number> } };
    expect(stats.sinceStart.ignoredBy).toEqual({ agent: 3, other_consumer: 1, unhandled_action: 1 });
  });

  test("change-log records for Port's agent or another destination are left alone", async () => {
    const seen: string[] = [];
    h = await createHarness({ handlers: { changes: [{ match: { blueprint: "vm" }, handle: (c) => void seen.push(c.identifier ?? "?") }] } });
    const res = await h.post(
      "/sink/changes",
      body(
        changeRecord("vm-mine"),
        changeRecord("vm-agent", { changelogDestination: { type: "WEBHOOK", agent: true, url: "http://x" } }),
        changeRecord("vm-webhook", { changelogDestination: { type: "WEBHOOK", url: "http://x" } }),
        changeRecord("vm-kafka", { changelogDestination: { type: "KAFKA" } }),
      ),
    );
    expect(await res.json()).toMatchObject({ records: 4, accepted: 2, ignored: 2 });
    await h.waitUntil(() => seen.length === 2, "the two changes for Kafka consumers");
    expect(seen.sort()).toEqual(["vm-kafka", "vm-mine"]);
  });
});

/** Signs a message the way Port signs agent-style ones: over the JSON with empty `headers`, then adds them. */
function signed(message: Record<string, unknown>, secret: string, timestampS: number) {
  const unsigned = { ...message, headers: {} };
  const signature = createHmac("sha256", secret)
    .update(`${timestampS}.${JSON.stringify(unsigned)}`)
    .digest("base64");
  return { ...unsigned, headers: { "X-Port-Signature": `v1,${signature}`, "X-Port-Timestamp": timestampS } };
}

describe("broken runs of another consumer's action", () => {
  test("invalid, too deeply nested, late-signed or truncated: never reported, never executed", async () => {
    h = await createHarness({ env: { PORT_CLIENT_SECRET: SECRET }, handlers: { runs: { deploy: async () => ({}) } } });
    const other = "provision_db";
    const invalid = { ...runMessage("r_theirs_invalid", other), payload: { properties: "not-an-object" } };
    const deep = `{"action":"${other}","resourceType":"run","context":{"runId":"r_theirs_deep"},"inputs":${"[".repeat(300)}${"]".repeat(300)}}`;
    const late = signed(runMessage("r_theirs_late", other), SECRET, Math.floor(Date.now() / 1000) - 600);
    const truncated = JSON.stringify(runMessage("r_theirs_truncated", other)).slice(0, -5);
    const mineTruncated = JSON.stringify(runMessage("r_mine_truncated")).slice(0, -5);
    const res = await h.post("/sink/runs", [JSON.stringify(invalid), deep, JSON.stringify(late), truncated, mineTruncated].join("\n"));
    expect(await res.json()).toMatchObject({ records: 5, ignored: 2, parked: 3 });
    await h.waitForTerminal(["r_mine_truncated"]);
    // Only the broken run of an action this deployment handles was told FAILURE.
    expect([...new Set(h.emulator.state.calls.map((c) => c.runId).filter(Boolean))]).toEqual(["r_mine_truncated"]);
  });
});

describe("signed messages", () => {
  test("a late one is reported FAILURE saying it arrived too late to be trusted, and never executed; a fresh one runs", async () => {
    const ran: string[] = [];
    h = await createHarness({ env: { PORT_CLIENT_SECRET: SECRET }, handlers: { runs: { deploy: async (run) => void ran.push(run.id) } } });
    const nowS = Math.floor(Date.now() / 1000);
    const late = signed(runMessage("r_late"), SECRET, nowS - 600);
    const fresh = signed(runMessage("r_fresh"), SECRET, nowS);
    const forged = signed(runMessage("r_forged"), "not-the-secret", nowS - 600);
    const res = await h.post("/sink/runs", body(late, fresh, forged));
    expect(await res.json()).toMatchObject({ accepted: 1, parked: 2 });
    await h.waitForTerminal(["r_late", "r_fresh"]);
    expect(ran).toEqual(["r_fresh"]);
    expect(h.emulator.state.terminalStatus("r_late")).toBe("FAILURE");
    expect(h.emulator.state.runs.get("r_late")?.summary).toContain("arrived too late to be trusted");
    // A forged one is parked but never reported: it cannot be trusted to name a real run.
    await Bun.sleep(50);
    expect(h.emulator.state.callsFor("r_forged")).toEqual([]);
    const reasons = (await h.ledger.listDeadLetters()).map((l) => [l.runId, l.reason]);
    expect(reasons).toEqual([
      ["r_late", expect.stringMatching(/60[01] s old, outside the 300 s freshness window \(SIGNATURE_TOLERANCE_MS\)/)],
      ["r_forged", expect.stringContaining("signature does not match")],
    ]);
  });
});

/** Port's secret-input scheme: base64(IV 16 ‖ AES-256-GCM ciphertext ‖ tag 16), key = first 32 bytes of the client secret. */
function encrypt(plain: string): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(SECRET).subarray(0, 32), iv);
  return Buffer.concat([iv, cipher.update(plain, "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64");
}

describe("secret inputs", () => {
  test("reach the handler in clear, and nowhere else: not the ledger, a log line, a dead letter or a Port call", async () => {
    const clear = "p4ssw0rd-that-must-not-leak";
    const got: unknown[] = [];
    // Everything written to the ledger, as the durable stores would hold it.
    const inner = createMemoryLedger();
    const written: string[] = [];
    const ledger: Ledger = {
      ...inner,
      commit(batch, now) {
        written.push(JSON.stringify(batch));
        return inner.commit(batch, now);
      },
      finishWork(key, owner, reports, now) {
        written.push(JSON.stringify(reports));
        return inner.finishWork(key, owner, reports, now);
      },
      appendReports(reports, now) {
        written.push(JSON.stringify(reports));
        return inner.appendReports(reports, now);
      },
    };
    h = await createHarness({
      ledger,
      env: { PORT_CLIENT_SECRET: SECRET, LOG_LEVEL: "debug" },
      handlers: {
        runs: {
          deploy: async (run) => {
            got.push(run.inputs.password);
            await run.log(`deploying with ${Object.keys(run.inputs).join(", ")}`);
            return { summary: "deployed" };
          },
        },
      },
    });
    const message = runMessage("r_secret", "deploy", { inputs: { version: "1.2.3", password: encrypt(clear) } });
    message.payload = { ...message.payload, censoredProperties: ["password"] } as typeof message.payload;
    const broken = runMessage("r_secret_broken", "deploy", { inputs: { password: "bm90IGNpcGhlcnRleHQ=" } });
    broken.payload = { ...broken.payload, censoredProperties: ["password"] } as typeof broken.payload;
    await h.post("/sink/runs", body(message, broken));
    await h.waitForTerminal(["r_secret", "r_secret_broken"]);
    expect(got).toEqual([clear]);
    expect(h.emulator.state.terminalStatus("r_secret")).toBe("SUCCESS");
    expect(h.emulator.state.runs.get("r_secret_broken")).toMatchObject({
      status: "FAILURE",
      summary: expect.stringContaining('secret input "password" could not be decrypted'),
    });
    expect(written.join("\n")).toContain("r_secret");
    const everywhere = [...h.logs, JSON.stringify(h.emulator.state.calls), JSON.stringify(await h.ledger.listDeadLetters()), ...written].join("\n");
    expect(everywhere).not.toContain(clear);
  });

  test("an entity write filed under a secret (its identifier or blueprint) fails the handler naming the field; text elsewhere is redacted", async () => {
    const clear = "Zq9xW7vB-Kp3mN8rT";
    h = await createHarness({
      env: { PORT_CLIENT_SECRET: SECRET },
      handlers: {
        runs: {
          deploy: async (run) => {
            await run.upsertEntity("service", { identifier: "svc", relations: { owner: `team-${String(run.inputs.password)}` } });
            await run.upsertEntities("service", [{ identifier: "ok" }, { identifier: `svc-${String(run.inputs.password)}` }]);
          },
        },
      },
    });
    const message = runMessage("r_secret_identifier", "deploy", { inputs: { password: encrypt(clear) } });
    message.payload = { ...message.payload, censoredProperties: ["password"] } as typeof message.payload;
    await h.post("/sink/runs", body(message));
    await h.waitForTerminal(["r_secret_identifier"]);
    expect(h.emulator.state.runs.get("r_secret_identifier")).toMatchObject({
      status: "FAILURE",
      summary: 'Handler for "deploy" failed: upsertEntities: entities.1.identifier: holds the value of a secret input, which portside never sends to Port',
    });
    // The first write went, its relation redacted (Port may refuse it: it names no entity); the bulk write did not.
    const entityCalls = h.emulator.state.calls.filter((c) => c.runId === "r_secret_identifier" && c.endpoint !== "patchRun" && c.endpoint !== "postLog");
    expect(JSON.stringify(entityCalls.map((c) => c.body))).toBe('[{"identifier":"svc","relations":{"owner":"team-[secret input password]"}}]');
  });
});
