import type { ExecutionAgentSettings } from "../config.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import type { ExternalTargetRunner } from "../targets/external.ts";
import { createJqEngine } from "../targets/webhook/jq.ts";
import { loadMappingFile } from "../targets/webhook/mapping.ts";
import { AGENT_WEBHOOK_KIND, createAgentWebhookRunner } from "../targets/webhook/runner.ts";

/** Port's agent's default mapping: a GitLab pipeline trigger for GITLAB runs, else the run's own URL. */
const DEFAULT_MAPPING = new URL("../targets/webhook/default-mapping.json", import.meta.url).pathname;

/**
 * The forwarding side of execution-agent mode: jq started once, the mapping file read and checked (its
 * problems fail the start, naming the mapping and field), and the runner of `agentWebhook` targets, whose
 * extra reports (a synchronized answer, a node run's output) go through the ledger's outbox.
 */
export async function executionAgentTargets(
  settings: ExecutionAgentSettings,
  deps: { ledger: Ledger; logger: Logger; clock?: () => number },
): Promise<{ targets: Record<string, ExternalTargetRunner>; close(): Promise<void> }> {
  const clock = deps.clock ?? Date.now;
  const file = await loadMappingFile(settings.mappingPath ?? DEFAULT_MAPPING);
  for (const warning of file.warnings) deps.logger.warn("agent.mapping_warning", { warning });
  // A backlog of forwarded runs waits its turn for jq (jq.ts), never failed for it.
  const jq = createJqEngine();
  const runner = createAgentWebhookRunner({
    jq,
    mappings: file.mappings,
    env: settings.jqEnv,
    report: (reports) => deps.ledger.appendReports(reports, clock()),
    logger: deps.logger,
    timeoutMs: settings.timeoutMs,
    verifyTls: settings.verifyTls,
  });
  deps.logger.info("agent.ready", {
    mappings: file.mappings.length,
    mappingFile: settings.mappingPath ?? "Port's agent's default",
    verifyTls: settings.verifyTls,
    jqVersion: await jq.version(),
  });
  return { targets: { [AGENT_WEBHOOK_KIND]: runner }, close: () => jq.close() };
}
