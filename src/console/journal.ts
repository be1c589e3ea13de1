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

/**
 * A story as kept: when it was received, started (its latest attempt) and ended are fields; what Port
 * answered and took is stored flat, four slots an event (when, what, and two values that exist anyway: the
 * endpoint and its status, the log line), and turned into sentences only when read. Every run passes
 * through the journal, so what it allocates per run is what a burst of 100,000 runs costs in garbage.
 */
type Kept = Omit<RunStory, "events"> & { ev: Array<string | number | null> };
type What = v.InferOutput<typeof RunEventSchema>["what"];
const WHAT: readonly What[] = ["received", "started", "ended", "port", "log", "entity"];

export function createJournal(opts: { capacity?: number; clock?: () => number } = {}): Journal {
  const capacity = opts.capacity ?? 1_000;
  const clock = opts.clock ?? Date.now;
  // Insertion order: the run first seen longest ago goes first when the journal is full.
  const runs = new Map<string, Kept>();

  function story(runId: string): Kept {
    let kept = runs.get(runId);
    if (kept) return kept;
    kept = {
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
      ev: [],
    };
    runs.set(runId, kept);
    if (runs.size > capacity) runs.delete(runs.keys().next().value as string);
    return kept;
  }

  function add(kept: Kept, what: What, a: string | number | null, b: string | number | null, at: number) {
    if (kept.ev.length >= MAX_EVENTS * 4) kept.ev.splice((MAX_EVENTS / 2) * 4, 4);
    kept.ev.push(at, WHAT.indexOf(what), a, b);
  }

  /** The story's events in time order: received, started and ended come from its fields, the rest from `ev`. */
  function events(kept: Kept): RunStory["events"] {
    const out: RunStory["events"] = [];
    if (kept.receivedAt !== null)
      out.push({ at: kept.receivedAt, what: "received", detail: kept.requestId ? `from ${kept.source}, request ${kept.requestId}` : `from ${kept.source}` });
    if (kept.startedAt !== null) out.push({ at: kept.startedAt, what: "started", detail: `attempt ${kept.attempts}` });
    if (kept.endedAt !== null) out.push({ at: kept.endedAt, what: "ended", detail: kept.summary ? `${kept.phase}: ${kept.summary}` : kept.phase });
    for (let i = 0; i < kept.ev.length; i += 4) {
      const [at, code, a, b] = [kept.ev[i] as number, kept.ev[i + 1] as number, kept.ev[i + 2], kept.ev[i + 3]];
      const what = WHAT[code] ?? "log";
      out.push({ at, what, detail: what === "port" ? `${a} ${b ?? "no answer"}` : String(a) });
    }
    // Stable: at equal times, the order above (received, started, ended, then as they came).
    return out.sort((x, y) => x.at - y.at);
  }

  const view = (kept: Kept, withEvents: boolean): RunStory => {
    const { ev: _ev, ...rest } = kept;
    return { ...rest, events: withEvents ? events(kept) : [] };
  };

  return {
    received(runId, source, requestId) {
      const at = clock();
      const kept = story(runId);
      kept.source = source;
      kept.requestId = requestId ?? null;
      kept.receivedAt ??= at;
    },
    started(runId, action, attempt) {
      const at = clock();
      const kept = story(runId);
      kept.action = action;
      kept.phase = "running";
      kept.attempts = attempt;
      kept.startedAt = at;
    },
    ended(runId, action, status, summary) {
      const at = clock();
      const kept = story(runId);
      kept.action = action;
      kept.phase = (RUN_PHASES as readonly string[]).includes(status) ? (status as RunPhase) : "FAILURE";
      kept.endedAt = at;
      kept.summary = summary ?? null;
    },
    portCall(runId, endpoint, status) {
      const kept = runs.get(runId);
      if (kept) add(kept, "port", endpoint, status ?? null, clock());
    },
    delivered(runId, call) {
      const kept = runs.get(runId);
      if (!kept) return;
      const at = clock();
      if (call.kind === "log") for (const line of call.message.split("\n")) add(kept, "log", line, null, at);
      else if (call.kind === "entity") add(kept, "entity", `${call.blueprint}/${call.entity.identifier}`, null, at);
      else if (call.kind === "entityUpdate") add(kept, "entity", `${call.blueprint}/${call.identifier} (updated)`, null, at);
      else if (call.kind === "entityDelete") add(kept, "entity", `${call.blueprint}/${call.identifier} (deleted)`, null, at);
      else if (call.kind === "entityBulk") for (const e of call.entities) add(kept, "entity", `${call.blueprint}/${e.identifier}`, null, at);
    },
    list(filter = {}) {
      const out: RunStory[] = [];
      const limit = filter.limit ?? 100;
      for (const story of [...runs.values()].reverse()) {
        if (filter.action && story.action !== filter.action) continue;
        if (filter.phase && story.phase !== filter.phase) continue;
        if (filter.since !== undefined && (story.receivedAt ?? story.startedAt ?? 0) < filter.since) continue;
        out.push(view(story, false));
        if (out.length >= limit) break;
      }
      return out;
    },
    get: (runId) => {
      const kept = runs.get(runId);
      return kept ? view(kept, true) : undefined;
    },
  };
}
