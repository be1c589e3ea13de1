import type { EventBridgeClient, PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { SignatureV4 } from "@smithy/signature-v4";
import * as v from "valibot";
import { readCapped } from "../../shared/http-answer.ts";
import type { SendPutEvents } from "./publisher.ts";

/**
 * PutEvents as one signed `fetch`, without the SDK's per-call machinery (its middleware stack and
 * serialiser were about a third of portside's CPU in the change-log fan-out: test/bench/NOTES.md, phase 12).
 * The SDK client still decides everything it owns: the credentials (its default provider chain, cached and
 * refreshed by it), the region, and the endpoint (EVENTBRIDGE_ENDPOINT, AWS_ENDPOINT_URL_EVENTBRIDGE, FIPS,
 * dual-stack, the partition's domain). The request is signed with SigV4 by the SDK's own signer
 * (`@smithy/signature-v4`), in the service's JSON 1.1 protocol. Answers keep the SDK's shape, and a call
 * that fails throws an error with the fields `classifyCallError` reads (`name`, `$fault`,
 * `$metadata.httpStatusCode`), so the publisher's retries and per-entry outcomes are the same.
 */

/**
 * The most of an answer read: PutEvents answers 10 entries with an id or an error each, a few KB at most.
 * Whatever answers at the endpoint (EVENTBRIDGE_ENDPOINT may name any) costs no more than this.
 */
export const PUT_EVENTS_ANSWER_MAX_BYTES = 64 * 1024;

const PutEventsAnswerSchema = v.object({
  FailedEntryCount: v.optional(v.number()),
  Entries: v.optional(v.array(v.object({ EventId: v.optional(v.string()), ErrorCode: v.optional(v.string()), ErrorMessage: v.optional(v.string()) }))),
});

/** AWS's error answer: `__type` (`ThrottlingException`, or prefixed `…#ThrottlingException`) and a message. */
const ErrorAnswerSchema = v.object({ __type: v.optional(v.string()), message: v.optional(v.string()), Message: v.optional(v.string()) });

/** A failed call, shaped as the SDK's service exceptions are where the publisher reads them. */
export class PutEventsCallError extends Error {
  readonly $fault: "client" | "server";
  readonly $metadata: { httpStatusCode: number };
  constructor(name: string, message: string, status: number) {
    super(message);
    this.name = name;
    this.$fault = status >= 500 ? "server" : "client";
    this.$metadata = { httpStatusCode: status };
  }
}

/** What a failed answer says: the error's name and message, or its status when it is not AWS's JSON. */
export function callError(status: number, body: string, typeHeader: string | null): PutEventsCallError {
  let answer: v.InferOutput<typeof ErrorAnswerSchema> = {};
  try {
    const parsed = v.safeParse(ErrorAnswerSchema, JSON.parse(body));
    if (parsed.success) answer = parsed.output;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const type = answer.__type ?? typeHeader ?? `Http${status}`;
  const name = type.slice(type.lastIndexOf("#") + 1).split(":")[0] || `Http${status}`;
  return new PutEventsCallError(name, answer.message ?? answer.Message ?? `EventBridge answered ${status}`, status);
}

/** An entry as the JSON 1.1 protocol carries it: `Time` in epoch seconds, as the SDK writes a timestamp. */
function wire(entry: PutEventsRequestEntry): PutEventsRequestEntry | (Omit<PutEventsRequestEntry, "Time"> & { Time: number }) {
  return entry.Time instanceof Date ? { ...entry, Time: entry.Time.getTime() / 1000 } : entry;
}

export function sendDirect(client: EventBridgeClient, requestTimeoutMs: number): SendPutEvents {
  const config = client.config;
  const signer = new SignatureV4({ credentials: config.credentials, region: config.region, service: "events", sha256: config.sha256 });
  let endpoint: Promise<URL> | undefined;

  /** Where calls go, resolved once as the SDK resolves it. */
  async function resolveEndpoint(): Promise<URL> {
    const custom = config.isCustomEndpoint && config.endpoint ? await config.endpoint() : null;
    const configured = custom
      ? `${custom.protocol}//${custom.hostname}${custom.port ? `:${custom.port}` : ""}${custom.path}`
      : await config.serviceConfiguredEndpoint?.();
    const resolved = config.endpointProvider({
      Region: await config.region(),
      UseFIPS: await config.useFipsEndpoint(),
      UseDualStack: await config.useDualstackEndpoint(),
      ...(configured ? { Endpoint: String(configured) } : {}),
    });
    return new URL(String(resolved.url));
  }

  return async (entries) => {
    endpoint ??= resolveEndpoint();
    // A failure to resolve (no region) is asked again on the next call, as the SDK would.
    const url = await endpoint.catch((error: unknown) => {
      endpoint = undefined;
      throw error;
    });
    const body = JSON.stringify({ Entries: entries.map(wire) });
    const signed = await signer.sign({
      method: "POST",
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: {},
      headers: { host: url.host, "content-type": "application/x-amz-json-1.1", "x-amz-target": "AWSEvents.PutEvents" },
      body,
    });
    // fetch sets Host itself, from the same URL.
    const { host: _host, ...headers } = signed.headers;
    const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(requestTimeoutMs) });
    const { text, truncated } = await readCapped(res, PUT_EVENTS_ANSWER_MAX_BYTES);
    if (!res.ok) throw callError(res.status, truncated ? "" : text, res.headers.get("x-amzn-errortype"));
    if (truncated) throw new PutEventsCallError("InvalidAnswer", `EventBridge answered PutEvents with more than ${PUT_EVENTS_ANSWER_MAX_BYTES} bytes`, 502);
    const parsed = v.safeParse(PutEventsAnswerSchema, JSON.parse(text));
    if (!parsed.success) throw new PutEventsCallError("InvalidAnswer", "EventBridge answered PutEvents in a form it does not document", 502);
    return parsed.output;
  };
}
