/**
 * Port's request rules as the emulator enforces them (tests and local demo only — this is not Port).
 * Each check returns the accepted value or a message in the spirit of Port's 422 answers, so portside's
 * handling of refusals is exercised against the same rules it meets in production.
 */

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

export interface PatchBody {
  status?: "SUCCESS" | "FAILURE";
  statusLabel?: string;
  link?: string | string[];
  summary?: string;
  externalRunId?: string;
}

export interface LogBody {
  message: string;
  terminationStatus?: "SUCCESS" | "FAILURE";
  statusLabel?: string;
}

export interface EntityBody {
  identifier: string;
  title?: string;
  icon?: string;
  team?: string | string[];
  properties?: Record<string, unknown>;
  relations?: Record<string, unknown>;
}

/**
 * Port's entity identifiers: letters of any script, digits and `@_.+:\/=-`, not `.` or `..`, at most 1000
 * characters.
 */
export const ENTITY_IDENTIFIER = /^(?!\.{1,2}$)[\p{L}0-9@_.+:\\/=-]+$/u;
export const ENTITY_IDENTIFIER_MAX = 1000;

/** Why an entity identifier is refused, or undefined when Port would take it. */
export function identifierProblem(identifier: string): string | undefined {
  if (identifier.length > ENTITY_IDENTIFIER_MAX) return `must NOT have more than ${ENTITY_IDENTIFIER_MAX} characters`;
  if (!ENTITY_IDENTIFIER.test(identifier)) return `must match pattern "${ENTITY_IDENTIFIER.source}"`;
  return undefined;
}

const PATCH_KEYS = new Set(["status", "statusLabel", "link", "summary", "externalRunId"]);
const LOG_KEYS = new Set(["message", "terminationStatus", "statusLabel"]);
const ENTITY_KEYS = new Set(["identifier", "title", "icon", "team", "properties", "relations"]);
const TERMINAL = new Set(["SUCCESS", "FAILURE"]);

const schemaError = (detail: string) => `The json provided does not match the route's schema: ${detail}`;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === "string");

function unknownKey(body: Record<string, unknown>, allowed: Set<string>): string | undefined {
  return Object.keys(body).find((key) => !allowed.has(key));
}

function checkStrings(body: Record<string, unknown>, keys: string[]): string | undefined {
  const bad = keys.find((key) => body[key] !== undefined && typeof body[key] !== "string");
  return bad === undefined ? undefined : schemaError(`/body/${bad} must be string`);
}

export function checkPatch(body: unknown): Checked<PatchBody> {
  if (!isObject(body)) return { ok: false, message: schemaError("/body must be object") };
  const extra = unknownKey(body, PATCH_KEYS);
  if (extra !== undefined) return { ok: false, message: schemaError(`/body must NOT have additional properties ('${extra}')`) };
  if (body.status !== undefined && !TERMINAL.has(body.status as string)) {
    return { ok: false, message: schemaError("/body/status must be equal to one of the allowed values (SUCCESS, FAILURE)") };
  }
  const badString = checkStrings(body, ["statusLabel", "summary", "externalRunId"]);
  if (badString) return { ok: false, message: badString };
  if (body.link !== undefined && typeof body.link !== "string" && !isStringList(body.link)) {
    return { ok: false, message: schemaError("/body/link must be string or array of strings") };
  }
  return { ok: true, value: body as PatchBody };
}

export function checkLog(body: unknown): Checked<LogBody> {
  if (!isObject(body)) return { ok: false, message: schemaError("/body must be object") };
  const extra = unknownKey(body, LOG_KEYS);
  if (extra !== undefined) return { ok: false, message: schemaError(`/body must NOT have additional properties ('${extra}')`) };
  if (typeof body.message !== "string") return { ok: false, message: schemaError("/body must have required property 'message'") };
  if (body.terminationStatus !== undefined && !TERMINAL.has(body.terminationStatus as string)) {
    return { ok: false, message: schemaError("/body/terminationStatus must be equal to one of the allowed values (SUCCESS, FAILURE)") };
  }
  const badString = checkStrings(body, ["statusLabel"]);
  if (badString) return { ok: false, message: badString };
  return { ok: true, value: body as unknown as LogBody };
}

export function checkEntity(body: unknown): Checked<EntityBody> {
  if (!isObject(body)) return { ok: false, message: schemaError("/body must be object") };
  const extra = unknownKey(body, ENTITY_KEYS);
  if (extra !== undefined) return { ok: false, message: schemaError(`/body must NOT have additional properties ('${extra}')`) };
  if (typeof body.identifier !== "string" || body.identifier.length === 0) {
    return { ok: false, message: schemaError("/body must have required property 'identifier'") };
  }
  const badIdentifier = identifierProblem(body.identifier);
  if (badIdentifier) return { ok: false, message: schemaError(`/body/identifier ${badIdentifier}`) };
  const badString = checkStrings(body, ["title", "icon"]);
  if (badString) return { ok: false, message: badString };
  for (const key of ["properties", "relations"] as const) {
    if (body[key] !== undefined && !isObject(body[key])) return { ok: false, message: schemaError(`/body/${key} must be object`) };
  }
  if (body.team !== undefined && typeof body.team !== "string" && !isStringList(body.team)) {
    return { ok: false, message: schemaError("/body/team must be string or array of strings") };
  }
  return { ok: true, value: body as unknown as EntityBody };
}

export interface EntityPatchBody {
  identifier?: string;
  title?: string | null;
  icon?: string | null;
  team?: string | string[];
  properties?: Record<string, unknown>;
  relations?: Record<string, unknown>;
}

