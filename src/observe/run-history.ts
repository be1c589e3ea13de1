import * as v from "valibot";
import type { Ledger, ReportRecord, RunQuery, RunRecord, StatusReport } from "../ledger/ledger.ts";
import { truncate } from "../shared/text.ts";
import type { PortCallKind } from "../port/calls.ts";

/**
 * The run history for operators (the console, `GET /admin/runs`, `cli runs`): each run's story as the
 * ledger holds it — when it was received and by which way in, when it started and how often, what was
 * reported to Port and what Port answered, and how it ended. Read from the ledger, so every replica shows
 * the same runs, a restart forgets nothing, and retention forgets them with the rest.
 *
 * A story is bounded whatever a handler did: a long line shows its first and last characters, a run with
 * many reports its first and last ones, and a story its first and last events; the cut says how much.
 */
export const RUN_PHASES = ["received", "running", "SUCCESS", "FAILURE", "DEFERRED"] as const;
export type RunPhase = (typeof RUN_PHASES)[number];

/** Characters of one event's detail kept from each end of a longer one. */
export const EVENT_EDGE_CHARS = 500;
/** Events of one story kept from each end of a longer one. */
export const STORY_EDGE_EVENTS = 500;
/** Reports of one run read, the first and the last halves (see the ledger's `getRun`). */
export const STORY_REPORTS = 200;
/** How many runs one list answers at most. */
export const RUN_LIST_MAX = 1_000;
/** Said when a run id is not in the ledger. */
export const NO_SUCH_RUN = "No run has this id in the ledger (finished runs are kept for RETENTION_HOURS).";

export const RunEventSchema = v.object({
  at: v.number(),
  what: v.picklist(["received", "started", "ended", "port", "log", "entity", "cut"]),
  /** One line: the way in, the attempt, the status and reason, a report and Port's answer, a log line Port took, an entity written, what was left out. */
  detail: v.string(),
});

/** What became of the report that tells Port how a run ended: Port took it, it waits (retried), Port refused it for good. */
export const REPORT_STATES = ["delivered", "pending", "refused"] as const;

/** A run has ended (its handler or target is done). */
export const hasEnded = (story: { phase: RunPhase }): boolean => story.phase === "SUCCESS" || story.phase === "FAILURE" || story.phase === "DEFERRED";

/** Ended, and Port has its status or refused it for good: nothing of it is still on its way (what `trigger` and the console's send form wait for). */
export const isSettled = (story: { phase: RunPhase; report: { state: (typeof REPORT_STATES)[number] } | null }): boolean =>
  hasEnded(story) && story.report?.state !== "pending";

export const RunReportSchema = v.object({
  state: v.picklist(REPORT_STATES),
  /**
   * Pending: Port's answer to the last try; not tried yet, what it waits for (`behind the run's logs: Port
   * answered 401 …`: a run's reports go to Port in order), else null. Refused: why Port refused it. Null when delivered.
   */
  reason: v.nullable(v.string()),
});

export const RunStorySchema = v.object({
  runId: v.string(),
  action: v.nullable(v.string()),
  source: v.nullable(v.string()),
  /** The request that brought it (its X-Request-Id), when it came by HTTP. */
  requestId: v.nullable(v.string()),
  phase: v.picklist(RUN_PHASES),
  attempts: v.pipe(v.number(), v.integer(), v.minValue(0)),
  receivedAt: v.nullable(v.number()),
  startedAt: v.nullable(v.number()),
  endedAt: v.nullable(v.number()),
  /** The summary Port was told (for a FAILURE, why). */
  summary: v.nullable(v.string()),
  /**
   * Whether Port has the status: the run's status report delivered, still pending, or refused by Port. Null
   * when portside queued none (not ended yet, or DEFERRED: the target tells Port).
   */
  report: v.nullable(RunReportSchema),
  /**
   * Where the error its handler threw came from: the stack's frames, secret inputs redacted. For operators
   * only (Port is told the message alone); in one run's story, null in lists.
   */
  stack: v.nullable(v.string()),
  events: v.array(RunEventSchema),
});

export const RunListSchema = v.object({
  items: v.array(RunStorySchema),
  /** Pass as `before` for the next page; null when there is none. */
  next: v.nullable(v.string()),
});

export type RunStory = v.InferOutput<typeof RunStorySchema>;
export type RunReport = v.InferOutput<typeof RunReportSchema>;
export type RunEvent = v.InferOutput<typeof RunEventSchema>;
export type RunList = v.InferOutput<typeof RunListSchema>;

