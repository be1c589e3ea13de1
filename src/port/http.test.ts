import { afterAll, describe, expect, test } from "bun:test";
import { testRetryPolicy } from "../shared/retry.ts";
import { createPortClient } from "./client.ts";
import { PortApiError } from "./errors.ts";
import { exchange, type FetchFn, PORT_REPLY_MAX_BYTES, toApiError } from "./http.ts";
import { ACCESS_TOKEN_MAX_CHARS } from "./token.ts";
import { REMOTE_MESSAGE_MAX } from "../shared/http-answer.ts";
import { defaultMaxPortWaitMs } from "./rate-headers.ts";

/**
 * Port's answers are read up to a cap, whatever their size: the rest is cancelled unread, so a 600 MB
 * error body costs what its first 64 KiB cost.
 */
const MB = 1024 * 1024;

/** A body of `total` bytes of `fill`, made only as it is read; says how much was read and whether it was cancelled. */
function endless(total: number, fill = 0x61) {
  const seen = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (seen.pulled >= total) return controller.close();
      const chunk = new Uint8Array(16 * 1024).fill(fill);
      seen.pulled += chunk.length;
      controller.enqueue(chunk);
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { stream, seen };
}

const deps = (fetch: FetchFn) => ({ fetch, baseUrl: "https://api.port.test", timeoutMs: 5_000 });

describe("answers from Port are read up to a cap", () => {
  test("a 600 MB error body: 64 KiB read, the rest cancelled; the error holds 500 characters of it and says it was cut", async () => {
    const { stream, seen } = endless(600 * MB);
    const req = { method: "PATCH" as const, path: "/v1/actions/runs/r_1", body: {}, runId: "r_1" };
    const res = await exchange(
      deps(async () => new Response(stream, { status: 422 })),
      req,
    );
    expect(res.truncated).toBe(true);
    expect((res.body as string).length).toBe(PORT_REPLY_MAX_BYTES);
    expect(seen.pulled).toBeLessThan(PORT_REPLY_MAX_BYTES + 64 * 1024);
    expect(seen.cancelled).toBe(true);
    const error = toApiError(res, req, Date.now(), defaultMaxPortWaitMs);
    expect(error.portMessage?.startsWith("a".repeat(REMOTE_MESSAGE_MAX - 1))).toBe(true);
    expect(error.portMessage).toEndWith(`… (the answer was longer than ${PORT_REPLY_MAX_BYTES} bytes: the rest was not read)`);
    expect(error.message.length).toBeLessThan(700);
  });

  test("an answer within the cap is read whole and parsed; Port's message is kept to 500 characters", async () => {
    const message = "m".repeat(10_000);
    const req = { method: "POST" as const, path: "/v1/actions/runs/r_1/logs", body: {}, runId: "r_1" };
    const res = await exchange(
      deps(async () => Response.json({ ok: false, error: "invalid_request", message }, { status: 422 })),
      req,
    );
    expect(res).toMatchObject({ truncated: false, body: { ok: false, error: "invalid_request", message } });
    expect(toApiError(res, req, Date.now(), defaultMaxPortWaitMs).portMessage).toBe(`${"m".repeat(REMOTE_MESSAGE_MAX - 1)}…`);
  });

  test("through the client: a report refused with a 600 MB body fails with a short error, as any 422", async () => {
    const seen: { pulled: number; cancelled: boolean }[] = [];
    const fetch: FetchFn = async (input) => {
      if (String(input).endsWith("/v1/auth/access_token")) return Response.json({ ok: true, accessToken: "t", expiresIn: 3600 });
      const body = endless(600 * MB);
      seen.push(body.seen);
      return new Response(body.stream, { status: 422 });
    };
    const client = createPortClient({
      baseUrl: "https://api.port.test",
      clientId: "id",
      clientSecret: "secret",
      fetch,
      timeoutMs: 5_000,
      retry: testRetryPolicy,
    });
    const error = await client.postLog("r_1", { message: "hello" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortApiError);
    expect((error as PortApiError).status).toBe(422);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.pulled).toBeLessThan(2 * PORT_REPLY_MAX_BYTES);
    expect(seen[0]?.cancelled).toBe(true);
  });

  test("the token endpoint: a 600 MB answer is cut and refused; a token longer than Port's is refused without being repeated", async () => {
    const huge = endless(600 * MB, 0x7b);
    let answer: () => Response = () => new Response(huge.stream, { status: 200 });
    const fetch: FetchFn = async () => answer();
    const client = createPortClient({
      baseUrl: "https://api.port.test",
      clientId: "id",
      clientSecret: "secret",
      fetch,
      timeoutMs: 5_000,
      retry: testRetryPolicy,
    });
    await expect(client.patchRun("r_1", { status: "SUCCESS" })).rejects.toThrow("Port's token endpoint answered without an accessToken");
    expect(huge.seen.pulled).toBeLessThan(2 * PORT_REPLY_MAX_BYTES);
    expect(huge.seen.cancelled).toBe(true);

    const long = `tok${"x".repeat(ACCESS_TOKEN_MAX_CHARS)}`;
    answer = () => Response.json({ ok: true, accessToken: long, expiresIn: 3600 });
    const refused = await client.patchRun("r_1", { status: "SUCCESS" }).catch((e: Error) => e);
    expect((refused as Error).message).toBe(
      `Port's token endpoint answered an accessToken longer than ${ACCESS_TOKEN_MAX_CHARS} characters; check PORT_API_URL points at Port's API`,
    );
  });

  test("a run Port answers with large inputs is still read (answers that echo what was sent may be up to 2 MiB)", async () => {
    const fetch: FetchFn = async (input) =>
      String(input).endsWith("/v1/auth/access_token")
        ? Response.json({ ok: true, accessToken: "t", expiresIn: 3600 })
        : Response.json({ ok: true, run: { id: "r_1", status: "SUCCESS", properties: { blob: "b".repeat(900 * 1024) } } });
    const client = createPortClient({
      baseUrl: "https://api.port.test",
      clientId: "id",
      clientSecret: "secret",
      fetch,
      timeoutMs: 5_000,
      retry: testRetryPolicy,
    });
    expect(await client.getRun("r_1")).toMatchObject({ id: "r_1", status: "SUCCESS", terminated: true });
  });
});

