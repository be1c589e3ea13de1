import { WORKFLOW_NODE_ACTION } from "../messages/polled.ts";
import type { Registry } from "./registry.ts";
import { agentWebhook } from "./webhook/runner.ts";

/**
 * Execution-agent mode (EXECUTION_AGENT, or PORT_POLLING): runs meant for Port's execution agent are served
 * here as the agent would serve them. An action run goes to the handler module when it has a handler (or a
 * route) for the action, else it is forwarded over HTTP as the agent forwards it; a workflow node run, which
 * names no action, is always forwarded. Every other run is routed as before.
 */
export function withExecutionAgent(registry: Registry): Registry {
  const forwarded = { type: "external" as const, target: agentWebhook(), rerunOnInterrupt: true };
  return {
    ...registry,
    source: registry.source,
    actions: registry.actions,
    forRun(action, run) {
      if (!run?.forAgent) return registry.forRun(action, run);
      if (action === WORKFLOW_NODE_ACTION) return forwarded;
      const route = registry.forRun(action, run);
      return route.type === "missing" ? forwarded : route;
    },
  };
}
