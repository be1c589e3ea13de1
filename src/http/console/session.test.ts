import { describe, expect, test } from "bun:test";
import { Secret } from "../../shared/secret.ts";
import { createSignInThrottle } from "./guards.ts";
import { createConsoleSessions } from "./session.ts";

const TOKEN = new Secret("console-admin-token-0123456789");
const HOUR = 3600_000;

describe("console sessions", () => {
  test("a session is valid until it expires, and holds nothing of the token", async () => {
    let now = 1_000_000;
    const sessions = createConsoleSessions(TOKEN, 2 * HOUR, () => now);
    const value = await sessions.issue();
    expect(value).not.toContain(TOKEN.reveal());
    expect(await sessions.valid(value)).toBe(true);
    now += 2 * HOUR - 1;
    expect(await sessions.valid(value)).toBe(true);
    now += 1;
    expect(await sessions.valid(value)).toBe(false);
  });

  test("a changed signature, expiry or nonce, another token, or anything else is not a session", async () => {
    const sessions = createConsoleSessions(TOKEN, HOUR);
    const value = await sessions.issue();
    const [expires, nonce, mac] = value.split(".") as [string, string, string];
    const later = (Number.parseInt(expires, 36) + 1000).toString(36);
    for (const forged of [
      `${later}.${nonce}.${mac}`,
      `${expires}.${nonce}x.${mac}`,
      `${expires}.${nonce}.${mac.slice(1)}A`,
      TOKEN.reveal(),
      "",
      "a.b.c",
      `${value}.x`,
    ]) {
      expect(await sessions.valid(forged)).toBe(false);
    }
    expect(await createConsoleSessions(new Secret("another-admin-token-0123456789"), HOUR).valid(value)).toBe(false);
    // A value signed for longer than this process grants (the lifetime was shortened since) is not taken either.
    expect(await createConsoleSessions(TOKEN, HOUR / 2).valid(value)).toBe(false);
  });

  test("ending a session ends that one only", async () => {
    const sessions = createConsoleSessions(TOKEN, HOUR);
    const [a, b] = [await sessions.issue(), await sessions.issue()];
    await sessions.end(a);
    expect(await sessions.valid(a)).toBe(false);
    expect(await sessions.valid(b)).toBe(true);
  });
});

describe("the sign-in throttle", () => {
  test("after 5 failures within a minute every attempt waits until the oldest is a minute old", () => {
    let now = 0;
    const throttle = createSignInThrottle({ clock: () => now });
    for (let i = 0; i < 5; i++) {
      expect(throttle.wait()).toBe(0);
      throttle.failed();
      now += 1_000;
    }
    expect(throttle.wait()).toBe(55_000);
    now = 60_000;
    expect(throttle.wait()).toBe(0);
  });
});
