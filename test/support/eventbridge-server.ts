import type { Config } from "../../src/config.ts";
import type { Ledger } from "../../src/ledger/ledger.ts";
import type { Feed } from "../../src/observe/events.ts";
import type { Logger } from "../../src/log.ts";
import { createEventBridgeTargets } from "../../src/targets/eventbridge/index.ts";

/**
 * A local stand-in for Amazon EventBridge that speaks the PutEvents wire protocol (AWS JSON 1.1 over
 * `POST /`), so tests run the real AWS SDK — signing, serialising, parsing — against loopback. It records
 * every call and entry and plays scripted faults. It is NOT EventBridge: it checks that requests are
 * signed, not that the signatures are right, and it has no rules or targets.
 */

export interface ReceivedEntry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  EventBusName?: string;
  /** Epoch seconds, as the SDK sends it. */
  Time?: number;
  Resources?: string[];
}

export interface PublishedEvent extends ReceivedEntry {
  eventId: string;
  /** `Detail`, parsed. */
  detail: Record<string, unknown>;
}

export interface RecordedCall {
  entries: ReceivedEntry[];
  status: number;
  /** Per entry: the event id or the error code answered. */
  results: string[];
}

export interface EventBridgeServer {
  url: string;
  calls: RecordedCall[];
  /** Accepted entries, in order. */
  published: PublishedEvent[];
  /** Calls that reached the per-entry stage (not faulted as a whole), by entry count. */
  batchSizes(): number[];
  /** Answers ThrottlingException to the first `attempts` tries of each entry that matches (Infinity: until cleared). */
  throttleEntries(attempts: number, match?: (entry: ReceivedEntry) => boolean): void;
  /** Answers `code` (e.g. MalformedDetail) to every entry that matches. */
  rejectEntries(code: string, message: string, match: (entry: ReceivedEntry) => boolean): void;
  /** Fails the next `count` calls as a whole with this HTTP status (500: InternalException). */
  failNextCalls(count: number, status?: number): void;
  clearFaults(): void;
  /** How many times entries matching `match` were received (tries, not distinct entries). */
  triesOf(match: (entry: ReceivedEntry) => boolean): number;
  stop(): void;
}

const JSON_11 = { "content-type": "application/x-amz-json-1.1" };
const answer = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: JSON_11 });
const awsError = (status: number, type: string, message: string) => answer(status, { __type: type, message });

