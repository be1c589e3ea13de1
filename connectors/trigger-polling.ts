/**
 * Triggers one run of a `deploy` action meant for the organisation's execution agent at a Port EMULATOR, as
 * Port does when someone clicks Execute, and waits for portside — polling the emulator (PORT_POLLING=true),
 * with no Kafka — to finish it:
 *   PORT_EMULATOR_URL=http://127.0.0.1:5050 bun connectors/trigger-polling.ts
 * The action is declared at the emulator first (WEBHOOK with `agent: true`). portside's example handler
 * serves `deploy`, so the action's URL is never called. Only for the emulator: the real Port has your actions.
 */
import { triggerDeploy } from "./local/emulator-action.ts";

const emulatorUrl = process.env.PORT_EMULATOR_URL ?? "http://127.0.0.1:5050";
const ok = await triggerDeploy({
  emulatorUrl,
  invocationMethod: { type: "WEBHOOK", url: "https://ci.example.com/deploy", agent: true },
  waitingFor: "the execution agent (portside polling the emulator)",
  hint: `is portside polling ${emulatorUrl}? (docker compose logs portside-polling)`,
  timeoutMs: Number(process.env.TRIGGER_TIMEOUT_MS ?? 60_000),
});
process.exit(ok ? 0 : 1);
