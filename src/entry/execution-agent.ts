import type { ExecutionAgentSettings } from "../config.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import type { ExternalTargetRunner } from "../targets/external.ts";
import { createJqEngine, DEFAULT_JQ_LIMITS } from "../targets/webhook/jq.ts";
import { loadMappingFile } from "../targets/webhook/mapping.ts";
import { AGENT_WEBHOOK_KIND, createAgentWebhookRunner } from "../targets/webhook/runner.ts";

/** Port's agent's default mapping: a GitLab pipeline trigger for GITLAB runs, else the run's own URL. */
const DEFAULT_MAPPING = new URL("../targets/webhook/default-mapping.json", import.meta.url).pathname;

/**
 * The forwarding side of execution-agent mode: jq started once, the mapping file read and checked (its
 * problems fail the start, naming the mapping and field), and the runner of `agentWebhook` targets, whose
 * extra reports (a synchronized answer, a node run's output) go through the ledger's outbox.
 *
 * `inFlight`: the most items the executor may run at once (CONCURRENCY + TARGET_CONCURRENCY). Each one waits
 * for at most one jq evaluation at a time, so jq's queue takes that many: under a backlog, a run waits its
 * turn for jq instead of being refused and reported FAILURE.
 */
export async function executionAgentTargets(
  settings: ExecutionAgentSettings,
  deps: { ledger: Ledger; logger: Logger; inFlight: number; clock?: () => number },
): Promise<{ targets: Record<string, ExternalTargetRunner>; close(): Promise<void> }> {
  const clock = deps.clock ?? Date.now;
  const file = await loadMappingFile(settings.mappingPath ?? DEFAULT_MAPPING);
  for (const warning of file.warnings) deps.logger.warn("agent.mapping_warning", { warning });
  const jq = createJqEngine({ limits: { maxQueued: Math.max(DEFAULT_JQ_LIMITS.maxQueued, deps.inFlight) } });
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