export interface RunFilter {
  action?: string;
  phase?: RunPhase;
  /** Received at or after, epoch ms. */
  since?: number;
  limit?: number;
  /** The `next` of the previous page. */
  before?: string;
}

export interface RunHistory {
  /** Newest first, without events. */
  list(filter?: RunFilter): Promise<RunList>;
  get(runId: string): Promise<RunStory | undefined>;
}

export function createRunHistory(ledger: Pick<Ledger, "listRuns" | "getRun">): RunHistory {
  return {
    async list(filter = {}) {
      const query: RunQuery = { limit: Math.min(filter.limit ?? 100, RUN_LIST_MAX) };
      if (filter.action !== undefined) query.action = filter.action;
      if (filter.since !== undefined) query.since = filter.since;
      if (filter.before !== undefined) query.before = Number(filter.before);
      if (filter.phase === "received") query.state = "pending";
      else if (filter.phase === "running") query.state = "running";
      else if (filter.phase !== undefined) query.status = filter.phase;
      const page = await ledger.listRuns(query);
      const items = await Promise.all(page.runs.map(async (run) => story(run, null, await heldBehind(run))));
      return { items, next: page.next === null ? null : String(page.next) };
    },
    async get(runId) {
      const run = await ledger.getRun(runId, { reportLimit: STORY_REPORTS });
      if (!run) return undefined;
      const ahead = waitingFor(run) ? run.reports.find(failing) : undefined;
      const events = run.reports.flatMap(reportEvents);
      if (run.reportsNotShown > 0) {
        const at = run.reports[Math.ceil(run.reports.length / 2)]?.createdAt ?? run.acceptedAt;
        events.push({
          at,
          what: "cut",
          detail: `${run.reportsNotShown} reports to Port not shown (a story shows a run's first and last ${STORY_REPORTS / 2})`,
        });
      }
      return story(run, events, ahead);
    },
  };

  /**
   * A status report not tried yet waits for the run's earlier reports (a run's reports go to Port in order):
   * the first of them Port has not taken yet says why. Read only for such runs (one more ledger read each).
   */
  async function heldBehind(run: RunRecord): Promise<ReportRecord | undefined> {
    if (!waitingFor(run)) return undefined;
    return (await ledger.getRun(run.runId, { reportLimit: STORY_REPORTS }))?.reports.find(failing);
  }
}

/** The run's status report is pending and not tried yet. */
const waitingFor = (run: RunRecord): boolean => run.statusReport?.state === "pending" && run.statusReport.attempts === 0;
/** A report Port has not taken yet, after one try or more. */
const failing = (r: ReportRecord): boolean => r.state === "pending" && r.attempts > 0;

/**
 * A run's story; its events (and its handler's stack) only when `reportEvents` is given (a list shows none).
 * `ahead`: the earlier report of the run its status report waits for, when it waits.
 */
function story(run: RunRecord & { stack?: string | null }, reportEvents: RunEvent[] | null, ahead?: ReportRecord): RunStory {
  const phase = phaseOf(run);
  const summary = run.summary === null ? null : clip(run.summary);
  const base = {
    runId: run.runId,
    action: run.action,
    source: run.source,
    requestId: run.requestId,
    phase,
    attempts: run.attempt,
    receivedAt: run.acceptedAt,
    startedAt: run.startedAt,
    endedAt: run.finishedAt,
    summary,
    report: reportOf(run.statusReport, ahead),
  };
  if (reportEvents === null) return { ...base, stack: null, events: [] };
  const events: RunEvent[] = [
    { at: run.acceptedAt, what: "received", detail: run.requestId ? `from ${run.source}, request ${run.requestId}` : `from ${run.source}` },
  ];
  if (run.startedAt !== null) events.push({ at: run.startedAt, what: "started", detail: `attempt ${run.attempt}` });
  if (run.finishedAt !== null) events.push({ at: run.finishedAt, what: "ended", detail: summary ? `${phase}: ${summary}` : phase });
  // Stable: at equal times, received, started, ended, then the reports in queue order.
  return { ...base, stack: run.stack ?? null, events: edges([...events, ...reportEvents].sort((x, y) => x.at - y.at)) };
}

/** The run's status report as the story tells it; not tried yet, the reason is that of the report it waits for. */
function reportOf(r: StatusReport | null, ahead: ReportRecord | undefined): RunReport | null {
  if (r === null) return null;
  if (r.state === "delivered") return { state: "delivered", reason: null };
  if (r.state === "failed") return { state: "refused", reason: clip(r.error ?? "no reason kept") };
  if (r.attempts > 0) return { state: "pending", reason: clip(r.error ?? "no answer") };
  return { state: "pending", reason: ahead ? clip(`${BEHIND} ${CALL_NAMES[ahead.call.kind]}: ${ahead.error ?? "no answer"}`) : null };
}

