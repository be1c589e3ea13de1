import { type Context, Hono } from "hono";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { readBody } from "../../messages/index.ts";
import { isSettled, type RunHistory } from "../../observe/run-history.ts";
import type { Ingest } from "../../pipeline/ingest.ts";
import { legacyRunMessage, newRunId } from "../../testing/run-message.ts";
import { layout } from "./pages.ts";

/**
 * The console's "send a run" form, only in open mode with the local Port emulator standing in for Port
 * (routes.ts mounts it then, and never otherwise): an action of the handler module, its inputs as JSON, the
 * entity; what it sends is a run message as Port would publish it for this portside's organisation
 * (testing/run-message.ts, as `portside trigger` sends), taken in by `ingest` as the sink takes one. The
 * answer waits a few seconds for the run to end and its status to reach the emulator, then goes to the run's page. Its post passes the console's
 * same-origin check like every console form (guards.ts).
 */
export interface SendDeps {
  orgId: string;
  /** The actions with a handler or route (kept up to date when `portside dev` loads the module again). */
  actions: readonly string[];
  ingest: Ingest;
  history: RunHistory;
  /** How long the answer waits for the run to end before showing its page anyway. */
  waitMs?: number;
}

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

interface Values {
  action: string;
  inputs: string;
  entity: string;
}

const EXAMPLE_INPUTS = '{"version": "1.2.3"}';

export function sendPage(deps: { orgId: string; actions: readonly string[] }, values: Values, problem: string | null): Html {
  return layout(
    "Send a run",
    html`<section>
      <h1>Send a run</h1>
      <p class="note">
        This portside is open for local use and reports to the local Port emulator: a run sent here is one Port would publish for organisation
        ${deps.orgId}, run by this portside's handlers; nothing reaches Port.
      </p>
      ${problem ? html`<p class="message" role="alert">${problem}</p>` : ""}
      <form method="post" action="/console/send">
        <p>
          <label>Action
            <select name="action" required>
              ${deps.actions.map((a) => html`<option value="${a}" ${a === values.action ? "selected" : ""}>${a}</option>`)}
            </select>
          </label>
        </p>
        <p><label>Inputs (a JSON object)<br /><textarea name="inputs" rows="8" cols="72" spellcheck="false">${values.inputs}</textarea></label></p>
        <p><label>Entity <input name="entity" value="${values.entity}" placeholder="its identifier; none for a CREATE" /></label></p>
        <button type="submit">Send</button>
      </form>
      ${deps.actions.length === 0 ? html`<p class="note">The handler module has no actions.</p>` : ""}
    </section>`,
  );
}

export function sendRoutes(deps: SendDeps): Hono {
  const app = new Hono();
  const page = (c: Context, values: Values, problem: string | null, status: 200 | 400 = 200) => c.html(sendPage(deps, values, problem), status);

  app.get("/", (c) => page(c, { action: c.req.query("action") ?? "", inputs: EXAMPLE_INPUTS, entity: "" }, null));
  app.post("/", async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const field = (name: string) => (typeof form[name] === "string" ? (form[name] as string) : "");
    const values: Values = { action: field("action"), inputs: field("inputs"), entity: field("entity").trim() };
    if (!deps.actions.includes(values.action)) return page(c, values, "Choose one of the actions this portside's handler module has.", 400);
    // Why the inputs are refused, never what they hold (a value in them may be a secret).
    let inputs: unknown;
    try {
      inputs = JSON.parse(values.inputs.trim() || "{}");
    } catch {
      return page(c, values, 'The inputs are not valid JSON: give an object, e.g. {"version": "1.2.3"}.', 400);
    }
    if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs))
      return page(c, values, 'The inputs must be a JSON object of the action\'s inputs, e.g. {"version": "1.2.3"}.', 400);

    const runId = newRunId();
    const message = legacyRunMessage({
      runId,
      action: values.action,
      orgId: deps.orgId,
      inputs: inputs as Record<string, unknown>,
      ...(values.entity ? { entity: values.entity } : {}),
      user: { email: "developer@example.com" },
    });
    const summary = await deps.ingest("run", readBody(JSON.stringify(message)), "console");
    if (summary.parked > 0) return page(c, values, `portside refused the run: ${summary.parkedReasons[0] ?? "see its log"}.`, 400);
    if (summary.ignored > 0)
      return page(c, values, `portside left the run alone: it leaves runs of actions with no handler to others (UNHANDLED_RUNS=ignore).`, 400);
    // The run's page shows how it ended, when it ends within a few seconds.
    const deadline = Date.now() + (deps.waitMs ?? 10_000);
    while (Date.now() < deadline) {
      const story = await deps.history.get(runId);
      if (story && isSettled(story)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return c.redirect(`/console/runs/${encodeURIComponent(runId)}`, 303);
  });
  return app;
}
