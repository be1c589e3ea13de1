import type * as v from "valibot";
import { secretInputNames } from "../actions/inputs.ts";
import type { ActionSpecs } from "../actions/spec.ts";
import { loadConfig } from "../config.ts";
import { isNodeRunId, type RecordedCall } from "../emulator/port-emulator-state.ts";
import { createMemoryLedger } from "../ledger/memory.ts";
import { createLogger } from "../log.ts";
import { parseRecord } from "../messages/body.ts";
import { ADDRESSABLE_RUN_ID } from "../messages/run-schemas.ts";
import type { PortEntity, RunOperation } from "../messages/views.ts";
import { createService } from "../service.ts";
import { type AnyHandlerModule, checkHandlerModule, createRegistry } from "../targets/registry.ts";
import { inProcessPort } from "./emulated-port.ts";
import { legacyRunMessage } from "./run-message.ts";
import { encryptAsPort } from "./secrets.ts";

/**
 * `invoke`: one action's handler run once, in this process, through portside's own pipeline — the message
 * Port would publish is ingested into a memory ledger, the executor runs the handler with the same run
 * context, input checks (the module's `actions`), secret-input decryption and redaction, time limit and
 * result checks as in production, and the reporter tells an in-process Port emulator; what the emulator
 * recorded is the answer. Each call has a service, a ledger and an emulator of its own, so calls are
 * independent and can run concurrently. Web standards only: it runs under `bun test` and `deno test`.
 */

type SpecsOf<M> = M extends { actions: infer A extends ActionSpecs } ? A : never;

/** The actions `invoke` takes for a module: those of its `actions` when it is typed, else any string. */
export type InvokableAction<M> = [SpecsOf<M>] extends [never] ? string : keyof SpecsOf<M> & string;

/** The inputs `invoke` takes for an action: what its schema accepts (`v.InferInput`) when the module is typed, else a record. */
export type InvokeInputs<M, K> = [SpecsOf<M>] extends [never]
  ? Record<string, unknown>
  : K extends keyof SpecsOf<M>
    ? SpecsOf<M>[K]["inputs"] extends infer S extends v.GenericSchema
      ? unknown extends v.InferInput<S>
        ? Record<string, unknown>
        : v.InferInput<S>
      : Record<string, unknown>
    : never;

export interface InvokeUser {
  id?: string;
  email?: string;
  firstName?: string;
  lastName?: string;
}

interface InvokeBase {
  /** The entity the action runs on: its identifier, or the entity as Port sends it (properties and all). None: a CREATE. */
  entity?: string | PortEntity | null;
  /** The action's blueprint. Default: the typed action's, else the entity's. */
  blueprint?: string | null;
  /** Who triggered it: an email, or the user. Default: developer@example.com. */
  user?: string | InvokeUser;
  /**
   * Inputs Port encrypts (marked secret in the action): encrypted as Port would before the run goes in, so the
   * handler sees them decrypted and what it sends to Port has them redacted. A typed module's secret inputs
   * (`portInputs.secret`) are always encrypted.
   */
  secretInputs?: string[];
  /** Default: the typed action's operation, else DAY-2 with an entity and CREATE without. */
  operation?: RunOperation;
  /** Default: a fresh `r_…` id. */
  runId?: string;
  /** Default: org_portside_invoke. */
  orgId?: string;
}

/** `invoke`'s options: `inputs` required when the action's schema requires some. */
export type InvokeOptions<I = Record<string, unknown>> = InvokeBase & (NoneRequired<I> extends true ? { inputs?: I } : { inputs: I });

/** Whether every key of `I` is optional (an empty object fits it). */
type NoneRequired<I> = Record<never, never> extends I ? true : false;

/** An entity the run wrote, as it stands at the end of the run (a deleted one: only its identity). */
export interface InvokedEntity {
  blueprint: string;
  identifier: string;
  /** UPDATE or DELETE; absent for a create or upsert. */
  operation?: "UPDATE" | "DELETE";
  title?: string | null;
  icon?: string | null;
  team?: string | string[];
  properties?: Record<string, unknown>;
  relations?: Record<string, unknown>;
}

/** The run as the emulator shows it (`GET /emulator/runs`). */
export interface EmulatedRunView {
  id: string;
  status: "IN_PROGRESS" | "SUCCESS" | "FAILURE";
  summary?: string;
  link?: string | string[];
  externalRunId?: string;
  statusLabel?: string;
  logs: { message: string; createdAt: string; terminationStatus?: string; statusLabel?: string }[];
  linkedEntities: { blueprint: string; identifier: string; operation?: "UPDATE" | "DELETE" }[];
  [field: string]: unknown;
}

export interface InvokeResult {
  status: "SUCCESS" | "FAILURE";
  summary: string | null;
  link: string | string[] | null;
  externalRunId: string | null;
  statusLabel: string | null;
  /** The run's log in Port, line by line. */
  logs: string[];
  /** The entities written and linked to the run, in the order written. */
  entities: InvokedEntity[];
  runId: string;
  /** The emulator's view of the run. */
  run: EmulatedRunView;
  /** Every call portside made to Port (the emulator) for this run, the token request included. */
  calls: RecordedCall[];
  /** portside's own log lines (JSON, info and up) while it ran: where to look when a run ends in an internal error. */
  serviceLogs: string[];
}

/** `invoke` could not run the handler: no handler for the action, a module that is not one, a run that never ended. */
export class InvokeError extends Error {
  override name = "InvokeError";
}