describe("answers over a real socket (loopback): the cap holds whatever length the answer declares", () => {
  const big = "b".repeat(PORT_REPLY_MAX_BYTES * 4);
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/small") return Response.json({ ok: true, run: { id: "r_1", status: "SUCCESS" } });
      if (path === "/big") return new Response(big, { status: 422 });
      // 256 KiB of text in under 1 KiB of gzip: its declared length fits the cap, what it holds does not.
      return new Response(Bun.gzipSync(big), { status: 422, headers: { "content-encoding": "gzip" } });
    },
  });
  const real = {
    fetch: (input: string | URL | Request, init?: RequestInit) => fetch(input, init),
    baseUrl: `http://127.0.0.1:${server.port}`,
    timeoutMs: 5_000,
  };
  const get = (path: string) => exchange(real, { method: "GET", path });

  test("an answer that declares a length within the cap is read whole and parsed", async () => {
    const res = await get("/small");
    expect(res.headers.get("content-length")).not.toBeNull();
    expect(res).toMatchObject({ status: 200, truncated: false, body: { ok: true, run: { id: "r_1", status: "SUCCESS" } } });
  });

  test("one that declares more than the cap is cut at the cap", async () => {
    const res = await get("/big");
    expect(Number(res.headers.get("content-length"))).toBe(big.length);
    expect(res.truncated).toBe(true);
    expect((res.body as string).length).toBe(PORT_REPLY_MAX_BYTES);
  });

  test("a compressed one whose declared (compressed) length fits is still cut at the cap once decompressed", async () => {
    const res = await get("/gzip");
    expect(Number(res.headers.get("content-length"))).toBeLessThan(PORT_REPLY_MAX_BYTES);
    expect(res.truncated).toBe(true);
    expect((res.body as string).length).toBe(PORT_REPLY_MAX_BYTES);
  });

  afterAll(() => server.stop(true));
});
