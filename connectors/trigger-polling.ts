/**
 * Triggers one run of a `deploy` action meant for the organisation's execution agent at a Port EMULATOR, as
 * Port does when someone clicks Execute, and waits for portside — polling the emulator (PORT_POLLING=true),
 * with no Kafka — to finish it:
 *   PORT_EMULATOR_URL=http://127.0.0.1:5050 bun connectors/trigger-polling.ts
 * The action is declared at the emulator first (WEBHOOK with `agent: true`). portside's example handler
 * serves `deploy`, so the action's URL is never called. Only for the emulator: the real Port has your actions.
 */
import { EMULATOR_CREDENTIALS } from "../src/entry/demo.ts";

const emulatorUrl = (process.env.PORT_EMULATOR_URL ?? "http://127.0.0.1:5050").replace(/\/+$/, "");
const timeoutMs = Number(process.env.TRIGGER_TIMEOUT_MS ?? 60_000);

async function call(path: string, init: { method: string; body?: unknown; token?: string }): Promise<Record<string, unknown>> {
  const res = await fetch(`${emulatorUrl}${path}`, {
    method: init.method,
    headers: { "content-type": "application/json", ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`the Port emulator at ${emulatorUrl} answered ${init.method} ${path} with ${res.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

await call("/emulator/actions", {
  method: "POST",
  body: {
    identifier: "deploy",
    title: "Deploy",
    blueprint: "microservice",
    invocationMethod: { type: "WEBHOOK", url: "https://ci.example.com/deploy", agent: true },
  },
});
const { accessToken } = (await call("/v1/auth/access_token", { method: "POST", body: EMULATOR_CREDENTIALS })) as { accessToken: string };
const version = `2.${Math.floor(Math.random() * 20)}.0`;
const triggered = (await call("/v1/actions/deploy/runs", {
  method: "POST",
  token: accessToken,
  body: { properties: { version, environment: "staging" }, entity: "checkout-service" },
})) as { run: { id: string } };
const runId = triggered.run.id;
console.log(`triggered deploy ${version} → run ${runId}, waiting for the execution agent (portside polling the emulator)`);

const deadline = Date.now() + timeoutMs;
for (;;) {
  const { run } = (await call(`/v1/actions/runs/${runId}`, { method: "GET", token: accessToken })) as { run: { status: string; summary?: string } };
  if (run.status !== "IN_PROGRESS") {
    console.log(`run ${runId} (deploy) → ${run.status}${run.summary ? ` — ${run.summary}` : ""}`);
    process.exit(run.status === "SUCCESS" ? 0 : 1);
  }
  if (Date.now() > deadline) {
    console.log(`run ${runId} (deploy) → still IN_PROGRESS after ${timeoutMs} ms; is portside polling ${emulatorUrl}? (docker compose logs portside-polling)`);
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 250));
}
