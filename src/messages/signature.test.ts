import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { verifyAgentSignature, verifyWebhookSignature } from "./signature.ts";

type Json = Record<string, unknown>;

/** Port's signed agent message (the fixture), as parsed. */
interface SignedMessage {
  [key: string]: unknown;
  headers: Json;
  payload: Json;
}

const VECTOR_SECRET = "test";
const VECTOR_TS = 1713277889;
const VECTOR_SIGNATURE = "v1,uuBMfcio3oscejO5bOtL97K1AmiZjxDvou7sChjMNeE=";
const NO_FRESHNESS = { nowMs: Date.now(), toleranceMs: Number.POSITIVE_INFINITY };

const loadSigned = (): SignedMessage => JSON.parse(readFileSync(new URL("./fixtures/runs/agent-signed.json", import.meta.url), "utf8"));

/** Port's signing, done independently with Node's HMAC. */
const sign = (secret: string, timestamp: number | string, body: string): string =>
  `v1,${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("base64")}`;

const MISMATCH =
  "signature does not match: the message was changed after Port signed it, or the secret is not the client " + "secret of the Port organisation that sent it";

describe("verifyAgentSignature", () => {
  test("Port's test vector verifies (freshness disabled: the vector is from 2024)", async () => {
    const message = loadSigned();
    expect(message.headers["X-Port-Signature"]).toBe(VECTOR_SIGNATURE);
    expect(message.headers["X-Port-Timestamp"]).toBe(VECTOR_TS);
    expect(await verifyAgentSignature(message, VECTOR_SECRET, NO_FRESHNESS)).toEqual({ ok: true });
    // Verifying does not touch the message (the handler still gets it as it arrived).
    expect(message).toEqual(loadSigned());
  });

  test("the vector is fresh at its own time, with the default window", async () => {
    const nowMs = VECTOR_TS * 1000 + 60_000;
    expect(await verifyAgentSignature(loadSigned(), VECTOR_SECRET, { nowMs })).toEqual({ ok: true });
  });

  test("a tampered copy (one input changed) is refused", async () => {
    const message = loadSigned();
    message.payload.properties = { foo: "changed" };
    expect(await verifyAgentSignature(message, VECTOR_SECRET, NO_FRESHNESS)).toEqual({ ok: false, reason: MISMATCH });
  });

  test("the wrong secret is refused", async () => {
    expect(await verifyAgentSignature(loadSigned(), "other", NO_FRESHNESS)).toEqual({ ok: false, reason: MISMATCH });
  });

  test("a stale timestamp is refused, and so is one from the future", async () => {
    const nowMs = Date.UTC(2026, 2, 1);
    const age = Math.round((nowMs - VECTOR_TS * 1000) / 1000);
    // `late`: the signature matched, so the message is Port's; only its age is refused.
    expect(await verifyAgentSignature(loadSigned(), VECTOR_SECRET, { nowMs })).toEqual({
      ok: false,
      late: true,
      reason:
        `headers.X-Port-Timestamp is ${age} s old, outside the 300 s freshness window (SIGNATURE_TOLERANCE_MS): refused as a ` +
        "possible replay; if clocks are skewed, fix the clock or widen the window",
    });
    const early = await verifyAgentSignature(loadSigned(), VECTOR_SECRET, { nowMs: VECTOR_TS * 1000 - 600_000, toleranceMs: 60_000 });
    expect(early).toEqual({
      ok: false,
      late: true,
      reason:
        "headers.X-Port-Timestamp is 600 s in the future, outside the 60 s freshness window (SIGNATURE_TOLERANCE_MS): refused " +
        "as a possible replay; if clocks are skewed, fix the clock or widen the window",
    });
    // A forged signature is refused as such, whatever its age: no `late`.
    expect(await verifyAgentSignature(loadSigned(), "other", { nowMs })).toEqual({ ok: false, reason: MISMATCH });
  });

  test("other header keys are kept in what was signed; millisecond timestamps are understood", async () => {
    const nowMs = Date.UTC(2026, 2, 1, 10);
    const message = { action: "deploy", resourceType: "run", headers: { "X-Port-Signature": "", "X-Port-Timestamp": nowMs, Trace: "t1" }, payload: {} };
    const signedForm = JSON.stringify({ action: "deploy", resourceType: "run", headers: { Trace: "t1" }, payload: {} });
    message.headers["X-Port-Signature"] = sign("s3cret", nowMs, signedForm);
    expect(await verifyAgentSignature(message, "s3cret", { nowMs: nowMs + 1000 })).toEqual({ ok: true });
  });

  test("GITLAB invocations are signed without the headers object", async () => {
    const ts = 1772359200;
    const body = { action: "ci", resourceType: "run", payload: { action: { invocationMethod: { type: "GITLAB" } } } };
    const withoutHeaders = JSON.stringify(body);
    const message = { ...body, headers: { "X-Port-Signature": sign("k", ts, withoutHeaders), "X-Port-Timestamp": ts } };
    expect(await verifyAgentSignature(message, "k", { nowMs: ts * 1000 })).toEqual({ ok: true });
    // The same bytes signed the WEBHOOK way (empty headers kept) do not verify for GITLAB.
    const webhookWay = JSON.stringify({ ...body, headers: {} });
    const wrong = { ...body, headers: { "X-Port-Signature": sign("k", ts, webhookWay), "X-Port-Timestamp": ts } };
    expect(await verifyAgentSignature(wrong, "k", { nowMs: ts * 1000 })).toEqual({ ok: false, reason: MISMATCH });
  });

  test("unsigned or malformed signatures say what is missing", async () => {
    const message = loadSigned();
    const { headers, ...unsigned } = message;
    expect(await verifyAgentSignature(unsigned, "test", NO_FRESHNESS)).toEqual({
      ok: false,
      reason: "headers: expected an object holding X-Port-Signature and X-Port-Timestamp, got nothing",
    });
    expect(await verifyAgentSignature({ ...message, headers: { "X-Port-Timestamp": VECTOR_TS } }, "test", NO_FRESHNESS)).toEqual({
      ok: false,
      reason: "headers.X-Port-Signature: expected a string, got nothing",
    });
    expect(await verifyAgentSignature({ ...message, headers: { ...headers, "X-Port-Timestamp": null } }, "test", NO_FRESHNESS)).toEqual({
      ok: false,
      reason: "headers.X-Port-Timestamp: expected a number, got null",
    });
    expect(await verifyAgentSignature({ ...message, headers: { ...headers, "X-Port-Signature": "sha256=abc" } }, "test", NO_FRESHNESS)).toEqual({
      ok: false,
      reason: 'signature: expected "v1,<base64>" (one or more, space-separated)',
    });
    expect(await verifyAgentSignature({ ...message, headers: { ...headers, "X-Port-Signature": "v1,***" } }, "test", NO_FRESHNESS)).toEqual({
      ok: false,
      reason: MISMATCH,
    });
    expect(await verifyAgentSignature(message, "", NO_FRESHNESS)).toEqual({
      ok: false,
      reason: "no signing secret is configured: set the Port client secret to verify signatures",
    });
  });
});

