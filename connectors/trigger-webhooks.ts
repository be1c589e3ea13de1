/**
 * Declares a `deploy` WEBHOOK action at a Port EMULATOR pointing at portside's /webhooks/port/deploy, triggers
 * one run of it as Port does when someone clicks Execute — the emulator then sends it signed with the
 * organisation's client secret, as Port does — and waits for portside (PORT_WEBHOOKS=true, no Kafka) to
 * report how it ended:
 *   PORT_EMULATOR_URL=http://127.0.0.1:5050 PORTSIDE_URL=http://127.0.0.1:3002 bun connectors/trigger-webhooks.ts
 * PORTSIDE_URL is where the emulator reaches portside. Only for the emulator: the real Port has your actions.
 */
import { WEBHOOK_BODY } from "../src/entry/demo-webhooks.ts";
import { triggerDeploy } from "./local/emulator-action.ts";

const emulatorUrl = process.env.PORT_EMULATOR_URL ?? "http://127.0.0.1:5050";
const portsideUrl = (process.env.PORTSIDE_URL ?? "http://127.0.0.1:3002").replace(/\/+$/, "");
const timeoutMs = Number(process.env.TRIGGER_TIMEOUT_MS ?? 60_000);

// Port sends a webhook once: wait until portside answers before the run is triggered (compose starts it first,
// but not necessarily listening yet).
const deadline = Date.now() + timeoutMs;
for (;;) {
  const up = await fetch(`${portsideUrl}/healthz`).then(
    (res) => res.ok,
    () => false,
  );
  if (up) break;
  if (Date.now() > deadline) {
    console.log(`portside at ${portsideUrl} did not answer /healthz within ${timeoutMs} ms (docker compose logs portside-webhooks)`);
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 250));
}

const ok = await triggerDeploy({
  emulatorUrl,
  invocationMethod: { type: "WEBHOOK", url: `${portsideUrl}/webhooks/port/deploy`, body: WEBHOOK_BODY },
  waitingFor: `portside to report it (the emulator sends it signed to ${portsideUrl}/webhooks/port/deploy)`,
  hint: `is portside at ${portsideUrl} taking webhooks (PORT_WEBHOOKS=true) with the emulator's client secret? (docker compose logs portside-webhooks)`,
  timeoutMs,
});
process.exit(ok ? 0 : 1);
