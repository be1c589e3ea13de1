import { createHmac } from "node:crypto";

/**
 * Signs a body the way Port signs a WEBHOOK invocation (`v1,` + base64 HMAC-SHA256 over
 * `<seconds>.<body>`), written here apart from portside's verifier so the tests check it against
 * an independent signer.
 */
export const WEBHOOK_SECRET = "emulator-client-secret";

export function signWebhook(body: string, opts: { secret?: string; at?: number } = {}): Record<string, string> {
  const timestamp = String(Math.floor((opts.at ?? Date.now()) / 1000));
  const signature = createHmac("sha256", opts.secret ?? WEBHOOK_SECRET)
    .update(`${timestamp}.${body}`)
    .digest("base64");
  return { "content-type": "application/json", "x-port-timestamp": timestamp, "x-port-signature": `v1,${signature}` };
}

/** Port's default WEBHOOK body: the inputs spread at the top, the run id under `port_context`. */
export const portWebhookBody = (runId: string, inputs: Record<string, unknown> = { version: "1.0.0" }) =>
  JSON.stringify({ ...inputs, port_context: { runId } });
