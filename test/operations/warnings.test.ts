import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEventBridgeServer } from "../support/eventbridge-server.ts";
import { runMessage } from "../support/harness.ts";
import { startPortside, type PortsideProcess } from "../support/portside-process.ts";

/**
 * The console's "recent warnings and errors" hear every part of portside, not only the pipeline: here
 * start-up (no Port credentials: the emulator) and the EventBridge target (PutEvents failing).
 */
const ADMIN = "warnings-admin-token-0123456789";
const dir = mkdtempSync(join(tmpdir(), "portside-warnings-"));
const eventBridge = startEventBridgeServer();
let portside: PortsideProcess | undefined;
afterAll(async () => {
  await portside?.crash();
  eventBridge.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("warnings from start-up and from the EventBridge target reach the console's health panel", async () => {
  const routes = join(dir, "routes.json");
  writeFileSync(routes, JSON.stringify({ defaults: { bus: "portside-test" }, runs: { create_vm: {} } }));
  eventBridge.failNextCalls(1_000, 500);
  const started = await startPortside({
    ORG_ID: "org_warnings",
    PORTSIDE_OPEN: "true",
    ADMIN_TOKEN: ADMIN,
    LEDGER: "memory",
    ROUTES: routes,
    AWS_REGION: "eu-west-1",
    AWS_ACCESS_KEY_ID: "AKIDPORTSIDETEST",
    AWS_SECRET_ACCESS_KEY: "portside-test-secret",
    EVENTBRIDGE_ENDPOINT: eventBridge.url,
    // Quiet output: the panel is fed whatever the log level lets through.
    LOG_LEVEL: "error",
  });
  portside = started;
  const res = await fetch(`${started.url}/sink/runs`, { method: "POST", body: JSON.stringify(runMessage("r_warn", "create_vm", { orgId: "org_warnings" })) });
  expect(res.status).toBe(200);

  const panel = async () => {
    const page = await (await fetch(`${started.url}/console`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    return page.slice(page.indexOf('id="health"'));
  };
  const deadline = Date.now() + 20_000;
  while (!(await panel()).includes("eventbridge.retrying") && Date.now() < deadline) await Bun.sleep(100);
  const health = await panel();
  expect(health).toContain("eventbridge.retrying");
  expect(health).toContain("portside.port_emulator");
}, 60_000);
