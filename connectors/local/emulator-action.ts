/**
 * The compose profiles' triggers (connectors/trigger-polling.ts, connectors/trigger-webhooks.ts): a `deploy`
 * action declared at a Port EMULATOR with the backend given, one run of it triggered through the emulator's API
 * as Port does when someone clicks Execute, then its status until it ends. Only for the emulator: the real
 * Port has your actions.
 */
import { EMULATOR_CREDENTIALS } from "../../src/entry/demo.ts";

export interface TriggerOptions {
  emulatorUrl: string;
  /** The action's backend, as the emulator declares it (`POST /emulator/actions`). */
  invocationMethod: Record<string, unknown>;
  /** Who finishes the run, for the line printed while waiting. */
  waitingFor: string;
  /** What to look at when the run has not ended by the deadline. */
  hint: string;
  timeoutMs: number;
}

/** Triggers the run and prints how it ended; true when SUCCESS. */
export async function triggerDeploy(options: TriggerOptions): Promise<boolean> {
  const emulatorUrl = options.emulatorUrl.replace(/\/+$/, "");
  const call = async (path: string, init: { method: string; body?: unknown; token?: string }): Promise<Record<string, unknown>> => {
    const res = await fetch(`${emulatorUrl}${path}`, {
      method: init.method,
      headers: { "content-type": "application/json", ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`the Port emulator at ${emulatorUrl} answered ${init.method} ${path} with ${res.status}: ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };

  await call("/emulator/actions", {
    method: "POST",
    body: { identifier: "deploy", title: "Deploy", blueprint: "microservice", invocationMethod: options.invocationMethod },
  });
  const { accessToken } = (await call("/v1/auth/access_token", { method: "POST", body: EMULATOR_CREDENTIALS })) as { accessToken: string };
  const version = `2.${Math.floor(Math.random() * 20)}.0`;
  const triggered = (await call("/v1/actions/deploy/runs", {
    method: "POST",
    token: accessToken,
    body: { properties: { version, environment: "staging" }, entity: "checkout-service" },
  })) as { run: { id: string } };
  const runId = triggered.run.id;
  console.log(`triggered deploy ${version} → run ${runId}, waiting for ${options.waitingFor}`);

  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const { run } = (await call(`/v1/actions/runs/${runId}`, { method: "GET", token: accessToken })) as {
      run: { status: string; summary?: string; webhookAttempts?: { status: number | null; error?: string }[] };
    };
    if (run.status !== "IN_PROGRESS") {
      console.log(`run ${runId} (deploy) → ${run.status}${run.summary ? ` — ${run.summary}` : ""}`);
      return run.status === "SUCCESS";
    }
    // The emulator's record of a direct WEBHOOK (not Port's API): sent once, so a refused one never ends the run.
    const refused = run.webhookAttempts?.find((attempt) => (attempt.status === null ? attempt.error !== undefined : attempt.status >= 300));
    if (refused) {
      console.log(
        `run ${runId} (deploy) → the webhook was ${refused.status === null ? `not answered (${refused.error})` : `answered ${refused.status}`}; ${options.hint}`,
      );
      return false;
    }
    if (Date.now() > deadline) {
      console.log(`run ${runId} (deploy) → still IN_PROGRESS after ${options.timeoutMs} ms; ${options.hint}`);
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
