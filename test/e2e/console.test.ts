import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { runCli } from "../../src/entry/cli.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { chromiumPath } from "../support/chromium.ts";
import { ORG, runMessage } from "../support/harness.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";

/**
 * The operator console in a real browser (headless Chromium driven by playwright-core) against portside as
 * a real process: sign in with ADMIN_TOKEN, find the failed run and read why it failed, open the parked
 * change, replay it once its handler is fixed, and see it succeed. `UPDATE_SCREENSHOTS=1` refreshes the
 * README's picture (connectors/observability/console.png).
 */
const ADMIN = "console-admin-token-0123456789";
const SINK = "console-sink-token-0123456789";
const dir = mkdtempSync(join(tmpdir(), "portside-console-"));
const failFlag = join(dir, "change-handler-broken");
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
let portside: PortsideProcess;
let browser: Browser;

beforeAll(async () => {
  writeFileSync(failFlag, "until the fix is in");
  portside = await startPortside(
    emulatorEnv(emulatorServer.port, ORG, SINK, {
      ADMIN_TOKEN: ADMIN,
      HANDLERS: "test/support/console-handlers.ts",
      CONSOLE_FAIL_FLAG: failFlag,
      LEDGER: `sqlite:${join(dir, "ledger.sqlite")}`,
    }),
  );
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ["--no-sandbox"] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await portside?.stop();
  emulatorServer.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

/** Posts like a connector; says the request id portside gave the request. */
async function post(path: string, body: string): Promise<string> {
  const res = await fetch(`${portside.url}${path}`, { method: "POST", body, headers: { authorization: `Bearer ${SINK}` } });
  expect(res.status).toBe(200);
  return res.headers.get("x-request-id") ?? "";
}
let runsRequestId = "";

async function stats(): Promise<{ ledger: { deadLetters: number } }> {
  return (await (await fetch(`${portside.url}/admin/stats`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { ledger: { deadLetters: number } };
}

test("sign in, find the failed run and its reason, replay the parked change, see it succeed", async () => {
  for (const id of ["r_console_ok", "r_console_broken"]) emulator.state.declareRun(id);
  runsRequestId = await post(
    "/sink/runs",
    [runMessage("r_console_ok", "deploy"), runMessage("r_console_broken", "break")].map((m) => JSON.stringify(m)).join("\n"),
  );
  const change = {
    action: "UPDATE",
    resourceType: "entity",
    status: "SUCCESS",
    trigger: { by: { orgId: ORG, userId: "u@clients" }, origin: "API", at: new Date().toISOString() },
    context: { entity: "checkout", blueprint: "microservice" },
    diff: { before: { identifier: "checkout" }, after: { identifier: "checkout", properties: { tier: 1 } } },
  };
  await post("/sink/changes", JSON.stringify(change));
  const deadline = Date.now() + 20_000;
  while ((!emulator.state.terminalStatus("r_console_broken") || (await stats()).ledger.deadLetters < 1) && Date.now() < deadline) await Bun.sleep(50);
  expect(emulator.state.terminalStatus("r_console_broken")).toBe("FAILURE");

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Signed out: the sign-in form, and a wrong token is refused.
  await page.goto(`${portside.url}/console`);
  await page.fill("input[name=token]", "not-the-token-0123456789");
  await page.click("button[type=submit]");
  expect(await page.textContent("[role=alert]")).toBe("That is not this portside's ADMIN_TOKEN.");
  await page.fill("input[name=token]", ADMIN);
  await page.click("button[type=submit]");
  await page.waitForSelector("#runs");

  // The failed run, found by the status filter, and why it failed.
  await page.selectOption("select[name=status]", "FAILURE");
  await page.selectOption("select[name=since]", "15m");
  await page.click("text=Filter");
  const rows = page.locator("#runs tbody tr");
  expect(await rows.count()).toBe(1);
  // Where it came from: the sink.
  expect(await rows.first().locator("td.way-in").textContent()).toBe("sink/runs");
  await page.click("text=r_console_broken");
  expect(await page.textContent("#run-status")).toBe("FAILURE");
  expect(await page.textContent("#run-summary")).toContain("the disk is full");
  expect(await page.textContent("main")).toContain("status delivered");
  // The sink request that brought it.
  expect(await page.textContent("#request-id")).toBe(runsRequestId);

  // The parked change: its reason, then replayed once the handler is fixed.
  await page.goto(`${portside.url}/console`);
  await page.click("#dead-letters tbody a");
  expect(await page.textContent("#reason")).toContain("the change handler is not fixed yet");
  rmSync(failFlag);
  await page.click("text=Replay…");
  await page.click("text=Yes, replay");
  expect(await page.textContent("[role=status]")).toMatch(/^Dead letter \d+ replayed: 1 accepted, 0 duplicate, 0 parked; removed\.$/);
  expect(await page.textContent("#dead-letters")).toContain("Nothing is parked.");
  expect((await stats()).ledger.deadLetters).toBe(0);

  await page.goto(`${portside.url}/console`);
  const picture = process.env.UPDATE_SCREENSHOTS ? new URL("../../connectors/observability/console.png", import.meta.url).pathname : join(dir, "console.png");
  await page.screenshot({ path: picture, fullPage: true });
  await page.close();
}, 120_000);

test("the console and its actions answer nothing without the token", async () => {
  for (const [method, path] of [
    ["GET", "/console"],
    ["GET", "/console/runs/r_console_ok"],
    ["POST", "/console/dead-letters/1/delete"],
  ] as const) {
    const res = await fetch(`${portside.url}${path}`, { method, redirect: "manual" });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('action="/console/login"');
  }
});

test("the CLI reads the same runs: list by status, one run's story", async () => {
  const env = { PORTSIDE_URL: portside.url, ADMIN_TOKEN: ADMIN };
  const lines: string[] = [];
  expect(await runCli(["runs", "list", "--status", "FAILURE"], env, (l) => lines.push(l))).toBe(0);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("r_console_broken  break");
  expect(lines[0]).toContain('FAILURE   attempts 1  Handler for "break" failed: the disk is full');
  const story: string[] = [];
  expect(await runCli(["runs", "show", "r_console_ok"], env, (l) => story.push(l))).toBe(0);
  const run = JSON.parse(story.join("\n")) as { phase: string; source: string; events: { what: string; detail: string }[] };
  expect(run.phase).toBe("SUCCESS");
  expect(run.source).toBe("sink/runs");
  // Its log line reached Port before its status.
  expect(run.events.map((e) => `${e.what} ${e.detail}`)).toEqual([
    `received from sink/runs, request ${runsRequestId}`,
    "started attempt 1",
    "ended SUCCESS: deployed r_console_ok",
    "port logs delivered",
    "log deploying",
    "port status delivered",
  ]);
  const unknown: string[] = [];
  expect(await runCli(["runs", "show", "r_nobody"], env, (l) => unknown.push(l))).toBe(1);
  expect(unknown).toEqual(["error 404: No run has this id in the ledger (finished runs are kept for RETENTION_HOURS)."]);
});
