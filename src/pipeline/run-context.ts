import * as v from "valibot";
import { formatIssues } from "../messages/issues.ts";
import { noRedaction, type Redactor } from "../messages/redact.ts";
import type { Run } from "../messages/views.ts";
import {
  BULK_ENTITIES_MAX,
  BlueprintIdSchema,
  type EntityDeleteOptions,
  EntityDeleteOptionsSchema,
  EntityIdentifierSchema,
  type EntityInput,
  EntityInputSchema,
  type EntityPatch,
  EntityPatchSchema,
  type EntityWriteOptions,
  EntityWriteOptionsSchema,
  type PortCall,
  type ReportInput,
} from "../port/calls.ts";
import type { RunContext } from "../targets/define.ts";

/**
 * Builds the `run` object a handler receives. Its Port calls (logs, entity writes) are collected in
 * order and written to the ledger's outbox in batches: at the latest together with the final status
 * (one transaction), earlier when the buffer grows or a flush interval passes, so long runs show their
 * logs in Port while they work. A crash loses at most the unflushed lines of a run that is then
 * reported as interrupted (or re-run).
 *
 * Arguments are checked when the handler calls, against the same schemas the ledger holds calls to, so a
 * bad one fails the handler with a TypeError naming the method and the field — never quoting the value —
 * instead of surfacing later as a report Port refused.
 *
 * Decrypted secret inputs never enter the buffer: every text of a call (log lines, entities' titles,
 * properties and relations, keys included) is redacted as the handler calls (see messages/redact.ts); a
 * blueprint or entity identifier that holds a secret cannot be written under a label, so that call throws.
 */
export interface RunCalls {
  context: RunContext;
  /** Takes the calls not yet written (in order). */
  take(): ReportInput[];
  /**
   * Takes the calls not yet written, for the finish, and refuses every later one: a handler still going
   * after its time limit (or one that returned without awaiting what it started) writes nothing more to
   * Port, whose run already has its final status. A later call is dropped and `onLate` told (once).
   */
  end(): ReportInput[];
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
  /** Hides the run's decrypted secret inputs (default: nothing to hide). */
  redact?: Redactor;
  /** The handler called `method` after its run ended (the first time only). */
  onLate?: (method: PortCall["kind"]) => void;
}

export function createRunContext(options: RunContextOptions): RunCalls {
  const { run } = options;
  const redact = options.redact ?? noRedaction;
  let pending: ReportInput[] = [];
  let ended = false;
  let toldLate = false;
  const push = (...calls: PortCall[]) => {
    if (ended) {
      if (!toldLate && calls[0]) options.onLate?.(calls[0].kind);
      toldLate = true;
      return;
    }
    for (const call of calls) pending.push({ runId: run.id, call: redactCall(call, redact) });
    if (pending.length >= options.flushAt) options.onFull();
  };
  /** A name Port files the write under: one holding a secret input cannot be sent, redacted or not. */
  const name = (method: string, argument: string, value: string | undefined) => {
    if (value !== undefined && redact.active && redact.text(value) !== value)
      throw new TypeError(`${method}: ${argument}: holds the value of a secret input, which portside never sends to Port`);
  };
  const names = (method: string, blueprint: string, identifiers: Array<[string, string | undefined]>) => {
    name(method, "blueprint", blueprint);
    for (const [argument, identifier] of identifiers) name(method, argument, identifier);
  };
  const context: RunContext = {
    ...run,
    attempt: options.attempt,
    signal: options.signal,
    async log(message: string) {
      push({ kind: "log", message: String(message) });
    },
    async upsertEntity(blueprint: string, entity: EntityInput, opts?: EntityWriteOptions) {
      const method = "upsertEntity";
      const call = {
        kind: "entity" as const,
        blueprint: check(method, "blueprint", BlueprintIdSchema, blueprint),
        entity: check(method, "entity", EntityInputSchema, entity),
        ...check(method, "options", EntityWriteOptionsSchema, opts ?? {}),
      };
      names(method, call.blueprint, [["entity.identifier", call.entity.identifier]]);
      push(call);
    },
    async updateEntity(blueprint: string, identifier: string, patch: EntityPatch, opts?: EntityWriteOptions) {
      const method = "updateEntity";
      const call = {
        kind: "entityUpdate" as const,
        blueprint: check(method, "blueprint", BlueprintIdSchema, blueprint),
        identifier: check(method, "identifier", EntityIdentifierSchema, identifier),
        patch: check(method, "patch", EntityPatchSchema, patch),
        ...check(method, "options", EntityWriteOptionsSchema, opts ?? {}),
      };
      names(method, call.blueprint, [
        ["identifier", call.identifier],
        ["patch.identifier", call.patch.identifier],
      ]);
      push(call);
    },
    async deleteEntity(blueprint: string, identifier: string, opts?: EntityDeleteOptions) {
      const method = "deleteEntity";
      const call = {
        kind: "entityDelete" as const,
        blueprint: check(method, "blueprint", BlueprintIdSchema, blueprint),
        identifier: check(method, "identifier", EntityIdentifierSchema, identifier),
        ...check(method, "options", EntityDeleteOptionsSchema, opts ?? {}),
      };
      names(method, call.blueprint, [["identifier", call.identifier]]);
      push(call);
    },
    async upsertEntities(blueprint: string, entities: EntityInput[], opts?: EntityWriteOptions) {
      const method = "upsertEntities";
      const bp = check(method, "blueprint", BlueprintIdSchema, blueprint);
      const list = check(method, "entities", v.array(EntityInputSchema), entities);
      const options = check(method, "options", EntityWriteOptionsSchema, opts ?? {});
      names(
        method,
        bp,
        list.map((e, i) => [`entities.${i}.identifier`, e.identifier]),
      );
      // Port takes at most 20 entities per bulk request: longer lists go as several, in order.
      const calls: PortCall[] = [];
      for (let i = 0; i < list.length; i += BULK_ENTITIES_MAX) {
        calls.push({ kind: "entityBulk", blueprint: bp, entities: list.slice(i, i + BULK_ENTITIES_MAX), ...options });
      }
      push(...calls);
    },
  };
  const take = () => {
    const taken = pending;
    pending = [];
    return taken;
  };
  return {
    context,
    take,
    end() {
      ended = true;
      return take();
    },
    putBack(calls) {
      pending = [...calls, ...pending];
    },
  };
}

/** A call's text redacted: its log line, and the values of its entities' fields (their own keys, and the call's, kept). */
function redactCall(call: PortCall, redact: Redactor): PortCall {
  if (!redact.active) return call;
  const fields = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).map(([k, value]) => [k, redact.value(value)])) as T;
  switch (call.kind) {
    case "log":
      return { ...call, message: redact.text(call.message) };
    case "entity":
      return { ...call, entity: fields(call.entity) };
    case "entityUpdate":
      return { ...call, patch: fields(call.patch) };
    case "entityBulk":
      return { ...call, entities: call.entities.map(fields) };
    default:
      // A delete holds names only, checked by the caller.
      return call;
  }
}

/**
 * The checked value, or a TypeError naming the method and the field: `upsertEntities: entities.3.identifier:
 * must be …` (paths and kinds of value only, never the value).
 */
function check<S extends v.GenericSchema>(method: string, argument: string, schema: S, value: unknown): v.InferOutput<S> {
  const checked = v.safeParse(v.object({ [argument]: schema }), { [argument]: value });
  if (checked.success) return checked.output[argument] as v.InferOutput<S>;
  throw new TypeError(`${method}: ${formatIssues(checked.issues)}`);
}
