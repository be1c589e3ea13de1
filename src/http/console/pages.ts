import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { DeadLetter, DeadLetterSummary } from "../../ledger/ledger.ts";
import { BEHIND, EVENT_EDGE_CHARS, type RunEvent, reportLine, type RunStory, STORY_EDGE_EVENTS, STORY_REPORTS } from "../../observe/run-history.ts";
import type { StatusSnapshot } from "../../observe/status.ts";

/** How the story's events read in the console. */
const EVENT_NAMES: Record<RunEvent["what"], string> = {
  received: "received",
  started: "started",
  ended: "ended",
  port: "report to Port",
  log: "log",
  entity: "entity",
  cut: "not shown",
};

/**
 * The console's pages, rendered on the server with `hono/html` (every interpolated value is escaped, so a
 * record's bytes shown on a page stay text). No script and no inline style: filters are forms, replay and
 * delete go through a confirmation page, the stylesheet is served at /console/style.css, so the console works
 * in any browser and under its strict content security policy (guards.ts).
 */
type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** The console's stylesheet, served at /console/style.css (the policy allows no inline style). */
export const CONSOLE_STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#cfd8ff;text-decoration:none} header strong{font-size:16px}
main{padding:16px 24px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:12px 16px;margin-bottom:16px}
h1{font-size:18px;margin:4px 0 12px} h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f4;vertical-align:top}
th{font-weight:600;color:#5a6275} td.num{text-align:right}
.SUCCESS{color:#137333;font-weight:600} .FAILURE{color:#b3261e;font-weight:600} .running,.received{color:#8a5a00} .DEFERRED{color:#3451b2}
.report-pending{color:#8a5a00;font-weight:600} .report-refused{color:#b3261e;font-weight:600}
.figures{display:flex;gap:24px;flex-wrap:wrap} .figures div{min-width:120px} .figures b{display:block;font-size:20px}
pre{background:#f1f3f6;padding:8px;white-space:pre-wrap;word-break:break-all;max-height:320px;overflow:auto}
form.inline{display:inline} button{padding:4px 12px} .danger{background:#b3261e;color:#fff;border:0;border-radius:4px}
.note{color:#5a6275} .message{padding:8px 12px;border-radius:4px;background:#e8f0fe}
`;

export function layout(title: string, body: Html, signedIn = true): Html {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${title} · portside console</title>
    <link rel="stylesheet" href="/console/style.css" />
  </head>
  <body>
    <header>
      <strong>portside</strong>
      ${
        signedIn
          ? html`<a href="/console">Runs</a><a href="/console#dead-letters">Dead letters</a><a href="/console#health">Health</a>
              <form method="post" action="/console/logout" class="inline"><button type="submit">Sign out</button></form>`
          : ""
      }
    </header>
    <main>${body}</main>
  </body>
</html>`;
}

export function loginPage(problem: string | null): Html {
  return layout(
    "Sign in",
    html`<section>
      <h1>Sign in</h1>
      <p class="note">The console is behind ADMIN_TOKEN. Signing in starts a session, kept in a cookie for the console only; the token itself is not stored.</p>
      ${problem ? html`<p class="message" role="alert">${problem}</p>` : ""}
      <form method="post" action="/console/login">
        <label>Admin token <input type="password" name="token" autocomplete="current-password" required /></label>
        <button type="submit">Sign in</button>
      </form>
    </section>`,
    false,
  );
}

const time = (ms: number | null | undefined) =>
  ms
    ? new Date(ms)
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, "Z")
    : "";

export function homePage(opts: {
  runs: RunStory[];
  filter: { action?: string; status?: string; since?: string | undefined };
  actions: string[];
  deadLetters: DeadLetterSummary[];
  /** The id the next page of dead letters starts after; null on the last page. */
  moreLetters: string | null;
  health: StatusSnapshot;
  message: string | null;
  /** Open mode with the Port emulator: a link to the form that sends a run. */
  canSend?: boolean;
}): Html {
  const { runs, filter, health } = opts;
  return layout(
    "Runs",
    html`${opts.message ? html`<p class="message" role="status">${opts.message}</p>` : ""}
      <section id="runs">
        <h1>Runs</h1>
        ${opts.canSend ? html`<p><a href="/console/send" id="send-a-run">Send a run…</a></p>` : ""}
        <form method="get" action="/console">
          <label>Action
            <select name="action">
              <option value="">any</option>
              ${opts.actions.map((a) => html`<option value="${a}" ${a === filter.action ? "selected" : ""}>${a}</option>`)}
            </select>
          </label>
          <label>Status
            <select name="status">
              <option value="">any</option>
              ${["running", "received", "SUCCESS", "FAILURE", "DEFERRED"].map((s) => html`<option value="${s}" ${s === filter.status ? "selected" : ""}>${s}</option>`)}
            </select>
          </label>
          <label>Received
            <select name="since">
              <option value="">any time</option>
              ${[
                ["15m", "in the last 15 minutes"],
                ["1h", "in the last hour"],
                ["24h", "in the last 24 hours"],
              ].map(([value, label]) => html`<option value="${value}" ${value === filter.since ? "selected" : ""}>${label}</option>`)}
            </select>
          </label>
          <button type="submit">Filter</button>
        </form>
        <table>
          <thead><tr><th>Run</th><th>Action</th><th>Way in</th><th>Status</th><th>Attempts</th><th>Received</th><th>Ended</th><th>Summary</th></tr></thead>
          <tbody>
            ${
              runs.length === 0
                ? html`<tr><td colspan="8" class="note">No run in the ledger (finished runs are kept for RETENTION_HOURS).</td></tr>`
                : runs.map(
                    (r) =>
                      html`<tr>
                        <td><a href="/console/runs/${encodeURIComponent(r.runId)}">${r.runId}</a></td>
                        <td>${r.action ?? ""}</td>
                        <td class="way-in">${r.source ?? ""}</td>
                        <td class="status">${statusCell(r)}</td>
                        <td class="num">${r.attempts}</td>
                        <td>${time(r.receivedAt)}</td>
                        <td>${time(r.endedAt)}</td>
                        <td>${r.summary ?? ""}</td>
                      </tr>`,
                  )
            }
          </tbody>
        </table>
      </section>
      <section id="dead-letters">
        <h2>Dead letters (${health.ledger.counts.deadLetters})</h2>
        <table>
          <thead><tr><th>Id</th><th>Kind</th><th>Run</th><th>Source</th><th>Parked</th><th>Size</th><th>Reason</th></tr></thead>
          <tbody>
            ${
              opts.deadLetters.length === 0
                ? html`<tr><td colspan="7" class="note">Nothing is parked.</td></tr>`
                : opts.deadLetters.map(
                    (d) =>
                      html`<tr>
                        <td><a href="/console/dead-letters/${d.id}">${d.id}</a></td>
                        <td>${d.kind}</td>
                        <td>${d.runId ?? ""}</td>
                        <td>${d.source}</td>
                        <td>${time(d.parkedAt)}</td>
                        <td class="num">${bytes(d.size)}</td>
                        <td>${d.reason}</td>
                      </tr>`,
                  )
            }
          </tbody>
        </table>
        ${opts.moreLetters ? html`<p><a href="/console?letters=${opts.moreLetters}#dead-letters">Later dead letters →</a></p>` : ""}
      </section>
      ${healthSection(health)}`,
  );
}

function healthSection(h: StatusSnapshot): Html {
  const c = h.ledger.counts;
  const oldest = c.oldestHeldReportAt === null ? "none" : `${Math.round((h.now - c.oldestHeldReportAt) / 1000)} s`;
  return html`<section id="health">
    <h2>Health</h2>
    <div class="figures">
      <div>Ledger<b>${h.ledger.kind}</b></div>
      <div>Backlog<b>${c.pendingWork}</b>pending, ${c.runningWork} running</div>
      <div>Outbox<b>${c.pendingReports}</b>reports to Port (oldest held: ${oldest})</div>
      <div>Port rate budget<b>${h.rateBudget ? `${h.rateBudget.remaining} / ${h.rateBudget.limit}` : "unknown"}</b>left in the window</div>
      <div>Failed reports<b>${c.failedReports}</b>refused by Port</div>
    </div>
    <h2>Recent warnings and errors</h2>
    <table>
      <tbody>
        ${
          h.recentWarnings.length === 0
            ? html`<tr><td class="note">None since start.</td></tr>`
            : h.recentWarnings.map(
                (e) =>
                  html`<tr><td>${time(e.at)}</td><td class="${e.level === "error" ? "FAILURE" : "running"}">${e.level}</td><td>${e.event}</td><td>${describeFields(e.fields)}</td></tr>`,
              )
        }
      </tbody>
    </table>
  </section>`;
}

function describeFields(fields: Record<string, unknown>): string {
  return JSON.stringify(fields, (_key, value) => (value instanceof Error ? `${value.name}: ${value.message}` : value)).slice(0, 400);
}

export function runPage(story: RunStory): Html {
  return layout(
    story.runId,
    html`<section>
      <h1>Run ${story.runId}</h1>
      <table>
        <tbody>
          <tr><th>Action</th><td>${story.action ?? "(not started)"}</td></tr>
          <tr><th>Status</th><td id="run-status">${statusCell(story)}</td></tr>
          <tr><th>Reported to Port</th><td id="run-report">${reportDetail(story)}</td></tr>
          <tr><th>Summary</th><td id="run-summary">${story.summary ?? ""}</td></tr>
          ${story.stack ? html`<tr><th>Stack</th><td><pre id="run-stack">${story.stack}</pre></td></tr>` : ""}
          <tr><th>Attempts</th><td>${story.attempts}</td></tr>
          <tr><th>Received</th><td>${time(story.receivedAt)} ${story.source ? html`<span class="note">from ${story.source}</span>` : ""}</td></tr>
          <tr><th>Request</th><td id="request-id">${story.requestId ?? ""}</td></tr>
          <tr><th>Started</th><td>${time(story.startedAt)}</td></tr>
          <tr><th>Ended</th><td>${time(story.endedAt)}</td></tr>
        </tbody>
      </table>
    </section>
    <section>
      <h2>What happened</h2>
      <p class="note">
        Long lines show their first and last ${EVENT_EDGE_CHARS} characters; a run with many reports shows its first and last ${STORY_REPORTS / 2}, and
        a story its first and last ${STORY_EDGE_EVENTS} events.
      </p>
      <table>
        <thead><tr><th>When</th><th>What</th><th>Detail</th></tr></thead>
        <tbody>
          ${story.events.map((e) => html`<tr><td>${time(e.at)}</td><td>${EVENT_NAMES[e.what]}</td><td>${e.detail}</td></tr>`)}
        </tbody>
      </table>
    </section>`,
  );
}

/**
 * A run's status as far as Port has it: the phase, and when its status report is not delivered, that it is
 * pending or refused (Port's answer in brief), so a list never shows a plain SUCCESS Port has not taken.
 */
function statusCell(story: Pick<RunStory, "phase" | "report">): Html {
  const { report } = story;
  const phase = html`<span class="${story.phase}">${story.phase}</span>`;
  if (report === null || report.state === "delivered") return phase;
  return html`${phase} · <span class="report-${report.state}">${reportLine(report)}</span>`;
}

/** The run page's word on the status report, with Port's answer in full. */
function reportDetail(story: RunStory): string {
  const { report } = story;
  if (report === null) return story.phase === "DEFERRED" ? "left to the target to report" : "no status queued";
  if (report.state === "delivered") return "status delivered";
  if (report.state === "refused") return `status refused by Port: ${report.reason ?? "no reason kept"}`;
  if (report.reason?.startsWith(BEHIND)) return `status not delivered yet, ${report.reason}`;
  return report.reason ? `status not delivered yet; Port's last answer: ${report.reason}` : "status not delivered yet (not tried)";
}

/** How much of a record its page shows; the whole is a download. */
export const PREVIEW_CHARS = 64 * 1024;

const bytes = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

export function deadLetterPage(letter: DeadLetter): Html {
  const cut = letter.raw.length > PREVIEW_CHARS;
  return layout(
    `Dead letter ${letter.id}`,
    html`<section>
      <h1>Dead letter ${letter.id}</h1>
      <table>
        <tbody>
          <tr><th>Kind</th><td>${letter.kind}</td></tr>
          <tr><th>Run</th><td>${letter.runId ? html`<a href="/console/runs/${encodeURIComponent(letter.runId)}">${letter.runId}</a>` : "(none)"}</td></tr>
          <tr><th>Source</th><td>${letter.source}</td></tr>
          <tr><th>Parked</th><td>${time(letter.parkedAt)}</td></tr>
          <tr><th>Reason</th><td id="reason">${letter.reason}</td></tr>
          <tr><th>Size</th><td>${bytes(letter.size)}</td></tr>
        </tbody>
      </table>
      <h2>Record as it arrived ${letter.rawEncoding === "base64" ? html`<span class="note">(not UTF-8: shown as base64)</span>` : ""}</h2>
      <pre>${cut ? `${letter.raw.slice(0, PREVIEW_CHARS)}…` : letter.raw}</pre>
      ${cut ? html`<p class="note">Only the first ${PREVIEW_CHARS.toLocaleString("en")} characters are shown: download the record for all of it.</p>` : ""}
      <p>
        <a href="/console/dead-letters/${letter.id}/raw">Download the record</a> ·
        <a href="/console/dead-letters/${letter.id}/replay">Replay…</a> ·
        <a href="/console/dead-letters/${letter.id}/delete">Delete…</a>
      </p>
    </section>`,
  );
}

export function confirmPage(letter: DeadLetterSummary, action: "replay" | "delete"): Html {
  const what =
    action === "replay"
      ? "Replay: its records go through the sink's checks again and run; the dead letter is removed once they are all recorded."
      : "Delete: the record is forgotten for good.";
  return layout(
    `${action === "replay" ? "Replay" : "Delete"} dead letter ${letter.id}`,
    html`<section>
      <h1>${action === "replay" ? "Replay" : "Delete"} dead letter ${letter.id}?</h1>
      <p>${what}</p>
      <p class="note">Reason it was parked: ${letter.reason}</p>
      <form method="post" action="/console/dead-letters/${letter.id}/${action}" class="inline">
        <button type="submit" class="${action === "delete" ? "danger" : ""}">Yes, ${action}</button>
      </form>
      <a href="/console/dead-letters/${letter.id}">Cancel</a>
    </section>`,
  );
}

/** A request the console refused to act on, and why (not signed in: it cannot show the console's links). */
export function refusedPage(why: string): Html {
  return layout("Refused", html`<section><h1>Refused</h1><p role="alert">${why}</p><p><a href="/console">Back to the console</a></p></section>`, false);
}

export function notFoundPage(what: string): Html {
  return layout("Not found", html`<section><h1>Not found</h1><p>${what}</p><p><a href="/console">Back to the console</a></p></section>`);
}
