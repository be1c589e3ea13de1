import type { PortEmulatorState } from "../emulator/port-emulator.ts";
import { triggerAction } from "../emulator/port-emulator-actions.ts";
import { deliverWebhook } from "../emulator/port-emulator-webhooks.ts";
import { declareExample, EMULATOR_CREDENTIALS, printRuns, settled } from "./demo.ts";

/** Port's default WEBHOOK body with the entity and blueprint added to port_context, as its guides' templates do. */
export const WEBHOOK_BODY = {
  "{{ spreadValue() }}": "{{ .inputs }}",
  port_context: { runId: "{{ .run.id }}", entity: "{{ .entity.identifier }}", blueprint: "{{ .action.blueprint }}" },
};

export interface WebhooksDemoOptions {
  emulator: PortEmulatorState;
  /** portside's own URL, where the emulator's WEBHOOK actions point. */
  portsideUrl: string;
  timeoutMs?: number;
}

/**
 * The webhook demo (`npm run demo -- --webhooks`): two example actions (src/examples/port-actions.json)
 * declared in the emulator as WEBHOOK actions pointing at portside's `/webhooks/port/<action>`, triggered as Port does when someone clicks Execute, and sent signed
 * with the organisation's client secret. `deploy` is answered 202 and reported through the API;
 * `check_health` is `synchronized` and its handler `sync: true`, so the answer carries the result.
 */
export async function runWebhooksDemo(options: WebhooksDemoOptions): Promise<boolean> {
  const { emulator } = options;
  const hook = (action: string, synchronized: boolean) => ({
    type: "WEBHOOK" as const,
    url: `${options.portsideUrl}/webhooks/port/${action}`,
    synchronized,
    body: WEBHOOK_BODY,
  });
  declareExample(emulator, "deploy", hook("deploy", false));
  declareExample(emulator, "check_health", hook("check_health", true));
  const runs = [
    triggerAction(emulator, Date.now, "deploy", { properties: { version: "2.16.0", environment: "staging" }, entity: "checkout-service" }),
    triggerAction(emulator, Date.now, "check_health", { properties: {}, entity: "checkout-service" }),
  ].flatMap((run) => (run ? [run] : []));
  const delivery = { state: emulator, clock: Date.now, secret: EMULATOR_CREDENTIALS.clientSecret };
  for (const run of runs) {
    console.log(
      `demo: triggered ${run.action?.identifier} in the Port emulator → run ${run.id}, sent signed to ${(run.payload?.url ?? "").replace(options.portsideUrl, "")}`,
    );
    void deliverWebhook(delivery, run);
  }
  await settled(
    emulator,
    runs.map((run) => run.id),
    options.timeoutMs,
  );
  return printRuns(
    emulator,
    runs.map((run) => ({ id: run.id, action: run.action?.identifier })),
    "listening",
    (id) => (emulator.runs.get(id)?.webhookAttempts ?? []).map((attempt) => `webhook answered ${attempt.status ?? attempt.error}`),
  );
}
