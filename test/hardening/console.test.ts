import { afterEach, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, createHarness, type Harness } from "../support/harness.ts";

/**
 * The console's sign-in behind a TLS proxy, in process: the proxy's `X-Forwarded-Proto` and
 * `X-Forwarded-Host` say which origin the browser sees, so the session cookie is Secure there and the
 * Origin check compares against that origin; over plain http to another host, signing in is refused with
 * the reason (a browser would drop the Secure cookie without a word). Started open, the cookie is Secure
 * only over HTTPS.
 */
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const signIn = (harness: Harness, url: string, headers: Record<string, string>) =>
  harness.service.app.request(url, { method: "POST", body: new URLSearchParams({ token: ADMIN_TOKEN }), headers });

const behindProxy = { "x-forwarded-proto": "https", "x-forwarded-host": "portside.example.com", host: "10.0.0.5:3000" };

describe("console sign-in behind a TLS proxy", () => {
  test("the session cookie is Secure, HttpOnly, SameSite=Strict, for /console, with a lifetime", async () => {
    h = await createHarness({ env: { CONSOLE_SESSION_HOURS: "3" } });
    const res = await signIn(h, "http://10.0.0.5:3000/console/login", { ...behindProxy, origin: "https://portside.example.com" });
    expect(res.status).toBe(303);
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toStartWith("portside_session=");
    for (const flag of ["Max-Age=10800", "Path=/console", "HttpOnly", "Secure", "SameSite=Strict"]) expect(cookie).toContain(flag);
    expect(cookie).not.toContain(ADMIN_TOKEN);
  });

  test("a post whose Origin is another site is refused, though the proxy's headers are right", async () => {
    h = await createHarness();
    const res = await signIn(h, "http://10.0.0.5:3000/console/login", { ...behindProxy, origin: "https://evil.example.com" });
    expect(res.status).toBe(403);
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  test("over plain http to another host, signing in is refused, saying why", async () => {
    h = await createHarness();
    const res = await signIn(h, "http://portside.internal:3000/console/login", { host: "portside.internal:3000", origin: "http://portside.internal:3000" });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("Sign in over HTTPS: the session cookie is Secure");
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  test("started open for local use: Secure only when the browser came over HTTPS", async () => {
    h = await createHarness({ env: { PORTSIDE_OPEN: "true" } });
    const local = await signIn(h, "http://127.0.0.1:3000/console/login", { host: "127.0.0.1:3000", origin: "http://127.0.0.1:3000" });
    expect(local.status).toBe(303);
    expect(local.headers.get("set-cookie")).not.toContain("Secure");
    const proxied = await signIn(h, "http://10.0.0.5:3000/console/login", { ...behindProxy, origin: "https://portside.example.com" });
    expect(proxied.headers.get("set-cookie")).toContain("Secure");
  });
});
