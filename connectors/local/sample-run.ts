/** A "deploy" run on checkout-service in Port's message format, as Port publishes it to ORG_ID.runs. */
export function sampleRun(orgId: string, runId: string) {
  const version = `2.${Math.floor(Math.random() * 20)}.0`;
  return {
    action: "deploy",
    resourceType: "run",
    status: "TRIGGERED",
    trigger: {
      by: { orgId, userId: "auth0|stack", user: { email: "you@example.com", firstName: "Local", lastName: "Stack", id: "auth0|stack" } },
      origin: "UI",
      at: new Date().toISOString(),
    },
    context: { entity: "checkout-service", blueprint: "microservice", runId },
    payload: {
      entity: {
        identifier: "checkout-service",
        title: "Checkout Service",
        blueprint: "microservice",
        team: ["payments"],
        properties: { language: "typescript" },
        relations: {},
      },
      action: { invocationMethod: { type: "KAFKA" }, trigger: "DAY-2" },
      properties: { version, environment: "staging" },
      censoredProperties: [],
    },
  };
}

/**
 * Tells a Port EMULATOR at `emulatorUrl` that the run exists, as Port knows a run before it publishes its
 * message (the emulator answers 404 to reports for runs it was never told of). Not for the real Port.
 */
export async function declareAtEmulator(emulatorUrl: string, runId: string): Promise<void> {
  const res = await fetch(`${emulatorUrl.replace(/\/+$/, "")}/emulator/runs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id: runId }),
  });
  if (!res.ok) throw new Error(`the Port emulator at ${emulatorUrl} did not take run ${runId}: ${res.status} ${await res.text()}`);
}