export function startEventBridgeServer(options: { maxRequestBytes?: number } = {}): EventBridgeServer {
  const maxRequestBytes = options.maxRequestBytes ?? 256 * 1024;
  const calls: RecordedCall[] = [];
  const published: PublishedEvent[] = [];
  const tries = new Map<string, number>();
  let throttles: Array<{ attempts: number; match: (e: ReceivedEntry) => boolean }> = [];
  let rejects: Array<{ code: string; message: string; match: (e: ReceivedEntry) => boolean }> = [];
  let callFaults: number[] = [];
  const received: ReceivedEntry[] = [];

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      if (request.method !== "POST" || new URL(request.url).pathname !== "/") return awsError(404, "UnknownOperationException", "POST / only");
      if (request.headers.get("x-amz-target") !== "AWSEvents.PutEvents")
        return awsError(400, "UnknownOperationException", `unsupported X-Amz-Target ${request.headers.get("x-amz-target")}`);
      if (!request.headers.get("content-type")?.startsWith("application/x-amz-json-1.1"))
        return awsError(400, "SerializationException", "Content-Type must be application/x-amz-json-1.1");
      if (!request.headers.get("authorization")?.startsWith("AWS4-HMAC-SHA256 Credential="))
        return awsError(403, "MissingAuthenticationTokenException", "Request is missing Authentication Token");
      const body = (await request.json()) as { Entries?: ReceivedEntry[] };
      const entries = body.Entries ?? [];
      received.push(...entries);
      const fault = callFaults.shift();
      if (fault !== undefined) {
        calls.push({ entries, status: fault, results: [] });
        return awsError(fault, fault >= 500 ? "InternalException" : "ThrottlingException", "scripted whole-call failure");
      }
      if (entries.length < 1 || entries.length > 10)
        return record(entries, awsError(400, "ValidationException", `1 to 10 entries per call, got ${entries.length}`));
      const total = entries.reduce((sum, e) => sum + sizeOf(e), 0);
      if (total > maxRequestBytes)
        return record(
          entries,
          awsError(400, "ValidationException", `Total size of the entries in the request (${total}) is over the limit (${maxRequestBytes})`),
        );

      const results = entries.map((entry) => {
        const key = `${entry.EventBusName}|${entry.DetailType}|${entry.Detail}`;
        const attempt = (tries.get(key) ?? 0) + 1;
        tries.set(key, attempt);
        const reject = rejects.find((r) => r.match(entry));
        if (reject) return { ErrorCode: reject.code, ErrorMessage: reject.message };
        if (throttles.some((t) => t.match(entry) && attempt <= t.attempts)) return { ErrorCode: "ThrottlingException", ErrorMessage: "Rate exceeded" };
        const eventId = crypto.randomUUID();
        published.push({ ...entry, eventId, detail: JSON.parse(entry.Detail ?? "null") as Record<string, unknown> });
        return { EventId: eventId };
      });
      const failed = results.filter((r) => "ErrorCode" in r).length;
      return record(
        entries,
        answer(200, { FailedEntryCount: failed, Entries: results }),
        results.map((r) => ("EventId" in r ? (r.EventId as string) : r.ErrorCode)),
      );
    },
  });

  function record(entries: ReceivedEntry[], response: Response, results: string[] = []) {
    calls.push({ entries, status: response.status, results });
    return response;
  }

  return {
    url: `http://127.0.0.1:${server.port}`,
    calls,
    published,
    batchSizes: () => calls.filter((c) => c.status === 200).map((c) => c.entries.length),
    throttleEntries: (attempts, match = () => true) => void throttles.push({ attempts, match }),
    rejectEntries: (code, message, match) => void rejects.push({ code, message, match }),
    failNextCalls: (count, status = 500) => void callFaults.push(...Array.from({ length: count }, () => status)),
    clearFaults() {
      throttles = [];
      rejects = [];
      callFaults = [];
    },
    triesOf: (match) => received.filter(match).length,
    stop: () => void server.stop(true),
  };
}

const encoder = new TextEncoder();
/** EventBridge's entry size rule, written out again here so the test server checks portside's arithmetic. */
function sizeOf(entry: ReceivedEntry): number {
  const bytes = (s: string | undefined) => (s ? encoder.encode(s).length : 0);
  return (
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((n, r) => n + bytes(r), 0) +
    (entry.Time !== undefined ? 14 : 0)
  );
}

/** `Detail.idempotencyKey` of an entry (the run id for runs). */
export const keyOf = (entry: ReceivedEntry): string | undefined => (JSON.parse(entry.Detail ?? "{}") as { idempotencyKey?: string }).idempotencyKey;

/** Settings that point portside at the server (no real AWS, quick retries). */
export const eventBridgeEnv = (server: EventBridgeServer, extra: Record<string, string> = {}): Record<string, string> => ({
  AWS_REGION: "eu-west-1",
  EVENTBRIDGE_ENDPOINT: server.url,
  EVENTBRIDGE_BUS: "portside-test",
  EVENTBRIDGE_PUT_EVENTS_PER_SECOND: "10000",
  ...extra,
});

/** The harness's `targets` option: the real runner and SDK, dummy credentials, millisecond backoff. */
export const eventBridgeTargets =
  (opts: { lingerMs?: number } = {}) =>
  (deps: { config: Config; ledger: Ledger; logger: Logger; feed?: Feed }) =>
    createEventBridgeTargets(deps.config, {
      ledger: deps.ledger,
      logger: deps.logger,
      ...(deps.feed ? { onEntries: (outcome, count) => deps.feed?.emit("eventBridgeEntries", { outcome, count }) } : {}),
      credentials: { accessKeyId: "AKIDPORTSIDETEST", secretAccessKey: "portside-test-secret" },
      retryPolicy: { initialMs: 1, maxMs: 5, factor: 2, maxAttempts: Infinity },
      lingerMs: opts.lingerMs ?? 20,
    });
