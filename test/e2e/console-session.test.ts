import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Browser, type BrowserContext, chromium } from "playwright-core";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { chromiumPath } from "../support/chromium.ts";
import { ORG } from "../support/harness.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";

/**
 * The console's session in headless Chromium against portside as a real process: signing in gives an opaque
 * session cookie (HttpOnly, Secure, SameSite=Strict, with an expiry) that is not ADMIN_TOKEN and opens
 * neither /admin nor /metrics; a page on another origin can neither frame the console (CSP frame-ancestors)
 * nor post to it — not even from the same site (another port of 127.0.0.1, where SameSite=Strict cookies
 * still go); sign-in attempts are throttled.
 */
const ADMIN = "session-admin-token-0123456789";
const SINK = "session-sink-token-0123456789";
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
let portside: PortsideProcess;
let browser: Browser;
/** Another origin on the same site (127.0.0.1, another port): what an attacker's page would be. */
let other: ReturnType<typeof Bun.serve>;
let deadLetterId = "";

const adminJson = async (path: string) => (await fetch(`${portside.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();

beforeAll(async () => {
  portside = await startPortside(emulatorEnv(emulatorServer.port, ORG, SINK, { ADMIN_TOKEN: ADMIN, LEDGER: "memory", CONSOLE_SESSION_HOURS: "2" }));
  const page = (body: string) => new Response(`<!doctype html><html><body>${body}</body></html>`, { headers: { "content-type": "text/html" } });
  other = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/frame") return page(`<iframe id="console" src="${portside.url}/console" width="800" height="600"></iframe>`);
      if (path === "/delete")
        return page(
          `<form method="post" action="${portside.url}/console/dead-letters/${deadLetterId}/delete"></form><script>document.forms[0].submit()</script>`,
        );
      if (path === "/login")
        return page(
          `<form method="post" action="${portside.url}/console/login"><input name="token" value="${ADMIN}"></form><script>document.forms[0].submit()</script>`,
        );
      return new Response("not found", { status: 404 });
    },
  });
  // A parked record to try deleting.
  await fetch(`${portside.url}/sink/runs`, { method: "POST", body: "{not json", headers: { authorization: `Bearer ${SINK}` } });
  deadLetterId = ((await adminJson("/admin/dead-letters")) as { items: { id: string }[] }).items[0]?.id ?? "";
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ["--no-sandbox"] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await portside?.stop();
  other?.stop(true);
  emulatorServer.stop(true);
});

async function signedIn(): Promise<BrowserContext> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${portside.url}/console`);
  await page.fill("input[name=token]", ADMIN);
  await page.click("button[type=submit]");
  await page.waitForSelector("#dead-letters");
  await page.close();
  return context;
}

test("signing in gives an opaque, expiring session cookie: HttpOnly, Secure, SameSite=Strict; it opens neither /admin nor /metrics", async () => {
  const context = await signedIn();
  const cookies = await context.cookies(`${portside.url}/console`);
  const session = cookies.find((c) => c.path === "/console" && c.httpOnly);
  expect(session).toBeDefined();
  if (!session) return;
  expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict", path: "/console" });
  const nowS = Date.now() / 1000;
  expect(session.expires).toBeGreaterThan(nowS + 2 * 3600 - 120);
  expect(session.expires).toBeLessThanOrEqual(nowS + 2 * 3600 + 5);
  expect(session.value).not.toContain(ADMIN);
  expect(session.value).not.toContain(encodeURIComponent(ADMIN));

  // The session is the console's only: as a bearer token it opens nothing else.
  for (const path of ["/admin/stats", "/metrics"])
    expect((await fetch(`${portside.url}${path}`, { headers: { authorization: `Bearer ${session.value}` } })).status).toBe(401);
  // And the token itself is no session.
  const withToken = await fetch(`${portside.url}/console`, { headers: { cookie: `${session.name}=${ADMIN}` } });
  expect(withToken.status).toBe(401);
  const withSession = await fetch(`${portside.url}/console`, { headers: { cookie: `${session.name}=${session.value}` } });
  expect(withSession.status).toBe(200);

  // The policy lets the console's own stylesheet in.
  const page = await context.newPage();
  await page.goto(`${portside.url}/console`);
  expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe("rgb(246, 247, 249)");

  // Signing out ends it.
  const out = await fetch(`${portside.url}/console/logout`, {
    method: "POST",
    headers: { cookie: `${session.name}=${session.value}`, origin: portside.url },
    redirect: "manual",
  });
  expect(out.status).toBe(303);
  expect((await fetch(`${portside.url}/console`, { headers: { cookie: `${session.name}=${session.value}` } })).status).toBe(401);
  await context.close();
});

test("a page on another origin cannot frame the console: CSP frame-ancestors 'none'", async () => {
  const res = await fetch(`${portside.url}/console`);
  expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  const context = await signedIn();
  const page = await context.newPage();
  const refusals: string[] = [];
  page.on("console", (message) => {
    if (message.text().includes("frame-ancestors")) refusals.push(message.text());
  });
  await page.goto(`${other.url}frame`);
  await page.waitForTimeout(500);
  const frame = page.frames().find((f) => f !== page.mainFrame());
  expect(await frame?.$("#dead-letters")).toBeNull();
  expect(await frame?.$("input[name=token]")).toBeNull();
  expect(refusals.join("\n")).toContain("frame-ancestors 'none'");
  await context.close();
});

test("a signed-in browser's form post from another origin is refused: nothing is deleted, nobody is signed in", async () => {
  const context = await signedIn();
  const page = await context.newPage();
  const answer = page.waitForResponse((r) => r.url().startsWith(`${portside.url}/console/dead-letters/`));
  await page.goto(`${other.url}delete`);
  const res = await answer;
  expect(res.status()).toBe(403);
  expect(await res.text()).toContain("came from another site");
  expect(((await adminJson("/admin/dead-letters")) as { items: { id: string }[] }).items.map((l) => l.id)).toEqual([deadLetterId]);

  // A cross-origin sign-in (login CSRF) is refused as well.
  const fresh = await browser.newContext();
  const login = await fresh.newPage();
  const loginAnswer = login.waitForResponse((r) => r.url() === `${portside.url}/console/login`);
  await login.goto(`${other.url}login`);
  expect((await loginAnswer).status()).toBe(403);
  expect(await fresh.cookies(`${portside.url}/console`)).toEqual([]);
  await fresh.close();
  await context.close();
});

test("sign-in attempts are throttled: after 5 wrong tokens in a minute even the right one waits", async () => {
  const attempt = (token: string) =>
    fetch(`${portside.url}/console/login`, {
      method: "POST",
      body: new URLSearchParams({ token }),
      headers: { origin: portside.url },
      redirect: "manual",
    });
  for (let i = 0; i < 5; i++) expect((await attempt(`wrong-token-${i}-0123456789`)).status).toBe(401);
  const refused = await attempt(ADMIN);
  expect(refused.status).toBe(429);
  expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(await refused.text()).toContain("Too many sign-in attempts");
});
