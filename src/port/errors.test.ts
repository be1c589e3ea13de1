import { describe, expect, test } from "bun:test";
import { isRetriable, isRetriableStatus, PortApiError, PortNetworkError, PortTimeoutError } from "./errors.ts";

const ctx = { method: "PATCH", path: "/v1/actions/runs/r_1", runId: "r_1" };

describe("Port errors", () => {
  test("4xx are permanent except 429 and 408; 5xx are retriable", () => {
    expect([400, 401, 403, 404, 409, 413, 422].map(isRetriableStatus)).toEqual(Array(7).fill(false));
    expect([408, 429, 500, 502, 503, 504].map(isRetriableStatus)).toEqual(Array(6).fill(true));
  });

  test("PortApiError carries Port's code and message and the call's context as fields", () => {
    const err = new PortApiError({ ...ctx, status: 422, code: "invalid_request", portMessage: "bad key", attempt: 1 });
    expect(err).toMatchObject({
      name: "PortApiError",
      status: 422,
      code: "invalid_request",
      portMessage: "bad key",
      runId: "r_1",
      retriable: false,
      isAuthProblem: false,
    });
    expect(err.message).toBe("Port refused the call (422 invalid_request): bad key");
    expect(isRetriable(err)).toBe(false);
    expect(new PortApiError({ ...ctx, status: 401 }).isAuthProblem).toBe(true);
  });

  test("network errors and timeouts are retriable; unknown errors are not", () => {
    const net = new PortNetworkError({ ...ctx, cause: new TypeError("ECONNRESET") });
    expect(net.message).toContain("ECONNRESET");
    expect(net.cause).toBeInstanceOf(TypeError);
    const timeout = new PortTimeoutError({ ...ctx, timeoutMs: 5_000 });
    expect(timeout).toBeInstanceOf(PortNetworkError);
    expect(timeout).toMatchObject({ name: "PortTimeoutError", timeoutMs: 5_000 });
    expect([net, timeout].every(isRetriable)).toBe(true);
    expect(isRetriable(new Error("bug"))).toBe(false);
  });
});
