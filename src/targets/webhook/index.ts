/** Forwarding runs as Port's execution agent does: mapping files, jq, the HTTP call and the runner. */
export { agentMessageOf, AgentMessageError, messageFromPolledNodeRun, messageFromPolledRun, messageFromTopic, type AgentMessage } from "./agent-message.ts";
export { DEFAULT_WEBHOOK_TIMEOUT_S, forward, IDEMPOTENCY_KEY_HEADER, type ForwardOutcome } from "./forward.ts";
export { createJqEngine, DEFAULT_JQ_LIMITS, JqHostError, JqLimitError, type JqEngine, type JqLimits } from "./jq.ts";
export { DEFAULT_JQ_ENV_NAMES, evaluateFields, gitlabTriggerTokenVar, pickJqEnv } from "./jq-program.ts";
export { DEFAULT_MAPPING_PATH, loadMappingFile, MappingFileError, parseMappingFile, type Mapping, type MappingFile } from "./mapping.ts";
export { createMappingEvaluator, MappingRequestError, type ForwardRequest, type MappingEvaluator } from "./mapping-eval.ts";
export { AGENT_WEBHOOK_KIND, agentWebhook, createAgentWebhookRunner, type AgentWebhookRunnerOptions, type AgentWebhookTarget } from "./runner.ts";
export { fetchFor } from "./tls.ts";
