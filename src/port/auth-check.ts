import * as v from "valibot";
import type { PortLogger } from "./deps.ts";
import { PortApiError } from "./errors.ts";
import { describeError } from "../shared/errors.ts";

/**
 * Whether Port has given portside an access token: what the start checks before portside says it is ready.
 * `begin` asks for a token at once (the client's token cache keeps it for the calls that follow). Port
 * refusing the credentials (401/403) is the caller's to turn into a failed start; anything else (Port
 * unreachable, slow, answering 5xx) leaves portside up but not ready — `/readyz` answers 503 naming Port auth
 * — and the token is asked for again in the background, backing off, until Port issues one.
 *
 * A service whose start asks for no check (tests, AWS Lambda) stays `unchecked`, which readiness ignores.
 * Web standards only: the same on Bun and Deno.
 */
export const PortAuthStateSchema = v.variant("status", [
  v.object({ status: v.literal("unchecked") }),
  v.object({
    status: v.literal("waiting"),
    /** Since when portside has been waiting for a token (epoch ms). */
    since: v.number(),
    attempts: v.number(),
    /** What the last attempt met; null while the first is under way. */
    lastError: v.nullable(v.string()),
  }),
  v.object({ status: v.literal("refused"), since: v.number(), attempts: v.number(), lastError: v.string() }),
  v.object({ status: v.literal("ok"), since: v.number() }),
]);
export type PortAuthState = v.InferOutput<typeof PortAuthStateSchema>;

/** How the first attempt went: a token, credentials Port refused, or still waiting (Port away, or slow). */
export type FirstAuthCheck = { type: "ok" } | { type: "refused"; status: number; code: string | undefined } | { type: "waiting"; reason: string };

export interface PortAuth {
  state(): PortAuthState;
  /** Why readiness fails for Port auth (`port auth: …`); null when it does not. */
  notReady(): string | null;
  /**
   * Asks for a token now, and in the background until one is issued. Resolves with the first attempt's
   * outcome, or `waiting` once `waitMs` passed without one (the attempt goes on).
   */
  begin(waitMs: number): Promise<FirstAuthCheck>;
  /** Ends the background attempts. */
  stop(): void;
}

export interface PortAuthOptions {
  /** Fetches a token (the client's `authenticate`): resolves once Port issued one. */
  authenticate(): Promise<void>;
  clock: () => number;
  logger: PortLogger;
  /** Waits between background attempts: from `initialMs`, doubling, at most `maxMs` (default 500 ms to 10 s). */
  retry?: { initialMs: number; maxMs: number };
}

/** Log events of the check. */
export const PortAuthEvents = {
  waiting: "port.auth_waiting",
  refused: "port.auth_refused",
  ok: "port.auth_ok",
} as const;

export function createPortAuth(opts: PortAuthOptions): PortAuth {
  const { clock, logger } = opts;
  const retry = opts.retry ?? { initialMs: 500, maxMs: 10_000 };
  let state: PortAuthState = { status: "unchecked" };
  let stopped = false;
  let wake: (() => void) | undefined;
  /** `begin`'s caller still waits for the first outcome: a refusal is its to report (the start's one line), not logged here. */
  let callerWaits = false;

  /** One attempt; the state says how it went. */
  async function attempt(): Promise<FirstAuthCheck> {
    const attempts = state.status === "waiting" || state.status === "refused" ? state.attempts + 1 : 1;
    const since = state.status === "waiting" || state.status === "refused" ? state.since : clock();
    try {
      await opts.authenticate();
      if (state.status !== "waiting" || state.attempts > 0) logger.info(PortAuthEvents.ok, { attempts });
      state = { status: "ok", since: clock() };
      return { type: "ok" };
    } catch (error) {
      const lastError = brief(error);
      if (error instanceof PortApiError && error.isAuthProblem) {
        if (state.status !== "refused" && !callerWaits) logger.error(PortAuthEvents.refused, { status: error.status, error: lastError });
        state = { status: "refused", since, attempts, lastError };
        return { type: "refused", status: error.status, code: error.code };
      }
      state = { status: "waiting", since, attempts, lastError };
      return { type: "waiting", reason: lastError };
    }
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      wake = () => {
        clearTimeout(timer);
        done();
      };
      function done() {
        wake = undefined;
        resolve();
      }
    });
  }

  return {
    state: () => state,
    notReady() {
      if (state.status === "waiting") return `port auth: no access token from Port yet (${state.lastError ?? "asking"}); trying again`;
      if (state.status === "refused") return `port auth: Port refuses PORT_CLIENT_ID/PORT_CLIENT_SECRET (${state.lastError})`;
      return null;
    },
    begin(waitMs) {
      state = { status: "waiting", since: clock(), attempts: 0, lastError: null };
      callerWaits = true;
      let first: ((outcome: FirstAuthCheck) => void) | undefined;
      const firstOutcome = new Promise<FirstAuthCheck>((resolve) => {
        first = resolve;
      });
      void (async () => {
        for (let delayMs = retry.initialMs; !stopped; delayMs = Math.min(delayMs * 2, retry.maxMs)) {
          const outcome = await attempt();
          first?.(outcome);
          first = undefined;
          if (outcome.type === "ok" || stopped) return;
          await pause(delayMs);
        }
      })();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<FirstAuthCheck>((resolve) => {
        timer = setTimeout(() => resolve({ type: "waiting", reason: `no answer within ${waitMs} ms` }), waitMs);
      });
      return Promise.race([firstOutcome, late]).finally(() => {
        clearTimeout(timer);
        callerWaits = false;
      });
    },
    stop() {
      stopped = true;
      wake?.();
    },
  };
}

/**
 * What to say when Port's token endpoint refuses the credentials (the start's line, `actions pull/check`):
 * Port's answer in brief and what to check, never the id or the secret.
 */
export function credentialsRefused(status: number, code: string | undefined): string {
  return `Port refused the credentials (${status}${code ? ` ${code}` : ""}): check PORT_CLIENT_ID and PORT_CLIENT_SECRET (Port → Credentials) and PORT_API_URL (the region)`;
}

/** What an attempt met, in words that never carry Port's own message (it could quote what was sent). */
function brief(error: unknown): string {
  if (error instanceof PortApiError) return `Port answered ${error.status}${error.code ? ` ${error.code}` : ""}`;
  return describeError(error);
}
