import type { Config } from "../../config.ts";
import type { Ledger } from "../../ledger/ledger.ts";
import type { Logger } from "../../log.ts";
import { type RetryPolicy, retryPolicies } from "../../shared/retry.ts";
import { sendDirect } from "./direct.ts";
import {
  createEventBridgeClient,
  createPublisher,
  nativeFetch,
  PUT_EVENTS_TIMEOUT_MS,
  sendWith,
  type ClientSettings,
  type SendPutEvents,
} from "./publisher.ts";
import { createTokenBucket } from "./rate-limit.ts";
import { createEventBridgeRunner, type EventBridgeRunner } from "./runner.ts";
import { EVENTBRIDGE_KIND } from "./target.ts";

/** Amazon EventBridge fan-out: `eventBridge()` targets, routes files, and the runner behind them. */
export { eventBridge, EVENTBRIDGE_KIND, EventBridgeOptionsSchema, type EventBridgeOptions, type EventBridgeTarget } from "./target.ts";
export { changeDetailType, entryBytes, runDetailType, type ChangeDetail, type RunDetail } from "./event.ts";
export { EventBridgeDeliveryError, publishedLine, type EventBridgeRunner } from "./runner.ts";
export { eventBridgeRegion } from "./publisher.ts";

/** Backoff for throttled entries: quick at first, capped so a long throttle is probed every 10 s. */

export interface EventBridgeTargetDeps {
  ledger: Ledger;
  logger: Logger;
  clock?: () => number;
  /** Explicit credentials (tests, local endpoints); production leaves this to the default provider chain. */
  credentials?: ClientSettings["credentials"];
  /** Replaces the SDK client entirely (tests of the publishing logic without HTTP). */
  send?: SendPutEvents;
  retryPolicy?: RetryPolicy;
  lingerMs?: number;
  /** Entries published, sent again, or given up on (the service's metrics). */
  onEntries?: (outcome: "published" | "retried" | "parked", count: number) => void;
}

/**
 * The executor's runners for non-code targets, keyed by `kind`, built from the configuration. Pass the
 * result as `targets` to `createService`. The SDK client is created here but connects only on first use,
 * so a deployment with no EventBridge targets never needs AWS credentials.
 */
export function createEventBridgeTargets(config: Config, deps: EventBridgeTargetDeps): { [EVENTBRIDGE_KIND]: EventBridgeRunner } {
  const settings = config.eventBridge;
  const clock = deps.clock ?? Date.now;
  const client = () =>
    createEventBridgeClient({ region: settings.region, endpoint: settings.endpoint, ...(deps.credentials ? { credentials: deps.credentials } : {}) });
  // On Bun and Deno one signed fetch per call (direct.ts); on Node (AWS Lambda) the SDK's own send.
  const send = deps.send ?? (nativeFetch() ? sendDirect(client(), PUT_EVENTS_TIMEOUT_MS) : sendWith(client()));
  const publisher = createPublisher({
    send,
    limiter: createTokenBucket({ ratePerSecond: settings.putEventsPerSecond, clock, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) }),
    policy: deps.retryPolicy ?? retryPolicies.eventBridge,
    // Give up before the executor's handler timeout would, so the run fails with EventBridge's own reason.
    retryForMs: Math.min(settings.retryForMs, Math.floor(config.handlerTimeoutMs * 0.9)),
    clock,
    logger: deps.logger,
    ...(deps.onEntries ? { onEntries: deps.onEntries } : {}),
  });
  const runner = createEventBridgeRunner({
    publisher,
    ledger: deps.ledger,
    clock,
    logger: deps.logger,
    defaults: { bus: settings.bus, source: settings.source },
    maxRequestBytes: settings.maxRequestBytes,
    ...(deps.lingerMs !== undefined ? { lingerMs: deps.lingerMs } : {}),
  });
  return { [EVENTBRIDGE_KIND]: runner };
}
