import { type Context, Hono, type MiddlewareHandler } from "hono";
import { getCookie, setCookie, deleteCookie } from "hono/cookie";
import { bearerOf, tokenCheck } from "../auth.ts";
import type { Secret } from "../config.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { ReplayResult } from "../pipeline/replay.ts";
import { NO_SUCH_RUN, RUN_PHASES, type RunHistory, type RunPhase } from "../observe/run-history.ts";
import { confirmPage, deadLetterPage, homePage, type HealthView, loginPage, notFoundPage, runPage } from "./pages.ts";

/**
 * The operator console at /console: recent runs (filtered by action and status) and one run's story, the
 * dead letters with their bytes, replay and delete behind a confirmation, and health. Behind ADMIN_TOKEN: a
 * browser signs in once with the token, kept in an HttpOnly, SameSite=Strict cookie for /console only;
 * a bearer header works too. Backed by the same ledger, run history and replay as /admin.
 */
export interface ConsoleDeps {
  adminToken: Secret | null;
  ledger: Ledger;
  history: RunHistory;
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
    const [deadLetters, health, runs] = await Promise.all([
      deps.ledger.listDeadLetters({ limit: 100 }),
      deps.health(),
      deps.history.list({ ...(action ? { action } : {}), ...(phase ? { phase } : {}), ...(since !== undefined ? { since } : {}), limit: 200 }),
    ]);
    return c.html(
      homePage({
        runs: runs.items,
        filter: { ...(action ? { action } : {}), ...(phase ? { status: phase } : {}), ...(window !== undefined ? { since: c.req.query("since") } : {}) },
        actions: [...deps.actions],
        deadLetters,
        health,
        message: takeFlash(c),
      }),
    );
  });

  app.get("/runs/:id", async (c) => {
    const story = await deps.history.get(c.req.param("id"));
    return story ? c.html(runPage(story)) : c.html(notFoundPage(NO_SUCH_RUN), 404);
  });

  const letterOr404 = async (id: string) => deps.ledger.getDeadLetter(id);
  const gone = notFoundPage("No parked record has this id (it may have been replayed or deleted).");

  app.get("/dead-letters/:id", async (c) => {
    const letter = await letterOr404(c.req.param("id"));
    return letter ? c.html(deadLetterPage(letter)) : c.html(gone, 404);
  });
  for (const action of ["replay", "delete"] as const) {
    app.get(`/dead-letters/:id/${action}`, async (c) => {
      const letter = await letterOr404(c.req.param("id"));
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
