import { type Context, Hono, type MiddlewareHandler } from "hono";
import { getCookie, setCookie, deleteCookie } from "hono/cookie";
import { bearerOf, tokenCheck } from "../auth.ts";
import type { Secret } from "../config.ts";
import type { DeadLetterSummary, Ledger } from "../ledger/ledger.ts";
import { parseId } from "../ledger/validate.ts";
import type { ReplayResult } from "../pipeline/replay.ts";
import { fromBase64 } from "../shared/base64.ts";
import type { Journal, RunPhase } from "./journal.ts";
import { RUN_PHASES } from "./journal.ts";
import { confirmPage, deadLetterPage, homePage, type HealthView, loginPage, notFoundPage, runPage } from "./pages.ts";

/**
 * The operator console at /console: recent runs (filtered by action and status) and one run's story, the
 * dead letters (a page at a time, without their bytes; one letter's page shows the start of its record and
 * offers the whole as a download), replay and delete behind a confirmation, and health. Behind ADMIN_TOKEN: a
 * browser signs in once with the token, kept in an HttpOnly, SameSite=Strict cookie for /console only;
 * a bearer header works too. Backed by the same ledger, journal and replay as /admin.
 */
export interface ConsoleDeps {
  adminToken: Secret | null;
  ledger: Ledger;
  journal: Journal;
  replay: (id: string) => Promise<ReplayResult>;
  health: () => Promise<HealthView>;
  /** Actions with a handler or route, for the filter. */
  actions: readonly string[];
}

const COOKIE = "portside_admin";

/** The console's time filter: runs received in the last … */
export const SINCE_WINDOWS: Record<string, number> = { "15m": 15 * 60_000, "1h": 3600_000, "24h": 24 * 3600_000 };

export function consoleRoutes(deps: ConsoleDeps): Hono {
  const app = new Hono();
  const matches = deps.adminToken ? tokenCheck(deps.adminToken) : null;

  app.post("/login", async (c) => {
    if (!matches) return c.redirect("/console", 303);
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = typeof form.token === "string" ? form.token : "";
    if (!(await matches(token))) return c.html(loginPage("That is not this portside's ADMIN_TOKEN."), 401);
    setCookie(c, COOKIE, token, { path: "/console", httpOnly: true, sameSite: "Strict", secure: new URL(c.req.url).protocol === "https:" });
    return c.redirect("/console", 303);
  });
  app.post("/logout", (c) => {
    deleteCookie(c, COOKIE, { path: "/console" });
    return c.redirect("/console", 303);
  });

  app.use("*", signedIn(matches));

  app.get("/", async (c) => {
    const action = c.req.query("action") || undefined;
    const status = c.req.query("status");
    const phase = (RUN_PHASES as readonly string[]).includes(status ?? "") ? (status as RunPhase) : undefined;
    const window = SINCE_WINDOWS[c.req.query("since") ?? ""];
    const since = window === undefined ? undefined : Date.now() - window;
    const lettersAfter = c.req.query("letters");
    const after = lettersAfter !== undefined && parseId(lettersAfter) !== undefined ? lettersAfter : undefined;
    const [deadLetters, health] = await Promise.all([deps.ledger.listDeadLetters({ limit: LETTERS_PER_PAGE, ...(after ? { after } : {}) }), deps.health()]);
    return c.html(
      homePage({
        runs: deps.journal.list({ ...(action ? { action } : {}), ...(phase ? { phase } : {}), ...(since !== undefined ? { since } : {}), limit: 200 }),
        filter: { ...(action ? { action } : {}), ...(phase ? { status: phase } : {}), ...(window !== undefined ? { since: c.req.query("since") } : {}) },
        actions: [...deps.actions],
        deadLetters,
        moreLetters: deadLetters.length === LETTERS_PER_PAGE ? (deadLetters.at(-1)?.id ?? null) : null,
        health,
        message: takeFlash(c),
      }),
    );
  });

  app.get("/runs/:id", (c) => {
    const story = deps.journal.get(c.req.param("id"));
    return story ? c.html(runPage(story)) : c.html(notFoundPage("No recent run has this id (this process remembers its newest 1,000 runs)."), 404);
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
    return flash(c, message);
  });
  app.post("/dead-letters/:id/delete", async (c) => {
    const id = c.req.param("id");
    const removed = await deps.ledger.removeDeadLetter(id);
    return removed ? flash(c, `Dead letter ${id} deleted.`) : c.html(gone, 404);
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
function flash(c: Context, message: string): Response {
  setCookie(c, FLASH, encodeURIComponent(message), { path: "/console", httpOnly: true, sameSite: "Strict", maxAge: 60 });
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

/** A bearer header or the sign-in cookie with ADMIN_TOKEN; otherwise the sign-in page (401). None configured: open. */
function signedIn(matches: ((given: string) => Promise<boolean>) | null): MiddlewareHandler {
  return async (c, next) => {
    if (!matches) return next();
    const given = bearerOf(c.req.header("authorization")) ?? getCookie(c, COOKIE);
    if (given && (await matches(given))) return next();
    return c.html(loginPage(given ? "Signed out: the token changed. Sign in again." : null), 401);
  };
}
