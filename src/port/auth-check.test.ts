import { describe, expect, test } from "bun:test";
import { createPortAuth, PortAuthEvents } from "./auth-check.ts";
import type { PortLogger } from "./deps.ts";
import { PortApiError, PortNetworkError } from "./errors.ts";

/**
 * The Port credentials check: a first answer for the start (a token, refused credentials, or still
 * waiting), background attempts with backoff until Port issues a token, readiness that names Port auth.
 */
const tokenPath = { method: "POST", path: "/v1/auth/access_token" };
const refused = (status: number) => new PortApiError({ ...tokenPath, status, code: "unauthorized", portMessage: "Invalid clientId or clientSecret" });
const unreachable = () => new PortNetworkError({ ...tokenPath, message: "Port could not be reached: connection refused" });

function recordingLogger() {
  const lines: Array<{ level: string; event: string; fields: Record<string, unknown> | undefined }> = [];
  const at =
    (level: string) =>
    (event: string, fields?: Record<string, unknown>): void => {
      lines.push({ level, event, fields });
    };
  const logger: PortLogger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { logger, lines };
}

/** `authenticate` answering from a script: one outcome per call, the last repeated. */
function scripted(outcomes: Array<"ok" | Error>) {
  let calls = 0;
  return {
    calls: () => calls,
    async authenticate() {
      const outcome = outcomes[Math.min(calls, outcomes.length - 1)];
      calls++;
      if (outcome !== "ok") throw outcome;
    },
  };
}

const fast = { initialMs: 5, maxMs: 20 };

