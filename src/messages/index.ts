/** Message handling: sink bodies → records → validated, normalised runs and changes; Port signatures. */
export { splitSinkBody } from "./body.ts";
export type { SinkRecord, SplitBody } from "./body.ts";
export { parseRun } from "./run.ts";
export type { ParseRunOptions, ParseRunResult } from "./run.ts";
export { LOCATOR_DEFAULTS, RunLocatorSchema } from "./locator.ts";
export type { RunLocator } from "./locator.ts";
export { AgentRunSchema, LegacyRunSchema, RUN_OPERATIONS, TemplateRunSchema } from "./run-schemas.ts";
export type { AgentRunMessage, LegacyRunMessage, TemplateRunMessage } from "./run-schemas.ts";
export { CHANGE_RESOURCE_TYPES, ChangeSchema, parseChange } from "./change.ts";
export type { ChangeMessage, ParseChangeResult } from "./change.ts";
export { sha256Hex } from "./digest.ts";
export {
  DEFAULT_SIGNATURE_TOLERANCE_MS,
  verifyAgentSignature,
  verifyWebhookSignature,
} from "./signature.ts";
export type { HeaderSource, SignatureOptions, SignatureResult } from "./signature.ts";
export type * from "./views.ts";