/** How the reason of a status report held behind an earlier report of its run begins. */
export const BEHIND = "behind the run's";

/**
 * A run's status in one line, never saying more than Port has: `SUCCESS`, `SUCCESS · report pending (401
 * unauthorized)`, `FAILURE · report refused (404 not_found)`. The console's lists and `cli runs list` show it.
 */
export function statusLine(story: Pick<RunStory, "phase" | "report">): string {
  const { report } = story;
  if (report === null || report.state === "delivered") return story.phase;
  return `${story.phase} · ${reportLine(report)}`;
}

/** `report pending`, `report pending (401 unauthorized)`, `report refused (404 not_found)`: Port's answer in brief. */
export function reportLine(report: RunReport): string {
  const brief = report.reason === null ? null : (/(?:^|: )Port answered (\d{3}(?: [\w.-]+)?):/.exec(report.reason)?.[1] ?? truncate(report.reason, 60));
  return `report ${report.state}${brief ? ` (${brief})` : ""}`;
}

function phaseOf(run: RunRecord): RunPhase {
  if (run.state === "pending") return "received";
  if (run.state === "running") return "running";
  return (RUN_PHASES as readonly string[]).includes(run.status ?? "") ? (run.status as RunPhase) : "FAILURE";
}

/** What each kind of report is, in the story. */
const CALL_NAMES: Record<PortCallKind, string> = {
  log: "logs",
  update: "status",
  response: "response",
  entity: "entity",
  entityUpdate: "entity update",
  entityDelete: "entity delete",
  entityBulk: "entities",
};

/** A report: what Port answered (a "port" event), then what it took (its log lines, its entities). */
function reportEvents(r: ReportRecord): RunEvent[] {
  const name = CALL_NAMES[r.call.kind];
  if (r.state === "pending") {
    const tried = r.attempts > 0 ? ` after ${r.attempts} attempts: ${r.error ?? "no answer"}` : "";
    return [{ at: r.createdAt, what: "port", detail: clip(`${name} not delivered yet${tried}`) }];
  }
  const at = r.settledAt ?? r.createdAt;
  if (r.state === "failed") return [{ at, what: "port", detail: clip(`${name} refused: ${r.error ?? "no reason kept"}`) }];
  const retried = r.attempts > 1 ? ` on attempt ${r.attempts}${r.error ? ` (before: ${r.error})` : ""}` : "";
  const out: RunEvent[] = [{ at, what: "port", detail: clip(`${name} delivered${retried}`) }];
  const { call } = r;
  const entity = (detail: string) => out.push({ at, what: "entity", detail: clip(detail) });
  if (call.kind === "log") for (const line of call.message.split("\n")) out.push({ at, what: "log", detail: clip(line) });
  else if (call.kind === "entity") entity(`${call.blueprint}/${call.entity.identifier}`);
  else if (call.kind === "entityUpdate") entity(`${call.blueprint}/${call.identifier} (updated)`);
  else if (call.kind === "entityDelete") entity(`${call.blueprint}/${call.identifier} (deleted)`);
  else if (call.kind === "entityBulk") for (const e of call.entities) entity(`${call.blueprint}/${e.identifier}`);
  return out;
}

/** A long text as its first and last characters, saying how many were left out. */
export function clip(text: string): string {
  if (text.length <= EVENT_EDGE_CHARS * 2 + 64) return text;
  return `${text.slice(0, EVENT_EDGE_CHARS)} […${text.length - EVENT_EDGE_CHARS * 2} characters not shown…] ${text.slice(-EVENT_EDGE_CHARS)}`;
}

/** A long story as its first and last events, with one saying how many were left out. */
function edges(events: RunEvent[]): RunEvent[] {
  if (events.length <= STORY_EDGE_EVENTS * 2) return events;
  const head = events.slice(0, STORY_EDGE_EVENTS);
  const tail = events.slice(-STORY_EDGE_EVENTS);
  const cut: RunEvent = {
    at: tail[0]?.at ?? 0,
    what: "cut",
    detail: `${events.length - STORY_EDGE_EVENTS * 2} events not shown (a story shows its first and last ${STORY_EDGE_EVENTS})`,
  };
  return [...head, cut, ...tail];
}
