import { type Context, Hono, type MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { accessCheck, requireAccess, tokenCheck } from "../auth.ts";
import type { Secret } from "../../config.ts";
import type { DeadLetterSummary, Ledger } from "../../ledger/ledger.ts";
import { parseId } from "../../ledger/validate.ts";
import type { ReplayResult } from "../../pipeline/replay.ts";
import { NO_SUCH_RUN, RUN_PHASES, type RunHistory, type RunPhase } from "../../observe/run-history.ts";
import { fromBase64 } from "../../shared/base64.ts";
import { consoleHeaders, createSignInThrottle, isHttps, isLocal, sameOriginPosts } from "./guards.ts";
import { CONSOLE_STYLE, confirmPage, deadLetterPage, homePage, loginPage, notFoundPage, refusedPage, runPage } from "./pages.ts";
import { type ConsoleSessions, createConsoleSessions } from "./session.ts";
import { sendRoutes } from "./send.ts";
import type { LocalDeps } from "../admin.ts";
import type { Ingest } from "../../pipeline/ingest.ts";
import type { Status } from "../../observe/status.ts";

/**
 * The operator console at /console: runs (filtered by action and status) and one run's story, the dead
 * letters (a page at a time, without their bytes; one letter's page shows the start of its record and offers
 * the whole as a download), replay and delete behind a confirmation, and health. Behind ADMIN_TOKEN: a
 * browser signs in once with the token and gets a session (session.ts) — an HttpOnly, SameSite=Strict cookie
 * for /console only, Secure unless portside was started open for local use, expiring after
 * CONSOLE_SESSION_HOURS; a bearer header with the token works too. Every answer carries a strict content
 * security policy, every form post must come from a console page, and sign-in is throttled (guards.ts).
 * Backed by the same ledger, run history and replay as /admin. Open for local use with the Port emulator, it
 * also sends runs (send.ts).
 */
export interface ConsoleDeps {
  adminToken: Secret | null;
  /** Started open for local use: the session cookie is Secure only over HTTPS. */
  open: boolean;
  /** How long a console session lasts. */
  consoleSessionMs: number;
  ledger: Ledger;
  history: RunHistory;
  replay: (id: string) => Promise<ReplayResult>;
  status: Status;
  /** Actions with a handler or route, for the filter. */
  actions: readonly string[];
  /** Open mode: with the local Port emulator standing in for Port, the form that sends a run (send.ts). */
  local?: LocalDeps | null;
  ingest?: Ingest;
}

const COOKIE = "portside_session";
/** The cookie that held ADMIN_TOKEN itself before sessions; removed when a browser still sends it. */
const OLD_COOKIE = "portside_admin";

const NOT_HTTPS =
  "Sign in over HTTPS: the session cookie is Secure, so a browser keeps it only over HTTPS (behind a TLS proxy, which sets X-Forwarded-Proto) or from this machine (http://127.0.0.1). For a console over plain http, start portside open for local use (PORTSIDE_OPEN=true).";

/** The console's time filter: runs received in the last … */
export const SINCE_WINDOWS: Record<string, number> = { "15m": 15 * 60_000, "1h": 3600_000, "24h": 24 * 3600_000 };

export function consoleRoutes(deps: ConsoleDeps): Hono {
  const app = new Hono();
  const matches = deps.adminToken ? tokenCheck(deps.adminToken) : null;
  const sessions = deps.adminToken ? createConsoleSessions(deps.adminToken, deps.consoleSessionMs) : null;
  const throttle = createSignInThrottle();
  const secure = (c: Context) => !deps.open || isHttps(c);
  const fromElsewhere = sameOriginPosts((c) =>
    c.html(
      refusedPage(
        "This form came from another site (or from a page opened from one), so portside did not act on it. Open the console at its own address and try again.",
      ),
      403,
    ),
  );

  app.use("*", consoleHeaders());
  app.get("/style.css", (c) => c.body(CONSOLE_STYLE, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "max-age=3600" }));

  app.post("/login", fromElsewhere, async (c) => {
    if (!matches || !sessions) return c.redirect("/console", 303);
    const waitMs = throttle.wait();
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      c.header("Retry-After", String(seconds));
      return c.html(loginPage(`Too many sign-in attempts with a wrong token: try again in ${seconds} s.`), 429);
    }
    if (secure(c) && !isHttps(c) && !isLocal(c)) return c.html(loginPage(NOT_HTTPS), 400);
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = typeof form.token === "string" ? form.token : "";
    if (!(await matches(token))) {
      throttle.failed();
      return c.html(loginPage("That is not this portside's ADMIN_TOKEN."), 401);
    }
    const maxAge = Math.floor(sessions.lifetimeMs / 1000);
    setCookie(c, COOKIE, await sessions.issue(), { path: "/console", httpOnly: true, sameSite: "Strict", secure: secure(c), maxAge });
    return c.redirect("/console", 303);
  });
  app.post("/logout", fromElsewhere, async (c) => {
    const session = getCookie(c, COOKIE);
    if (session && sessions) await sessions.end(session);
    deleteCookie(c, COOKIE, { path: "/console", secure: secure(c) });
    return c.redirect("/console", 303);
  });

  app.use("*", signedIn(deps.adminToken, sessions));
  // After the sign-in check, so a post without a session is answered with the sign-in page.
  app.on("POST", "*", fromElsewhere);
  // Sending a made-up run: open mode with the Port emulator only (Port itself would refuse its reports).
  const canSend = deps.open && deps.local?.emulated === true && deps.ingest !== undefined;
  if (canSend && deps.local && deps.ingest)
    app.route("/send", sendRoutes({ orgId: deps.local.orgId, actions: deps.local.actions, ingest: deps.ingest, history: deps.history }));

  app.get("/", async (c) => {
    const action = c.req.query("action") || undefined;
    const status = c.req.query("status");
    const phase = (RUN_PHASES as readonly string[]).includes(status ?? "") ? (status as RunPhase) : undefined;
    const window = SINCE_WINDOWS[c.req.query("since") ?? ""];
    const since = window === undefined ? undefined : Date.now() - window;
    const lettersAfter = c.req.query("letters");
    const after = lettersAfter !== undefined && parseId(lettersAfter) !== undefined ? lettersAfter : undefined;
    const [deadLetters, health, runs] = await Promise.all([
      deps.ledger.listDeadLetters({ limit: LETTERS_PER_PAGE, ...(after ? { after } : {}) }),
      deps.status.snapshot(),
      deps.history.list({ ...(action ? { action } : {}), ...(phase ? { phase } : {}), ...(since !== undefined ? { since } : {}), limit: 200 }),
    ]);
    return c.html(
      homePage({
        runs: runs.items,
        filter: { ...(action ? { action } : {}), ...(phase ? { status: phase } : {}), ...(window !== undefined ? { since: c.req.query("since") } : {}) },
        actions: [...deps.actions],
        deadLetters,
        moreLetters: deadLetters.length === LETTERS_PER_PAGE ? (deadLetters.at(-1)?.id ?? null) : null,
        health,
        message: takeFlash(c),
        canSend,
      }),
    );
  });

  app.get("/runs/:id", async (c) => {
    const story = await deps.history.get(c.req.param("id"));
    return story ? c.html(runPage(story)) : c.html(notFoundPage(NO_SUCH_RUN), 404);
  });

  const gone = notFoundPage("No parked record has this id (it may have been replayed or deleted).");

  // The one page that reads a record's bytes, and only this letter's.
  app.get("/dead-letters/:id", async (c) => {
    const letter = await deps.ledger.getDeadLetter(c.req.param("id"));
    return letter ? c.html(deadLetterPage(letter)) : c.html(gone, 404);
  });
  // The whole record as it arrived, as a download (never rendered by the browser).
  app.get("/dead-letters/:id/raw", async (c) => {
    const letter = await deps.ledger.getDeadLetter(c.req.param("id"));
    if (!letter) return c.html(gone, 404);
    const bytes = letter.rawEncoding === "base64" ? (fromBase64(letter.raw) ?? new Uint8Array(0)) : letter.raw;
    return c.body(bytes, 200, {
      "content-type": letter.rawEncoding === "base64" ? "application/octet-stream" : "text/plain; charset=utf-8",
      "content-disposition": `attachment; filename="dead-letter-${letter.id}.${letter.rawEncoding === "base64" ? "bin" : "txt"}"`,
      "x-content-type-options": "nosniff",
    });
  });
  for (const action of ["replay", "delete"] as const) {
    app.get(`/dead-letters/:id/${action}`, async (c) => {
      const letter = await summaryOf(deps.ledger, c.req.param("id"));
      return letter ? c.html(confirmPage(letter, action)) : c.html(gone, 404);
    });
  }
  app.post("/dead-letters/:id/replay", async (c) => {
    const id = c.req.param("id");
    const result = await deps.replay(id);
    if (result.type === "not_found") return c.html(gone, 404);
    const message =
      result.type === "still_invalid"
        ? `Dead letter ${id} is still refused and stays parked: ${result.reason}`
        : `Dead letter ${id} replayed: ${result.summary.accepted} accepted, ${result.summary.duplicate} duplicate, ${result.summary.parked} parked${result.removed ? "; removed" : ""}.`;
    return flash(c, message, secure(c));
  });
  app.post("/dead-letters/:id/delete", async (c) => {
    const id = c.req.param("id");
    const removed = await deps.ledger.removeDeadLetter(id);
    return removed ? flash(c, `Dead letter ${id} deleted.`, secure(c)) : c.html(gone, 404);
  });
  return app;
}

