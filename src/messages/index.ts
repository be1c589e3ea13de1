/** Message handling: sink bodies → records → validated, normalised runs and changes; Port signatures. */
export { MAX_NESTING, parseRecord, readBody } from "./body.ts";
export type { RawRecord, SinkRecord } from "./body.ts";
export { brokenRun, parseRun } from "./run.ts";
export type { ParseRunOptions, ParseRunResult } from "./run.ts";
export { LOCATOR_DEFAULTS, RunLocatorSchema } from "./locator.ts";
export type { RunLocator } from "./locator.ts";
export { AgentRunSchema, LegacyRunSchema, TemplateRunSchema } from "./run-schemas.ts";
export { CHANGE_ACTIONS, CHANGE_RESOURCE_TYPES, RUN_OPERATIONS } from "./schemas.ts";
export type { AgentRunMessage, LegacyRunMessage, TemplateRunMessage } from "./run-schemas.ts";
export { ChangeSchema, parseChange } from "./change.ts";
export type { ChangeMessage, ParseChangeResult } from "./change.ts";
export { sha256Hex } from "./digest.ts";
export {
  DEFAULT_SIGNATURE_TOLERANCE_MS,
  verifyAgentSignature,
  verifyWebhookSignature,
} from "./signature.ts";
export type { HeaderSource, SignatureOptions, SignatureResult } from "./signature.ts";
export type * from "./views.ts";
