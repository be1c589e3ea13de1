import type { Ledger } from "../../ledger/ledger.ts";
import type { Logger } from "../../log.ts";
import type { Change, Run } from "../../messages/views.ts";
import type { ExternalTarget, RunResult } from "../define.ts";
import { DEFERRED, type ExternalTargetRunner } from "../external.ts";
import { createBatcher, type SubmitOutcome } from "./batcher.ts";
import { changeEvent, runEvent, type EventDefaults, type PreparedEvent } from "./event.ts";
import type { Publisher } from "./publisher.ts";
import { readTarget } from "./target.ts";

/**
 * Runs EventBridge targets for the executor. A run is published, then reported SUCCESS (`status:
 * "published"`) or left IN_PROGRESS for the consumer (`status: "deferred"`); either way Port's run log
 * says which bus and event id. An event EventBridge will not take is never dropped quietly: a run is
 * parked and fails with the AWS error; a change fails and the executor parks it (with its source).
 */

export interface EventBridgeRunnerDeps {
  publisher: Publisher;
  ledger: Ledger;
  clock: () => number;
  logger: Logger;
  defaults: EventDefaults;
  maxRequestBytes: number;
  /** How long an event waits for others to share its PutEvents call (default 10 ms). */
  lingerMs?: number;
}

export interface EventBridgeRunner extends ExternalTargetRunner {
  /** Abandons publishing in progress (see `Publisher.close`). */
  close(): void;
}

/** The event was not published; the message says why in words for Port's run page. */
export class EventBridgeDeliveryError extends Error {
  override name = "EventBridgeDeliveryError";
  readonly retriable = false;
  constructor(
    message: string,
    /** AWS's error code, `TooLarge` or `InvalidTarget`. */
    readonly code: string,
    readonly idempotencyKey: string | null,
  ) {
    super(message);
  }
}

export const publishedLine = (bus: string, eventId: string) => `Published to EventBridge bus ${bus} as event ${eventId}`;

export function createEventBridgeRunner(deps: EventBridgeRunnerDeps): EventBridgeRunner {
  const batcher = createBatcher({ maxRequestBytes: deps.maxRequestBytes, lingerMs: deps.lingerMs ?? 10, send: (entries) => deps.publisher.putBatch(entries) });

  async function publish(event: PreparedEvent): Promise<{ eventId: string; attempts: number } | { error: EventBridgeDeliveryError }> {
    const outcome: SubmitOutcome = await batcher.submit(event.entry, event.bytes);
    const bus = event.entry.EventBusName;
    switch (outcome.type) {
      case "published":
        return { eventId: outcome.eventId, attempts: outcome.attempts };
      case "too_large":
        return {
          error: new EventBridgeDeliveryError(
            `the EventBridge event is ${outcome.bytes} bytes, over the ${outcome.limit}-byte PutEvents limit (EVENTBRIDGE_MAX_REQUEST_BYTES), so it was not sent; portside does not truncate events. Make the message smaller, or raise EVENTBRIDGE_MAX_REQUEST_BYTES if bus ${bus} accepts larger events`,
            "TooLarge",
            event.idempotencyKey,
          ),
        };
      case "rejected":
        return {
          error: new EventBridgeDeliveryError(
            `EventBridge bus ${bus} rejected the event: ${outcome.code}: ${outcome.message}`,
            outcome.code,
            event.idempotencyKey,
          ),
        };
      case "gave_up":
        return {
          error: new EventBridgeDeliveryError(
            `EventBridge bus ${bus} still answered ${outcome.code}: ${outcome.message} after ${outcome.attempts} attempts; the event was not published`,
            outcome.code,
            event.idempotencyKey,
          ),
        };
    }
  }

  function options(target: ExternalTarget) {
    const read = readTarget(target);
    if (!read.ok) throw new EventBridgeDeliveryError(read.reason, "InvalidTarget", null);
    return read.options;
  }

  return {
    async run(target: ExternalTarget, run: Run, log: (message: string) => Promise<void>): Promise<RunResult | typeof DEFERRED> {
      const opts = options(target);
      const event = runEvent(run, opts, deps.defaults);
      const logger = deps.logger.child({ runId: run.id, action: run.action });
      const result = await publish(event);
      if ("error" in result) {
        logger.warn("eventbridge.not_published", { bus: event.entry.EventBusName, code: result.error.code, reason: result.error.message });
        await park(run, result.error);
        throw result.error;
      }
      const line = publishedLine(event.entry.EventBusName, result.eventId);
      logger.info("eventbridge.published", {
        bus: event.entry.EventBusName,
        eventId: result.eventId,
        detailType: event.entry.DetailType,
        attempts: result.attempts,
        status: opts.status ?? "published",
      });
      await log(line);
      return opts.status === "deferred" ? DEFERRED : { summary: line };
    },

    async change(target: ExternalTarget, change: Change): Promise<void> {
      const event = changeEvent(change, options(target), deps.defaults);
      const result = await publish(event);
      const fields = { digest: change.digest, bus: event.entry.EventBusName, detailType: event.entry.DetailType };
      if ("error" in result) {
        // Thrown so the executor parks the record with its source and exact bytes (one dead letter per failure).
        deps.logger.warn("eventbridge.not_published", { ...fields, code: result.error.code, reason: result.error.message });
        throw result.error;
      }
      deps.logger.info("eventbridge.published", { ...fields, eventId: result.eventId, attempts: result.attempts });
    },

    close() {
      deps.publisher.close();
    },
  };

  /** Keyed like the executor's own parking (`failed:<work key>`), so a re-run after a crash parks once. */
  async function park(run: Run, error: EventBridgeDeliveryError) {
    try {
      await deps.ledger.commit(
        {
          records: [],
          deadLetters: [
            { key: `failed:run:${run.id}`, kind: "run", reason: error.message, source: "eventbridge", raw: JSON.stringify(run.raw), runId: run.id },
          ],
          reports: [],
        },
        deps.clock(),
      );
    } catch (cause) {
      // The run still fails with the reason; only the parked copy is missing, and the log says so.
      deps.logger.error("eventbridge.park_failed", { runId: run.id, error: cause });
    }
  }
}
