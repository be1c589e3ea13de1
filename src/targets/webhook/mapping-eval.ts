/**
 * Evaluating an agent mapping file as Port's agent does (port-agent `app/invokers/webhook_invoker.py`,
 * port-agent.md §6): the first mapping whose `enabled` is exactly true applies; the request starts from the
 * run's invocation (method default POST, its url, the whole message as body, no headers, no query) and each
 * request key the mapping sets replaces its part with the key's evaluation. A string is one jq program; an
 * object's leaves are evaluated one by one (empty nested objects dropped, as the agent's flattening drops
 * them), arrays element by element, other literals kept. All of it is ONE jq program per run
 * (`evaluateFirstMatch`), compiled from the file once.
 *
 * The report (`report.status`, `link`, `summary`, `externalRunId`) is jq over `{body, request, response}`
 * after the call; each field set replaces the default, and one that gives null removes it.
 */
import type { AgentMessage } from "./agent-message.ts";
import type { JqEngine } from "./jq.ts";
import { evaluateFields, evaluateFirstMatch } from "./jq-program.ts";
import type { Mapping, MappingTree } from "./mapping.ts";

/** The parts of the request a mapping may set, in the order the agent builds them. */
const REQUEST_KEYS = ["url", "method", "headers", "query", "body"] as const;
type RequestKey = (typeof REQUEST_KEYS)[number];

const REPORT_KEYS = ["status", "link", "summary", "externalRunId"] as const;
export type ReportKey = (typeof REPORT_KEYS)[number];

/** The HTTP request a run is forwarded with. `body` undefined: none is sent (the agent's `json=None`). */
export interface ForwardRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  query: Record<string, string | string[]>;
  body: unknown;
}

export interface BuiltRequest {
  /** The mapping that applied (its index in the file), or undefined: the run's own invocation was used. */
  mapping: Mapping | undefined;
  mappingIndex: number;
  request: ForwardRequest;
  /** Fields that gave no value because their jq did not compile (or stopped the program): for a warning. */
  problems: string[];
}

/** What the run's answer looked like, as the report's jq sees it. */
export interface ReportResponse {
  statusCode: number;
  headers: Record<string, string>;
  text: string;
  json: unknown;
}

/** The report fields a mapping set: a value replaces the default, null removes it. */
export type ReportOverrides = Partial<Record<ReportKey, unknown>>;

/** The mapping cannot build a request for this run (the message says which part; never a value). */
export class MappingRequestError extends Error {
  override name = "MappingRequestError";
}

export interface MappingEvaluator {
  request(agent: AgentMessage): Promise<BuiltRequest>;
  report(
    mapping: Mapping,
    context: { body: unknown; request: ForwardRequest; response: ReportResponse },
  ): Promise<{ overrides: ReportOverrides; problems: string[] }>;
}

interface Plan {
  keys: RequestKey[];
  trees: MappingTree[];
  expressions: string[];
}

/** The jq strings of a tree in order (the agent evaluates string leaves; empty nested objects are dropped). */
function leaves(tree: MappingTree, out: string[]): string[] {
  if (typeof tree === "string") out.push(tree);
  else if (Array.isArray(tree)) for (const item of tree) leaves(item, out);
  else if (tree !== null && typeof tree === "object") for (const inner of Object.values(tree)) leaves(inner, out);
  return out;
}

/** The tree with its string leaves replaced by `values` (taken in order), empty nested objects dropped. */
function assemble(tree: MappingTree, values: unknown[], nested = false): unknown {
  if (typeof tree === "string") return values.shift() ?? null;
  if (Array.isArray(tree)) return tree.map((item) => assemble(item, values, true));
  if (tree !== null && typeof tree === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(tree)) {
      if (inner !== null && typeof inner === "object" && !Array.isArray(inner) && Object.keys(inner).length === 0) continue;
      out[key] = assemble(inner, values, true);
    }
    return nested || Object.keys(out).length > 0 ? out : {};
  }
  return tree;
}

