import * as v from "valibot";
import { formatIssues } from "../messages/issues.ts";
import type { Run } from "../messages/views.ts";
import { type EntityInput, EntityInputSchema, type ReportInput } from "../port/calls.ts";
import type { RunContext } from "../targets/define.ts";

/**
 * Builds the `run` object a handler receives. Its Port calls (logs, entity upserts) are collected in
 * order and written to the ledger's outbox in batches: at the latest together with the final status
 * (one transaction), earlier when the buffer grows or a flush interval passes, so long runs show their
 * logs in Port while they work. A crash loses at most the unflushed lines of a run that is then
 * reported as interrupted (or re-run).
 */
export interface RunCalls {
  context: RunContext;
  /** Takes the calls not yet written (in order). */
  take(): ReportInput[];
  /** Puts calls taken by a write that failed back in front of the buffer, so they are written later, in order. */
  putBack(calls: ReportInput[]): void;
}

export interface RunContextOptions {
  run: Run;
  attempt: number;
  signal: AbortSignal;
  /** Called when the buffer holds `flushAt` calls, so the owner can write them out early. */
  onFull: () => void;
  flushAt: number;
}

export function createRunContext(options: RunContextOptions): RunCalls {
  const { run } = options;
  let pending: ReportInput[] = [];
  const push = (report: ReportInput) => {
    pending.push(report);
    if (pending.length >= options.flushAt) options.onFull();
  };
  const context: RunContext = {
    ...run,
    attempt: options.attempt,
    signal: options.signal,
    async log(message: string) {
      push({ runId: run.id, call: { kind: "log", message: String(message) } });
    },
    async upsertEntity(blueprint: string, entity: EntityInput) {
      push({ runId: run.id, call: { kind: "entity", blueprint: checkBlueprint(blueprint), entity: checkEntity(entity) } });
    },
  };
  return {
    context,
    take() {
      const taken = pending;
      pending = [];
      return taken;
    },
    putBack(calls) {
      pending = [...calls, ...pending];
    },
  };
}

/** Checked when the handler calls, so a bad entity fails the handler with the field named, not the run's reports later. */
function checkEntity(entity: EntityInput): EntityInput {
  const checked = v.safeParse(EntityInputSchema, entity);
  if (!checked.success) throw new TypeError(`upsertEntity: entity ${formatIssues(checked.issues)}`);
  return checked.output;
}

function checkBlueprint(blueprint: string): string {
  if (typeof blueprint !== "string" || blueprint === "")
    throw new TypeError("upsertEntity(blueprint, entity) needs a blueprint identifier as its first argument");
  return blueprint;
}
