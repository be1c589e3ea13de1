import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Browser, chromium } from "playwright-core";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { chromiumPath } from "../support/chromium.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";

/**
 * The console's "send a run" form, in a real browser (headless Chromium driven by playwright-core) against
 * portside as a real process started open without Port credentials (`npm start -- --open`: the Port emulator
 * stands in): choose an action, give its inputs and entity, send, land on the run's page showing how it
 * ended. The form is not there outside that mode, and a post from another site is refused as every console
 * form's is.
 */
let open: PortsideProcess;
let browser: Browser;

beforeAll(async () => {
  open = await startPortside({ PORTSIDE_OPEN: "true", HANDLERS: "src/examples/handlers.ts", LEDGER: "memory" });
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ["--no-sandbox"] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await open?.stop();
});

test("open mode with the Port emulator: the form sends a run and lands on its page, SUCCESS", async () => {
  const page = await browser.newPage();
  await page.goto(`${open.url}/console`);
  await page.click("#send-a-run");
  expect(await page.textContent("h1")).toBe("Send a run");
  expect(await page.locator("select[name=action] option").allTextContents()).toEqual(["deploy", "check_health", "create_vm"]);

  // Inputs that are not JSON: said, nothing sent.
  await page.selectOption("select[name=action]", "deploy");
  await page.fill("textarea[name=inputs]", '{"version": hunter2}');
  await page.click("form[action='/console/send'] button[type=submit]");
  expect(await page.textContent("[role=alert]")).toBe('The inputs are not valid JSON: give an object, e.g. {"version": "1.2.3"}.');
  expect(((await (await fetch(`${open.url}/admin/runs`)).json()) as { items: unknown[] }).items).toEqual([]);

  await page.fill("textarea[name=inputs]", '{"version": "1.2.3", "environment": "production"}');
  await page.fill("input[name=entity]", "checkout");
  await page.click("form[action='/console/send'] button[type=submit]");
  await page.waitForURL(/\/console\/runs\/r_[0-9a-f]{16}$/);
  expect(await page.textContent("#run-status")).toBe("SUCCESS");
  expect(await page.textContent("#run-summary")).toBe("Deployed checkout 1.2.3 to production");
  expect(await page.textContent("main")).toContain("from console");
  await page.close();
}, 60_000);

test("a post from another site is refused, and sends nothing", async () => {
  const before = ((await (await fetch(`${open.url}/admin/runs`)).json()) as { items: unknown[] }).items.length;
  const res = await fetch(`${open.url}/console/send`, {
    method: "POST",
    headers: { origin: "https://elsewhere.example", "content-type": "application/x-www-form-urlencoded" },
    body: "action=deploy&inputs=%7B%22version%22%3A%221%22%7D&entity=checkout",
  });
  expect(res.status).toBe(403);
  expect(((await (await fetch(`${open.url}/admin/runs`)).json()) as { items: unknown[] }).items).toHaveLength(before);
}, 30_000);

test("outside open mode, or open with Port credentials, there is no form", async () => {
  const ADMIN = "console-send-admin-token-0123456789";
  const emulator = createPortEmulator({});
  const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  const headers = { authorization: `Bearer ${ADMIN}` };
  try {
    for (const extra of [{}, { PORTSIDE_OPEN: "true" }] as Record<string, string>[]) {
      const portside = await startPortside(
        emulatorEnv(emulatorServer.port, "org_console_send", "console-send-sink-token-0123456789", { ADMIN_TOKEN: ADMIN, LEDGER: "memory", ...extra }),
      );
      try {
        const home = await fetch(`${portside.url}/console`, { headers });
        expect(home.status).toBe(200);
        expect(await home.text()).not.toContain("/console/send");
        expect((await fetch(`${portside.url}/console/send`, { headers })).status).toBe(404);
      } finally {
        await portside.stop();
      }
    }
  } finally {
    emulatorServer.stop(true);
  }
}, 60_000);