/** Runs `action`'s handler of `module` once, through the pipeline, against an in-process Port emulator. */
export async function invoke<const M extends AnyHandlerModule, K extends InvokableAction<M>>(
  module: M,
  action: K,
  ...[options]: NoneRequired<InvokeInputs<M, K>> extends true ? [options?: InvokeOptions<InvokeInputs<M, K>>] : [options: InvokeOptions<InvokeInputs<M, K>>]
): Promise<InvokeResult> {
  return invokeHandler(module, action, (options ?? {}) as InvokeOptions, { source: "the handler module" });
}

/** `invoke` without the types, for callers that only know the action at run time (the CLI). */
export async function invokeHandler(module: unknown, action: string, options: InvokeOptions, where: { source: string }): Promise<InvokeResult> {
  const checked = checkHandlerModule(module, where.source);
  const registry = createRegistry(checked, where.source);
  const route = registry.forRun(action);
  if (route.type === "missing") {
    const known = registry.actions.length > 0 ? `it has ${registry.actions.map((a) => `"${a}"`).join(", ")}` : "it has none";
    throw new InvokeError(`no handler for action "${action}" in ${where.source} (${known}); add runs["${action}"] or invoke one of those`);
  }
  if (route.type === "external") {
    throw new InvokeError(`action "${action}" goes to a target (kind "${route.target.kind}"), not to code in ${where.source}; invoke runs handlers only`);
  }
  const specs: ActionSpecs = "actions" in checked && checked.actions ? checked.actions : {};
  const spec = Object.hasOwn(specs, action) ? specs[action] : undefined;

  // Keys of this call only: the client secret is the key of secret inputs, as the organisation's is in Port.
  const clientSecret = randomHex(32);
  const config = loadConfig({
    ORG_ID: options.orgId ?? "org_portside_invoke",
    SINK_TOKEN: randomHex(16),
    PORT_CLIENT_ID: "portside-invoke",
    PORT_CLIENT_SECRET: clientSecret,
    LEDGER: "memory",
  });
  const { emulator, port, fetch } = inProcessPort(config);
  const ledger = createMemoryLedger();
  const serviceLogs: string[] = [];
  const service = createService({
    config,
    ledger,
    registry,
    logger: createLogger({ level: "info", sink: (line) => serviceLogs.push(line) }),
    port,
    fetch,
  });
  try {
    const runId = options.runId ?? `r_${randomHex(8)}`;
    if (!ADDRESSABLE_RUN_ID.test(runId) || isNodeRunId(runId)) {
      throw new InvokeError(`runId "${runId}" is not an action run id Port would issue; give one like r_deploy_1 (letters, digits, _ . -)`);
    }
    const inputs: Record<string, unknown> = { ...(options.inputs ?? {}) };
    const secret = [...new Set([...(options.secretInputs ?? []), ...(spec?.inputs ? secretInputNames(spec.inputs) : [])])].filter(
      (name) => inputs[name] !== undefined && inputs[name] !== null,
    );
    const inputTypes: Record<string, string> = {};
    for (const name of secret) {
      const value = inputs[name];
      if (typeof value !== "string") inputTypes[name] = "object";
      inputs[name] = await encryptAsPort(typeof value === "string" ? value : JSON.stringify(value), clientSecret);
    }
    const operation = options.operation ?? spec?.operation ?? undefined;
    const message = legacyRunMessage({
      runId,
      action,
      orgId: config.orgId,
      entity: options.entity ?? null,
      blueprint: options.blueprint ?? spec?.blueprint ?? (typeof options.entity === "object" ? options.entity?.blueprint : null) ?? null,
      inputs,
      secretInputs: secret,
      inputTypes,
      ...(operation ? { operation } : {}),
      user: typeof options.user === "string" ? { email: options.user } : (options.user ?? { id: "portside-invoke", email: "developer@example.com" }),
    });
    // As Port does when someone triggers an action: the run exists before its message is published.
    emulator.state.declareRun(runId);
    await service.ingest("run", [parseRecord(JSON.stringify(message))], "invoke");
    await service.runToIdle();

    const listed = (await (await emulator.app.request("/emulator/runs")).json()) as { runs: EmulatedRunView[] };
    const run = listed.runs.find((r) => r.id === runId);
    if (!run || run.status === "IN_PROGRESS") {
      const last = serviceLogs.slice(-3).join("\n");
      throw new InvokeError(`the run of "${action}" did not end (portside's last log lines follow)${last ? `:\n${last}` : ""}`);
    }
    return {
      status: run.status,
      summary: run.summary ?? null,
      link: run.link ?? null,
      externalRunId: run.externalRunId ?? null,
      statusLabel: run.statusLabel ?? null,
      // portside sends a run's consecutive lines to Port together, one per line of a log entry.
      logs: run.logs.flatMap((log) => log.message.split("\n")),
      entities: run.linkedEntities.map((linked) => {
        const stored = linked.operation === "DELETE" ? undefined : emulator.state.entity(linked.blueprint, linked.identifier);
        if (!stored) return { ...linked };
        const { blueprint: _b, identifier: _i, ...content } = stored;
        return { ...linked, ...content };
      }),
      runId,
      run,
      calls: [...emulator.state.calls],
      serviceLogs,
    };
  } finally {
    await service.stop(0);
    await ledger.close();
  }
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}
