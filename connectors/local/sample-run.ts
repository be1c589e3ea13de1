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
