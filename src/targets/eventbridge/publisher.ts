import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import {
  EventBridgeClient,
  PutEventsCommand,
  type EventBridgeClientConfig,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from "@aws-sdk/client-eventbridge";
import type { Logger } from "../../log.ts";
import { backoffMs, type Random, type RetryPolicy } from "../../shared/retry.ts";
import { REMOTE_MESSAGE_MAX } from "../../shared/http-answer.ts";
import { truncate } from "../../shared/text.ts";
import type { TokenBucket } from "./rate-limit.ts";

/**
 * Sends one batch with PutEvents and sees every entry to a final outcome. PutEvents fails per entry
 * without throwing; only `ThrottlingException` and `InternalFailure` entries (and whole calls that were
 * throttled, 5xx or lost on the network) are sent again, with capped exponential backoff and jitter.
 * The SDK's own retries are off so this one policy decides. The caller's work item stays unfinished in
 * the ledger meanwhile, so a crash mid-retry loses nothing: the item is claimed again after its lease.
 */

/** The final fate of one entry. */
export type EntryOutcome =
  | { type: "published"; eventId: string; attempts: number }
  /** EventBridge refused it for good (`MalformedDetail`, `InvalidArgument`, `AccessDeniedException`, …). */
  | { type: "rejected"; code: string; message: string; attempts: number }
  /** Still throttled/failing when the retry time ran out. */
  | { type: "gave_up"; code: string; message: string; attempts: number };

/** Entry error codes worth sending again; every other code is permanent (the reference and the API docs). */
export const RETRIABLE_ENTRY_CODES: ReadonlySet<string> = new Set(["ThrottlingException", "InternalFailure"]);

const THROTTLING_CALL_ERRORS = new Set(["ThrottlingException", "Throttling", "TooManyRequestsException", "RequestThrottled", "RequestThrottledException"]);

/** Sends one PutEvents call; a seam so the client can be real (tests point it at a local endpoint). */
export type SendPutEvents = (entries: PutEventsRequestEntry[]) => Promise<{ Entries?: PutEventsResultEntry[] }>;

export interface PublisherDeps {
  send: SendPutEvents;
  limiter: TokenBucket;
  policy: RetryPolicy;
  /** Stop retrying an entry once this much time has passed since its batch was first sent. */
  retryForMs: number;
  clock: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: Random;
  logger: Logger;
  /** Counts entries as they are published, sent again, or given up on (for the metrics). */
  onEntries?: (outcome: "published" | "retried" | "parked", count: number) => void;
}

export interface Publisher {
  putBatch(entries: PutEventsRequestEntry[]): Promise<EntryOutcome[]>;
  /**
   * Stops all work, like a process that died: batches still retrying are abandoned (their promises never
   * settle), so nothing is reported for them and their work items are re-claimed after the lease.
   */
  close(): void;
}

/** A thrown PutEvents call, classified. */
export interface CallFailure {
  retriable: boolean;
  code: string;
  message: string;
}

export function createPublisher(deps: PublisherDeps): Publisher {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let closed = false;
  const abandoned = () => new Promise<never>(() => {});

  return {
    async putBatch(entries) {
      const outcomes: EntryOutcome[] = new Array(entries.length);
      const started = deps.clock();
      let pending = entries.map((_, i) => i);
      for (let attempt = 1; ; attempt++) {
        await deps.limiter.take();
        if (closed) return abandoned();
        const answer = await callOnce(
          deps.send,
          pending.map((i) => entries[i] as PutEventsRequestEntry),
        );
        if (closed) return abandoned();

        const retry: Array<{ index: number; code: string; message: string }> = [];
        pending.forEach((index, k) => {
          if (!answer.ok) {
            if (answer.failure.retriable) retry.push({ index, code: answer.failure.code, message: answer.failure.message });
            else outcomes[index] = { type: "rejected", code: answer.failure.code, message: answer.failure.message, attempts: attempt };
            return;
          }
          const result = answer.entries[k];
          if (result?.EventId) outcomes[index] = { type: "published", eventId: result.EventId, attempts: attempt };
          else {
            // A missing result entry means the answer was cut short: send it again.
            const code = truncate(result?.ErrorCode ?? "InternalFailure", AWS_CODE_MAX);
            const message = truncate(
              result?.ErrorMessage ?? (result ? "no error message" : "no result for this entry in the PutEvents answer"),
              REMOTE_MESSAGE_MAX,
            );
            if (RETRIABLE_ENTRY_CODES.has(code)) retry.push({ index, code, message });
            else outcomes[index] = { type: "rejected", code, message, attempts: attempt };
          }
        });
        const settled = pending.map((index) => outcomes[index]).filter((o) => o !== undefined);
        deps.onEntries?.("published", settled.filter((o) => o.type === "published").length);
        deps.onEntries?.("parked", settled.length - settled.filter((o) => o.type === "published").length);
        if (retry.length === 0) return outcomes;

        const delayMs = backoffMs(deps.policy, attempt, deps.random);
        if (deps.clock() - started + delayMs > deps.retryForMs || attempt >= deps.policy.maxAttempts) {
          for (const r of retry) outcomes[r.index] = { type: "gave_up", code: r.code, message: r.message, attempts: attempt };
          deps.onEntries?.("parked", retry.length);
          deps.logger.error("eventbridge.gave_up", { entries: retry.length, attempts: attempt, code: retry[0]?.code, retryForMs: deps.retryForMs });
          return outcomes;
        }
        deps.onEntries?.("retried", retry.length);
        deps.logger.warn("eventbridge.retrying", { attempt, entries: retry.length, of: entries.length, code: retry[0]?.code, wholeCall: !answer.ok, delayMs });
        await sleep(delayMs);
        if (closed) return abandoned();
        pending = retry.map((r) => r.index);
      }
    },
    close() {
      closed = true;
    },
  };
}

type Answer = { ok: true; entries: PutEventsResultEntry[] } | { ok: false; failure: CallFailure };

async function callOnce(send: SendPutEvents, entries: PutEventsRequestEntry[]): Promise<Answer> {
  try {
    const output = await send(entries);
    return { ok: true, entries: output.Entries ?? [] };
  } catch (error) {
    return { ok: false, failure: classifyCallError(error) };
  }
}

/** The most of an AWS error's code kept (its message: REMOTE_MESSAGE_MAX), whatever answered at the endpoint. */
const AWS_CODE_MAX = 100;

/**
 * A whole PutEvents call that threw: throttling, 5xx, network and credential trouble are worth another
 * try; AWS's other client errors (access denied, bad signature, validation) and a missing region are not.
 */
export function classifyCallError(error: unknown): CallFailure {
  const e = (error ?? {}) as {
    name?: unknown;
    message?: unknown;
    $fault?: unknown;
    $metadata?: { httpStatusCode?: number };
    $retryable?: { throttling?: boolean };
  };
  const code = truncate(typeof e.name === "string" ? e.name : "Error", AWS_CODE_MAX);
  const message = truncate(typeof e.message === "string" ? e.message : String(error), REMOTE_MESSAGE_MAX);
  const status = e.$metadata?.httpStatusCode;
  if (THROTTLING_CALL_ERRORS.has(code) || e.$retryable?.throttling === true || status === 429) return { retriable: true, code, message };
  if ((status !== undefined && status >= 500) || e.$fault === "server") return { retriable: true, code, message };
  if (e.$fault === "client") return { retriable: false, code, message };
  // No region is a configuration fact; a credential failure may be a passing IMDS/STS hiccup, so it is retried.
  if (/region is missing/i.test(message)) return { retriable: false, code, message: `${message}: set AWS_REGION` };
  if (code === "CredentialsProviderError") return { retriable: true, code, message: `${message} (see the AWS SDK's default credential provider chain)` };
  return { retriable: true, code, message };
}

export interface ClientSettings {
  region: string | null;
  endpoint: string | null;
  /** Leave unset for the SDK's default provider chain (env, SSO, profile, web identity, ECS, EC2). */
  credentials?: EventBridgeClientConfig["credentials"];
  requestTimeoutMs?: number;
}

/** How long one PutEvents call may take before it counts as lost (and is sent again). */
export const PUT_EVENTS_TIMEOUT_MS = 10_000;

/** The SDK client: default credential chain, region and endpoint from settings, SDK retries off. */
export function createEventBridgeClient(settings: ClientSettings): EventBridgeClient {
  const requestTimeout = settings.requestTimeoutMs ?? PUT_EVENTS_TIMEOUT_MS;
  return new EventBridgeClient({
    ...(settings.region ? { region: settings.region } : {}),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    // One attempt per send: the publisher retries only what may be retried, while the lease is held.
    maxAttempts: 1,
    // On Bun and Deno the runtime's own fetch carries the calls: about a quarter less CPU per call than
    // their emulation of node:http (test/bench/NOTES.md). On Node the SDK's default handler stays.
    requestHandler: nativeFetch() ? new FetchHttpHandler({ requestTimeout }) : { requestTimeout, connectionTimeout: 3_000 },
  });
}

/**
 * The region EventBridge calls would go to: AWS_REGION (the setting), else what the SDK finds itself (a
 * profile in ~/.aws/config; it does not read AWS_DEFAULT_REGION); null when there is none, and every call
 * would fail with "Region is missing".
 */
export async function eventBridgeRegion(settings: Pick<ClientSettings, "region">): Promise<string | null> {
  if (settings.region) return settings.region;
  try {
    return (await createEventBridgeClient({ region: null, endpoint: null }).config.region()) || null;
  } catch {
    return null;
  }
}

/** Bun and Deno: their own fetch carries PutEvents (the SDK's on Node). */
export const nativeFetch = () => "Bun" in globalThis || "Deno" in globalThis;

/** `SendPutEvents` over a real client. */
export const sendWith =
  (client: EventBridgeClient): SendPutEvents =>
  (entries) =>
    client.send(new PutEventsCommand({ Entries: entries }));
