import { afterAll, describe, expect, test } from "bun:test";
import { verifyWebhookSignature } from "../messages/signature.ts";
import { createPortEmulator } from "./port-emulator.ts";
import { declareAction } from "./port-emulator-actions.ts";
import { deliverAgain } from "./port-emulator-webhooks.ts";

/** A receiver on loopback that keeps what it got and answers as told. */
const received: Array<{ path: string; body: string; headers: Headers; verified: boolean }> = [];
let answer = { status: 200, body: '{"deployed":true}' };
const receiver = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    const body = await req.text();
    const verified = (await verifyWebhookSignature(body, req.headers, "secret-1", { nowMs: Date.now() })).ok;
    received.push({ path: new URL(req.url).pathname, body, headers: req.headers, verified });
    return new Response(answer.body, { status: answer.status, headers: { "content-type": "application/json" } });
  },
});
afterAll(() => receiver.stop(true));

function setup() {
  const emulator = createPortEmulator({ clientId: "id-1", clientSecret: "secret-1" });
  const trigger = async (action: string, properties: Record<string, unknown>) => {
    const token = (await (
      await emulator.app.request("/v1/auth/access_token", { method: "POST", body: '{"clientId":"id-1","clientSecret":"secret-1"}' })
    ).json()) as {
      accessToken: string;
    };
    const res = await emulator.app.request(`/v1/actions/${action}/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${token.accessToken}`, "content-type": "application/json" },
      body: JSON.stringify({ properties }),
    });
    return ((await res.json()) as { run: { id: string } }).run.id;
  };
  const settled = async (runId: string, attempts = 1) => {
    for (let i = 0; i < 200 && (emulator.state.runs.get(runId)?.webhookAttempts?.filter((a) => a.status !== null || a.error).length ?? 0) < attempts; i++)
      await Bun.sleep(10);
    return emulator.state.runs.get(runId);
  };
  return { emulator, trigger, settled };
}

describe("port emulator: a WEBHOOK action's run is sent to its URL, signed as Port signs it", () => {
  test("the rendered body and headers, with x-port-timestamp and x-port-signature that verify with the client secret", async () => {
    const { emulator, trigger, settled } = setup();
    declareAction(emulator.state, { identifier: "deploy", invocationMethod: { type: "WEBHOOK", url: `${receiver.url}hooks/deploy` } });
    received.length = 0;
    const id = await trigger("deploy", { version: "2.0" });
    const run = await settled(id);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ path: "/hooks/deploy", verified: true });
    expect(JSON.parse(received[0]?.body ?? "")).toEqual({ version: "2.0", port_context: { runId: id } });
    expect(received[0]?.headers.get("run_id")).toBe(id);
    // Not synchronized: the receiver reports through the API; the answer changes nothing.
    expect(run).toMatchObject({ status: "IN_PROGRESS", webhookAttempts: [{ status: 200 }] });
  });

  test("synchronized: a 2xx answer is SUCCESS with the body as the run's response; another status is FAILURE naming it", async () => {
    const { emulator, trigger, settled } = setup();
    declareAction(emulator.state, { identifier: "quick", invocationMethod: { type: "WEBHOOK", url: `${receiver.url}quick`, synchronized: true } });
    answer = { status: 200, body: '{"deployed":true}' };
    const ok = await settled(await trigger("quick", {}));
    expect(ok).toMatchObject({ status: "SUCCESS", response: { deployed: true } });
    answer = { status: 503, body: '{"error":"busy"}' };
    const failed = await settled(await trigger("quick", {}));
    expect(failed).toMatchObject({ status: "FAILURE", summary: "Failed to invoke the webhook with status code: 503", response: { error: "busy" } });
    answer = { status: 200, body: "{}" };
  });

  test("deliverAgain sends the same run again (a duplicated request); an ended run stays as it ended", async () => {
    const { emulator, trigger, settled } = setup();
    declareAction(emulator.state, { identifier: "quick", invocationMethod: { type: "WEBHOOK", url: `${receiver.url}again`, synchronized: true } });
    answer = { status: 200, body: '{"n":1}' };
    const id = await trigger("quick", {});
    await settled(id);
    answer = { status: 500, body: '{"n":2}' };
    await deliverAgain({ state: emulator.state, clock: Date.now, secret: "secret-1" }, id);
    expect(emulator.state.runs.get(id)).toMatchObject({ status: "SUCCESS", response: { n: 1 }, webhookAttempts: [{ status: 200 }, { status: 500 }] });
    answer = { status: 200, body: "{}" };
  });

  test("an action for an execution agent is not sent: it waits to be claimed", async () => {
    const { emulator, trigger } = setup();
    declareAction(emulator.state, { identifier: "agented", invocationMethod: { type: "WEBHOOK", url: `${receiver.url}agent`, agent: true } });
    received.length = 0;
    const id = await trigger("agented", {});
    await Bun.sleep(100);
    expect(received).toEqual([]);
    expect(emulator.state.runs.get(id)?.webhookAttempts).toBeUndefined();
  });
});