/** `PATCH /v1/blueprints/{bp}/entities/{id}`: the entity fields, all optional; title and icon may be null. */
export function checkEntityPatch(body: unknown): Checked<EntityPatchBody> {
  if (!isObject(body)) return { ok: false, message: schemaError("/body must be object") };
  const extra = unknownKey(body, ENTITY_KEYS);
  if (extra !== undefined) return { ok: false, message: schemaError(`/body must NOT have additional properties ('${extra}')`) };
  if (body.identifier !== undefined) {
    const bad = typeof body.identifier === "string" ? identifierProblem(body.identifier) : "must be string";
    if (bad) return { ok: false, message: schemaError(`/body/identifier ${bad}`) };
  }
  const nullable = ["title", "icon"].find((key) => body[key] !== undefined && body[key] !== null && typeof body[key] !== "string");
  if (nullable) return { ok: false, message: schemaError(`/body/${nullable} must be string or null`) };
  for (const key of ["properties", "relations"] as const) {
    if (body[key] !== undefined && !isObject(body[key])) return { ok: false, message: schemaError(`/body/${key} must be object`) };
  }
  if (body.team !== undefined && typeof body.team !== "string" && !isStringList(body.team)) {
    return { ok: false, message: schemaError("/body/team must be string or array of strings") };
  }
  return { ok: true, value: body as EntityPatchBody };
}

/** `POST /v1/blueprints/{bp}/entities/bulk`: `{entities: [...]}` with 1 to 20 items (each checked on its own). */
export function checkBulk(body: unknown): Checked<{ entities: unknown[] }> {
  if (!isObject(body)) return { ok: false, message: schemaError("/body must be object") };
  const extra = unknownKey(body, new Set(["entities"]));
  if (extra !== undefined) return { ok: false, message: schemaError(`/body must NOT have additional properties ('${extra}')`) };
  if (!Array.isArray(body.entities)) return { ok: false, message: schemaError("/body must have required property 'entities'") };
  if (body.entities.length < 1) return { ok: false, message: schemaError("/body/entities must NOT have fewer than 1 items") };
  if (body.entities.length > 20) return { ok: false, message: schemaError("/body/entities must NOT have more than 20 items") };
  return { ok: true, value: { entities: body.entities } };
}

export interface NodeRunPatchBody {
  status: "IN_PROGRESS" | "COMPLETED";
  result?: "SUCCESS" | "FAILED" | "CANCELLED";
  output?: Record<string, unknown>;
}

export interface NodeRunLogsBody {
  logs: { level: "DEBUG" | "INFO" | "WARN" | "ERROR"; message: string }[];
}

const NODE_PATCH_KEYS = new Set(["status", "result", "output"]);
const NODE_STATUSES = new Set(["IN_PROGRESS", "COMPLETED"]);
const NODE_RESULTS = new Set(["SUCCESS", "FAILED", "CANCELLED"]);
const NODE_LOG_KEYS = new Set(["level", "message"]);
const NODE_LOG_LEVELS = new Set(["DEBUG", "INFO", "WARN", "ERROR"]);

/** `PATCH /v1/workflows/nodes/runs/{id}`: a status, and a result exactly when the status is COMPLETED. */
export function checkNodeRunPatch(body: unknown): Checked<NodeRunPatchBody> {
  if (!isObject(body)) return { ok: false, message: schemaError("/body must be object") };
  const extra = unknownKey(body, NODE_PATCH_KEYS);
  if (extra !== undefined) return { ok: false, message: schemaError(`/body must NOT have additional properties ('${extra}')`) };
  if (!NODE_STATUSES.has(body.status as string)) {
    return { ok: false, message: schemaError("/body/status must be equal to one of the allowed values (IN_PROGRESS, COMPLETED)") };
  }
  if (body.status === "COMPLETED" && !NODE_RESULTS.has(body.result as string)) {
    return { ok: false, message: schemaError("/body/result must be one of the allowed values (SUCCESS, FAILED, CANCELLED) when status is COMPLETED") };
  }
  if (body.status !== "COMPLETED" && body.result !== undefined)
    return { ok: false, message: schemaError("/body/result is only allowed when status is COMPLETED") };
  if (body.output !== undefined && !isObject(body.output)) return { ok: false, message: schemaError("/body/output must be object") };
  return { ok: true, value: body as unknown as NodeRunPatchBody };
}

/** `POST /v1/workflows/nodes/runs/{id}/logs`: `{logs: [{level, message}]}`, nothing else. */
export function checkNodeRunLogs(body: unknown): Checked<NodeRunLogsBody> {
  if (!isObject(body)) return { ok: false, message: schemaError("/body must be object") };
  const extra = unknownKey(body, new Set(["logs"]));
  if (extra !== undefined) return { ok: false, message: schemaError(`/body must NOT have additional properties ('${extra}')`) };
  if (!Array.isArray(body.logs) || body.logs.length === 0) return { ok: false, message: schemaError("/body/logs must be a non-empty array") };
  for (const [i, log] of body.logs.entries()) {
    if (!isObject(log)) return { ok: false, message: schemaError(`/body/logs/${i} must be object`) };
    const extraKey = unknownKey(log, NODE_LOG_KEYS);
    if (extraKey !== undefined) return { ok: false, message: schemaError(`/body/logs/${i} must NOT have additional properties ('${extraKey}')`) };
    if (typeof log.message !== "string") return { ok: false, message: schemaError(`/body/logs/${i} must have required property 'message'`) };
    if (!NODE_LOG_LEVELS.has(log.level as string)) {
      return { ok: false, message: schemaError(`/body/logs/${i}/level must be equal to one of the allowed values (DEBUG, INFO, WARN, ERROR)`) };
    }
  }
  return { ok: true, value: body as unknown as NodeRunLogsBody };
}
