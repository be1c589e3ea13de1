import { afterEach, expect, test } from "bun:test";
import type { PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { SignatureV4 } from "@smithy/signature-v4";
import { callError, sendDirect } from "./direct.ts";
import { classifyCallError, createEventBridgeClient, sendWith } from "./publisher.ts";

/**
 * PutEvents by one signed fetch (direct.ts) against what the AWS SDK sends for the same entries: the same
 * body and protocol headers, a SigV4 signature that checks out over the request as it arrived, AWS's
 * answers and errors read as the SDK reads them.
 */
const CREDENTIALS = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };

interface Received {
  headers: Record<string, string>;
  body: string;
  url: string;
}

let server: ReturnType<typeof Bun.serve> | undefined;
afterEach(() => server?.stop(true));

function listen(reply: () => Response): { received: Received[]; url: string } {
  const received: Received[] = [];
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      received.push({ headers: Object.fromEntries(req.headers), body: await req.text(), url: req.url });
      return reply();
    },
  });
  return { received, url: `http://127.0.0.1:${server.port}` };
}

const ENTRIES: PutEventsRequestEntry[] = [
  {
    EventBusName: "platform-events",
    Source: "portside",
    DetailType: "port.change.entity.service.UPDATE",
    Detail: JSON.stringify({ identifier: "checkout", note: "déjà vu — 日本語 🚀" }),
    Time: new Date("2026-08-02T08:12:44.010Z"),
    Resources: ["arn:aws:example:eu-west-1:123:thing/a"],
  },
  { EventBusName: "default", Source: "portside", DetailType: "port.run.deploy", Detail: "{}" },
];
const OK = () => Response.json({ FailedEntryCount: 1, Entries: [{ EventId: "e-1" }, { ErrorCode: "ThrottlingException", ErrorMessage: "slow down" }] });

test("the same body and protocol headers as the SDK's, and the SDK's answer shape", async () => {
  const { received, url } = listen(OK);
  const client = createEventBridgeClient({ region: "eu-west-1", endpoint: url, credentials: CREDENTIALS });
  const bySdk = await sendWith(client)(ENTRIES);
  const direct = await sendDirect(client, 5_000)(ENTRIES);
  expect(direct as unknown).toEqual({ FailedEntryCount: 1, Entries: [{ EventId: "e-1" }, { ErrorCode: "ThrottlingException", ErrorMessage: "slow down" }] });
  expect(direct.Entries).toEqual(bySdk.Entries ?? []);

  const [sdk, mine] = received;
  expect(JSON.parse(mine?.body ?? "")).toEqual(JSON.parse(sdk?.body ?? ""));
  // Time in epoch seconds, as the JSON 1.1 protocol writes a timestamp.
  expect((JSON.parse(mine?.body ?? "") as { Entries: { Time?: number }[] }).Entries[0]?.Time).toBe(Date.parse("2026-08-02T08:12:44.010Z") / 1000);
  for (const name of ["x-amz-target", "content-type", "host"]) expect(mine?.headers[name]).toBe(sdk?.headers[name] as string);
  expect(mine?.url).toBe(sdk?.url as string);
  expect(mine?.headers.authorization).toStartWith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/");
  expect(mine?.headers.authorization).toContain("/eu-west-1/events/aws4_request");
});

test("its SigV4 signature checks out over the request as it arrived (signed headers, host, body)", async () => {
  const { received, url } = listen(OK);
  await sendDirect(createEventBridgeClient({ region: "eu-west-1", endpoint: url, credentials: CREDENTIALS }), 5_000)(ENTRIES);
  const [arrived] = received;
  if (!arrived) throw new Error("nothing arrived");
  const authorization = arrived.headers.authorization ?? "";
  const signedNames = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(";") ?? [];
  expect(signedNames).toEqual(expect.arrayContaining(["host", "x-amz-date", "x-amz-target", "content-type"]));
  // Sign again, as EventBridge checks: the headers it signed as they arrived, at the time it says.
  const amzDate = arrived.headers["x-amz-date"] ?? "";
  const at = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const target = new URL(arrived.url);
  const again = await new SignatureV4({
    credentials: CREDENTIALS,
    region: "eu-west-1",
    service: "events",
    sha256: createEventBridgeClient({ region: "eu-west-1", endpoint: null }).config.sha256,
  }).sign(
    {
      method: "POST",
      protocol: target.protocol,
      hostname: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      query: {},
      headers: Object.fromEntries(signedNames.filter((n) => n !== "x-amz-date" && n !== "x-amz-content-sha256").map((n) => [n, arrived.headers[n] ?? ""])),
      body: arrived.body,
    },
    { signingDate: at },
  );
  expect(again.headers.authorization).toBe(authorization);
});

test("failed calls: AWS's error type and message, classified as the SDK's errors are", async () => {
  const throttled = callError(400, JSON.stringify({ __type: "ThrottlingException", message: "Rate exceeded" }), null);
  expect({ name: throttled.name, message: throttled.message }).toEqual({ name: "ThrottlingException", message: "Rate exceeded" });
  expect(classifyCallError(throttled)).toEqual({ retriable: true, code: "ThrottlingException", message: "Rate exceeded" });

  const invalid = callError(400, JSON.stringify({ __type: "com.amazon.coral.validate#ValidationException", Message: "bad entry" }), null);
  expect(classifyCallError(invalid)).toEqual({ retriable: false, code: "ValidationException", message: "bad entry" });

  const denied = callError(403, "", "AccessDeniedException:http://internal.amazon.com/coral/");
  expect(classifyCallError(denied)).toEqual({ retriable: false, code: "AccessDeniedException", message: "EventBridge answered 403" });

  // A proxy's page: retried as any 5xx.
  expect(classifyCallError(callError(503, "<html>busy</html>", null))).toEqual({ retriable: true, code: "Http503", message: "EventBridge answered 503" });
});

test("a whole call refused is thrown with its status; the same error the publisher retries or not", async () => {
  const { url } = listen(() => Response.json({ __type: "InternalException", message: "oops" }, { status: 500 }));
  const send = sendDirect(createEventBridgeClient({ region: "eu-west-1", endpoint: url, credentials: CREDENTIALS }), 5_000);
  const error = await send(ENTRIES).then(
    () => null,
    (e: unknown) => e,
  );
  expect(classifyCallError(error)).toEqual({ retriable: true, code: "InternalException", message: "oops" });
});

test("an answer is read up to 64 KiB, whatever the endpoint sends: a huge one is refused without being read whole", async () => {
  let pulled = 0;
  const huge = (status: number) =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulled >= 100 * 1024 * 1024) return controller.close();
          pulled += 64 * 1024;
          controller.enqueue(new TextEncoder().encode(`{"pad":"${"x".repeat(64 * 1024 - 10)}",`));
        },
      }),
      { status, headers: { "content-type": "application/x-amz-json-1.1" } },
    );
  for (const status of [200, 400]) {
    pulled = 0;
    const { url } = listen(() => huge(status));
    const send = sendDirect(createEventBridgeClient({ region: "eu-west-1", endpoint: url, credentials: CREDENTIALS }), 5_000);
    const error = (await send(ENTRIES).then(
      () => null,
      (e: unknown) => e,
    )) as { name: string; $metadata: { httpStatusCode: number } } | null;
    expect(error).toMatchObject(status === 200 ? { name: "InvalidAnswer" } : { name: "Http400", $metadata: { httpStatusCode: 400 } });
    // What the server had streamed by then (socket buffers ahead of the read), not the 100 MB it offered.
    expect(pulled).toBeLessThan(16 * 1024 * 1024);
    server?.stop(true);
  }
});