/** Dead letters on one page of the console (the next page starts after the last one shown). */
const LETTERS_PER_PAGE = 100;

/** One dead letter without its bytes: the list's page of one that starts just before it. */
async function summaryOf(ledger: Ledger, id: string): Promise<DeadLetterSummary | undefined> {
  const seq = parseId(id);
  if (seq === undefined) return undefined;
  const [letter] = await ledger.listDeadLetters(seq > 1 ? { limit: 1, after: String(seq - 1) } : { limit: 1 });
  return letter?.id === id ? letter : undefined;
}

/**
 * What an action did, shown once on the next page (a cookie, not the URL: nobody can make the console show
 * a sentence by sending a link).
 */
const FLASH = "portside_flash";
function flash(c: Context, message: string, secure: boolean): Response {
  setCookie(c, FLASH, encodeURIComponent(message), { path: "/console", httpOnly: true, sameSite: "Strict", secure, maxAge: 60 });
  return c.redirect("/console", 303);
}
function takeFlash(c: Context): string | null {
  const message = getCookie(c, FLASH);
  if (message === undefined) return null;
  deleteCookie(c, FLASH, { path: "/console" });
  try {
    return decodeURIComponent(message);
  } catch {
    return null;
  }
}

/** A bearer header with ADMIN_TOKEN or a live session cookie (auth.ts's one check); otherwise the sign-in page (401). */
function signedIn(adminToken: Secret | null, sessions: ConsoleSessions | null): MiddlewareHandler {
  const check = accessCheck(adminToken, sessions ? { read: (c) => getCookie(c, COOKIE), valid: (value) => sessions.valid(value) } : undefined);
  const refused = requireAccess(check, (c, why) =>
    c.html(loginPage(why === "ended" ? "Your session has ended (it expired, you signed out, or ADMIN_TOKEN changed). Sign in again." : null), 401),
  );
  return async (c, next) => {
    if (getCookie(c, OLD_COOKIE) !== undefined) deleteCookie(c, OLD_COOKIE, { path: "/console" });
    return refused(c, next);
  };
}