describe("verifyWebhookSignature", () => {
  const ts = 1772359200;
  const nowMs = ts * 1000 + 5_000;
  const body = '{"action":"deploy","context":{"runId":"r_1"}}';

  test("a signed body verifies; header names are case-insensitive", async () => {
    const signature = sign("secret", ts, body);
    const headers = new Headers({ "x-port-timestamp": String(ts), "x-port-signature": signature });
    expect(await verifyWebhookSignature(body, headers, "secret", { nowMs })).toEqual({ ok: true });
    const record = { "X-Port-Timestamp": String(ts), "X-Port-Signature": signature };
    expect(await verifyWebhookSignature(new TextEncoder().encode(body), record, "secret", { nowMs })).toEqual({ ok: true });
  });

  test("millisecond timestamps and rotated secrets (several signatures)", async () => {
    const tsMs = ts * 1000;
    const header = `${sign("old", tsMs, body)} ${sign("secret", tsMs, body)}`;
    const headers = { "x-port-timestamp": String(tsMs), "x-port-signature": header };
    expect(await verifyWebhookSignature(body, headers, "secret", { nowMs })).toEqual({ ok: true });
  });

  test("a changed body, a missing header, a stale timestamp are refused", async () => {
    const headers = { "x-port-timestamp": String(ts), "x-port-signature": sign("secret", ts, body) };
    expect(await verifyWebhookSignature(body.replace("r_1", "r_2"), headers, "secret", { nowMs })).toEqual({ ok: false, reason: MISMATCH });
    expect(await verifyWebhookSignature(body, { "x-port-timestamp": String(ts) }, "secret", { nowMs })).toEqual({
      ok: false,
      reason: "the x-port-signature header is missing: the request is not signed",
    });
    expect(await verifyWebhookSignature(body, { ...headers, "x-port-timestamp": "soon" }, "secret", { nowMs })).toEqual({
      ok: false,
      reason: "x-port-timestamp: expected a Unix timestamp in seconds, got a string",
    });
    expect(await verifyWebhookSignature(body, headers, "secret", { nowMs: nowMs + 3_600_000 })).toEqual({
      ok: false,
      late: true,
      reason:
        "x-port-timestamp is 3605 s old, outside the 300 s freshness window (SIGNATURE_TOLERANCE_MS): refused as a possible " +
        "replay; if clocks are skewed, fix the clock or widen the window",
    });
  });
});