async function until(check: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

describe("createPortAuth", () => {
  test("unchecked until begun: readiness ignores it", () => {
    const { logger } = recordingLogger();
    const auth = createPortAuth({ authenticate: scripted(["ok"]).authenticate, clock: () => 1_000, logger });
    expect(auth.state()).toEqual({ status: "unchecked" });
    expect(auth.notReady()).toBeNull();
  });

  test("a token at once: ok, ready, nothing logged", async () => {
    const { logger, lines } = recordingLogger();
    const port = scripted(["ok"]);
    const auth = createPortAuth({ authenticate: port.authenticate, clock: () => 1_000, logger, retry: fast });
    expect(await auth.begin(1_000)).toEqual({ type: "ok" });
    expect(auth.state()).toEqual({ status: "ok", since: 1_000 });
    expect(auth.notReady()).toBeNull();
    expect(port.calls()).toBe(1);
    expect(lines).toEqual([]);
  });

  test("credentials Port refuses (401): refused, for the caller to report (not logged), and not ready naming the credentials", async () => {
    const { logger, lines } = recordingLogger();
    const port = scripted([refused(401)]);
    const auth = createPortAuth({ authenticate: port.authenticate, clock: () => 5_000, logger, retry: fast });
    expect(await auth.begin(1_000)).toEqual({ type: "refused", status: 401, code: "unauthorized" });
    auth.stop();
    expect(auth.state()).toEqual({ status: "refused", since: 5_000, attempts: 1, lastError: "Port answered 401 unauthorized" });
    expect(auth.notReady()).toBe("port auth: Port refuses PORT_CLIENT_ID/PORT_CLIENT_SECRET (Port answered 401 unauthorized)");
    // Port's own words may quote what was sent: they are in no state and no line.
    expect(JSON.stringify(auth.state())).not.toContain("Invalid clientId");
    expect(lines).toEqual([]);
  });

  test("403 is a refusal too", async () => {
    const { logger } = recordingLogger();
    const auth = createPortAuth({ authenticate: scripted([refused(403)]).authenticate, clock: () => 0, logger, retry: fast });
    expect(await auth.begin(1_000)).toEqual({ type: "refused", status: 403, code: "unauthorized" });
    auth.stop();
  });

  test("Port unreachable, then answering: waiting (not ready, naming Port auth) through the retries, then ok and ready", async () => {
    const { logger, lines } = recordingLogger();
    const port = scripted([unreachable(), unreachable(), unreachable(), "ok"]);
    const auth = createPortAuth({ authenticate: port.authenticate, clock: () => 7_000, logger, retry: fast });
    expect(await auth.begin(1_000)).toEqual({ type: "waiting", reason: "Port could not be reached: connection refused" });
    expect(auth.state()).toMatchObject({ status: "waiting", since: 7_000, attempts: 1, lastError: "Port could not be reached: connection refused" });
    expect(auth.notReady()).toBe("port auth: no access token from Port yet (Port could not be reached: connection refused); trying again");

    await until(() => auth.state().status === "ok", "a token");
    expect(port.calls()).toBe(4);
    expect(auth.notReady()).toBeNull();
    expect(lines).toEqual([{ level: "info", event: PortAuthEvents.ok, fields: { attempts: 4 } }]);
  });

  test("Port answering 5xx is waiting, not refused", async () => {
    const { logger } = recordingLogger();
    const auth = createPortAuth({ authenticate: scripted([refused(503)]).authenticate, clock: () => 0, logger, retry: fast });
    expect(await auth.begin(1_000)).toEqual({ type: "waiting", reason: "Port answered 503 unauthorized" });
    auth.stop();
  });

  test("Port slow: begin resolves waiting once waitMs passed, and the attempt goes on", async () => {
    const { logger } = recordingLogger();
    let answer: (() => void) | undefined;
    const auth = createPortAuth({
      authenticate: () => new Promise<void>((resolve) => (answer = resolve)),
      clock: () => 0,
      logger,
      retry: fast,
    });
    expect(await auth.begin(30)).toEqual({ type: "waiting", reason: "no answer within 30 ms" });
    expect(auth.state()).toEqual({ status: "waiting", since: 0, attempts: 0, lastError: null });
    expect(auth.notReady()).toBe("port auth: no access token from Port yet (asking); trying again");
    answer?.();
    await until(() => auth.state().status === "ok", "the slow token");
  });

  test("a refusal after the start stopped waiting is logged once, without Port's words", async () => {
    const { logger, lines } = recordingLogger();
    const port = scripted([unreachable(), refused(401)]);
    const auth = createPortAuth({ authenticate: port.authenticate, clock: () => 0, logger, retry: fast });
    expect((await auth.begin(1_000)).type).toBe("waiting");
    await until(() => port.calls() >= 4, "more attempts");
    auth.stop();
    expect(auth.state()).toMatchObject({ status: "refused", lastError: "Port answered 401 unauthorized" });
    expect(lines).toEqual([{ level: "error", event: PortAuthEvents.refused, fields: { status: 401, error: "Port answered 401 unauthorized" } }]);
  });

  test("stop ends the background attempts", async () => {
    const { logger } = recordingLogger();
    const port = scripted([unreachable()]);
    const auth = createPortAuth({ authenticate: port.authenticate, clock: () => 0, logger, retry: { initialMs: 10_000, maxMs: 10_000 } });
    expect((await auth.begin(1_000)).type).toBe("waiting");
    // Stopped in the middle of a 10 s pause: no attempt follows.
    auth.stop();
    await Bun.sleep(50);
    expect(port.calls()).toBe(1);
    expect(auth.state()).toMatchObject({ status: "waiting", attempts: 1 });
  });

  test("the waits between attempts double up to maxMs", async () => {
    const { logger } = recordingLogger();
    const at: number[] = [];
    const auth = createPortAuth({
      authenticate: async () => {
        at.push(performance.now());
        throw unreachable();
      },
      clock: () => 0,
      logger,
      retry: { initialMs: 20, maxMs: 80 },
    });
    await auth.begin(1_000);
    await until(() => at.length >= 6, "six attempts");
    auth.stop();
    const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
    // 20, 40, 80, 80, 80 ms (timers may fire a little late, never early).
    for (const [i, least] of [20, 40, 80, 80, 80].entries()) expect(gaps[i] as number).toBeGreaterThanOrEqual(least - 2);
    expect(gaps[4] as number).toBeLessThan(160);
  });
});