function planOf(mapping: Mapping): Plan {
  const keys = REQUEST_KEYS.filter((key) => mapping[key] !== undefined && mapping[key] !== null);
  const trees = keys.map((key) => mapping[key] as MappingTree);
  return { keys, trees, expressions: trees.flatMap((tree) => leaves(tree, [])) };
}

const stringOf = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value));

/** Header values as HTTP takes them: null dropped, text kept, anything else as JSON text. */
function headersOf(value: unknown): Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).flatMap(([name, v]) => (v === null || v === undefined ? [] : [[name, stringOf(v)]])));
}

/** An HTTP token: what a header's name may be (RFC 9110). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A header's value: one line of text (no CR, LF or NUL), in the bytes HTTP carries. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Where the first header HTTP would refuse is, and what of it, or null: named by its place only, since a
 * mapping may build a header from the run's inputs and what they hold is not repeated.
 */
function refusedHeader(headers: Record<string, string>): string | null {
  let place = 0;
  for (const [name, value] of Object.entries(headers)) {
    place++;
    if (!HEADER_NAME.test(name)) return `header #${place} (its name must be a token: letters, digits and !#$%&'*+-.^_\`|~)`;
    if (!HEADER_VALUE.test(value)) return `header #${place} (its value must be one line of text, without line breaks)`;
  }
  return null;
}

/** Query parameters: null dropped, arrays repeated, as `requests`' `params` sends them. */
function queryOf(value: unknown): Record<string, string | string[]> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).flatMap(([name, v]) => (v === null || v === undefined ? [] : [[name, Array.isArray(v) ? v.map(stringOf) : stringOf(v)]])),
  );
}

export function createMappingEvaluator(opts: { jq: JqEngine; mappings: readonly Mapping[]; env: Readonly<Record<string, string>> }): MappingEvaluator {
  const { jq, mappings, env } = opts;
  const plans = mappings.map(planOf);
  const candidates = mappings.map((mapping, i) => ({ condition: mapping.enabled, fields: plans[i]?.expressions ?? [] }));

  return {
    async request(agent) {
      const match = await evaluateFirstMatch(jq, candidates, agent.message, env);
      const mapping = match.index >= 0 ? mappings[match.index] : undefined;
      const parts: Record<RequestKey, unknown> = {
        url: agent.invocation.url ?? "",
        method: agent.invocation.method,
        headers: {},
        query: {},
        body: agent.message,
      };
      const plan = plans[match.index];
      if (mapping && plan) {
        const values = [...match.values];
        for (const [i, key] of plan.keys.entries()) parts[key] = assemble(plan.trees[i] as MappingTree, values);
      }
      const where = mapping ? `mapping #${match.index + 1}` : "the run's invocation method";
      if (typeof parts.url !== "string" || parts.url.length === 0) throw new MappingRequestError(`${where} gave no URL to forward the run to`);
      if (typeof parts.method !== "string" || parts.method.length === 0) throw new MappingRequestError(`${where} gave no HTTP method`);
      const headers = headersOf(parts.headers);
      const refused = refusedHeader(headers);
      if (refused) throw new MappingRequestError(`${where} gave a header HTTP does not allow: ${refused}`);
      const problems = match.problems.map((p) => `${where}: field ${p.index + 1}: ${p.message}`);
      return {
        mapping,
        mappingIndex: match.index,
        problems,
        request: {
          url: parts.url,
          method: parts.method.toUpperCase(),
          headers,
          query: queryOf(parts.query),
          body: parts.body === null ? undefined : parts.body,
        },
      };
    },

    async report(mapping, context) {
      const report = mapping.report;
      const keys = REPORT_KEYS.filter((key) => typeof report?.[key] === "string");
      if (!report || keys.length === 0) return { overrides: {}, problems: [] };
      const input = { ...context, request: { ...context.request, body: context.request.body ?? null } };
      const { values, problems } = await evaluateFields(
        jq,
        keys.map((key) => report[key] as string),
        input,
        env,
      );
      const overrides: ReportOverrides = Object.fromEntries(keys.map((key, i) => [key, values[i] ?? null]));
      return { overrides, problems: problems.map((p) => `report.${keys[p.index]}: ${p.message}`) };
    },
  };
}
