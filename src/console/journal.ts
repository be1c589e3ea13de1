import * as v from "valibot";
import type { PortCall } from "../port/calls.ts";

/**
 * The story of recent runs, for operators (the console and `GET /admin/runs`): when each was received and
 * by which way in, when it started and how often, what Port answered to each call about it, and how it
 * ended. It is this process's recent memory, not the ledger — bounded (the newest `capacity` runs), and
 * gone on restart; the ledger keeps what the guarantees need.
 */
export const RUN_PHASES = ["received", "running", "SUCCESS", "FAILURE", "DEFERRED"] as const;

export const RunEventSchema = v.object({
  at: v.number(),
  what: v.picklist(["received", "started", "ended", "port", "log", "entity"]),
  /** One line: the way in, the attempt, the status and reason, `<endpoint> <HTTP status>`, a log line Port took, an entity written. */
  detail: v.string(),
});

export const RunStorySchema = v.object({
  runId: v.string(),
  action: v.nullable(v.string()),
  source: v.nullable(v.string()),
  /** The sink request that brought it (its X-Request-Id), when it came that way. */
  requestId: v.nullable(v.string()),
  phase: v.picklist(RUN_PHASES),
  attempts: v.pipe(v.number(), v.integer(), v.minValue(0)),
  receivedAt: v.nullable(v.number()),
  startedAt: v.nullable(v.number()),
  endedAt: v.nullable(v.number()),
  /** The summary Port was told (for a FAILURE, why). */
  summary: v.nullable(v.string()),
  events: v.array(RunEventSchema),
});

export type RunStory = v.InferOutput<typeof RunStorySchema>;
export type RunPhase = (typeof RUN_PHASES)[number];

export interface RunFilter {
  action?: string;
  phase?: RunPhase;
  /** Received (or started) at or after, epoch ms. */
  since?: number;
  limit?: number;
}

export interface Journal {
  received(runId: string, source: string, requestId?: string): void;
  started(runId: string, action: string, attempt: number): void;
  ended(runId: string, action: string, status: string, summary: string | undefined): void;
  portCall(runId: string, endpoint: string, status: number | undefined): void;
  /** What Port took for the run: its log lines and the entities written (linked to the run). */
  delivered(runId: string, call: PortCall): void;
  /** Newest first. */
  list(filter?: RunFilter): RunStory[];
  get(runId: string): RunStory | undefined;
}

/** Events kept per run: a run that logs thousands of lines keeps its first and last ones. */
const MAX_EVENTS = 200;

export function createJournal(opts: { capacity?: number; clock?: () => number } = {}): Journal {
  const capacity = opts.capacity ?? 1_000;
  const clock = opts.clock ?? Date.now;
  // Insertion order is recency: a run touched again moves to the end.
  const runs = new Map<string, RunStory>();

  function touch(runId: string): RunStory {
    let story = runs.get(runId);
    if (story) runs.delete(runId);
    else
      story = {
        runId,
        action: null,
        source: null,
        requestId: null,
        phase: "received",
        attempts: 0,
        receivedAt: null,
        startedAt: null,
        endedAt: null,
        summary: null,
        events: [],
      };
    runs.set(runId, story);
    if (runs.size > capacity) runs.delete(runs.keys().next().value as string);
    return story;
  }

  function add(story: RunStory, what: v.InferOutput<typeof RunEventSchema>["what"], detail: string, at: number) {
    if (story.events.length >= MAX_EVENTS) story.events.splice(MAX_EVENTS / 2, 1);
    story.events.push({ at, what, detail });
  }

  return {
    received(runId, source, requestId) {
      const at = clock();
      const story = touch(runId);
      story.source = source;
      story.requestId = requestId ?? null;
      story.receivedAt ??= at;
      add(story, "received", requestId ? `from ${source}, request ${requestId}` : `from ${source}`, at);
    },
    started(runId, action, attempt) {
      const at = clock();
      const story = touch(runId);
      story.action = action;
      story.phase = "running";
      story.attempts = attempt;
      story.startedAt = at;
      add(story, "started", `attempt ${attempt}`, at);
    },
    ended(runId, action, status, summary) {
      const at = clock();
      const story = touch(runId);
      story.action = action;
      story.phase = (RUN_PHASES as readonly string[]).includes(status) ? (status as RunPhase) : "FAILURE";
      story.endedAt = at;
      story.summary = summary ?? null;
      add(story, "ended", summary ? `${status}: ${summary}` : status, at);
    },
    portCall(runId, endpoint, status) {
      const story = runs.get(runId);
      if (story) add(story, "port", `${endpoint} ${status ?? "no answer"}`, clock());
    },
    delivered(runId, call) {
      const story = runs.get(runId);
      if (!story) return;
      const at = clock();
      if (call.kind === "log") for (const line of call.message.split("\n")) add(story, "log", line, at);
      else if (call.kind === "entity") add(story, "entity", `${call.blueprint}/${call.entity.identifier}`, at);
      else if (call.kind === "entityUpdate") add(story, "entity", `${call.blueprint}/${call.identifier} (updated)`, at);
      else if (call.kind === "entityDelete") add(story, "entity", `${call.blueprint}/${call.identifier} (deleted)`, at);
      else if (call.kind === "entityBulk") for (const e of call.entities) add(story, "entity", `${call.blueprint}/${e.identifier}`, at);
    },
    list(filter = {}) {
      const out: RunStory[] = [];
      const limit = filter.limit ?? 100;
      for (const story of [...runs.values()].reverse()) {
        if (filter.action && story.action !== filter.action) continue;
        if (filter.phase && story.phase !== filter.phase) continue;
        if (filter.since !== undefined && (story.receivedAt ?? story.startedAt ?? 0) < filter.since) continue;
        out.push({ ...story, events: [] });
        if (out.length >= limit) break;
      }
      return out;
    },
    get: (runId) => {
      const story = runs.get(runId);
      return story ? structuredClone(story) : undefined;
    },
  };
}
