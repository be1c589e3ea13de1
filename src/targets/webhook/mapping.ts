/**
 * The mapping file of Port's execution agent (`CONTROL_THE_PAYLOAD_CONFIG_PATH`, its `invocations.json` /
 * `control_the_payload_config.json`): a JSON array of mappings, each saying when it applies (`enabled`) and
 * how to build the forwarded request and the run's report with jq (port-agent `app/core/config.py`
 * `Mapping`; port-agent.md §7). The same file works here unchanged.
 *
 * Strings are jq programs (a literal string is a jq string literal, `"\"text\""`); numbers, booleans and
 * null in `body`, `headers` and `query` objects are kept as they are. Keys Port's agent does not know are
 * ignored there; here they are ignored too, and named in the loader's warnings, since they are usually typos.
 */
import { readFile } from "node:fs/promises";
import * as v from "valibot";
import { describeValue, formatIssues } from "../../messages/issues.ts";

/** Where Port's agent reads its mapping file by default (relative to its working directory, `/app` in its image). */
export const DEFAULT_MAPPING_PATH = "./control_the_payload_config.json";

/** A value of `body`, `headers` or `query`: a jq string, a literal, or objects and arrays of those. */
export type MappingTree = string | number | boolean | null | MappingTree[] | { [key: string]: MappingTree };
const TreeSchema: v.GenericSchema<MappingTree> = v.union([
  v.string(),
  v.number(),
  v.boolean(),
  v.null(),
  v.array(v.lazy(() => TreeSchema)),
  v.record(
    v.string(),
    v.lazy(() => TreeSchema),
  ),
]);

const Jq = v.string("must be a jq program (a string)");

export const MappingReportSchema = v.object({
  status: v.optional(v.nullable(Jq)),
  link: v.optional(v.nullable(Jq)),
  summary: v.optional(v.nullable(Jq)),
  externalRunId: v.optional(v.nullable(Jq)),
});

export const MAPPING_KEYS = ["enabled", "url", "method", "headers", "query", "body", "report", "fieldsToDecryptPaths"] as const;

export const MappingSchema = v.object({
  /** `true`, or a jq program whose first output must be exactly `true` (default true). */
  enabled: v.optional(v.union([v.boolean(), Jq], "must be true, false or a jq program"), true),
  url: v.optional(v.nullable(Jq)),
  method: v.optional(v.nullable(Jq)),
  headers: v.optional(v.nullable(v.union([Jq, v.record(v.string(), TreeSchema)], "must be a jq program or an object"))),
  query: v.optional(v.nullable(v.union([Jq, v.record(v.string(), TreeSchema)], "must be a jq program or an object"))),
  body: v.optional(v.nullable(v.union([Jq, v.record(v.string(), TreeSchema)], "must be a jq program or an object"))),
  /** jq over `{body, request, response}`; each field set replaces the default report's. */
  report: v.optional(v.nullable(MappingReportSchema)),
  /** Dot paths of encrypted values to decrypt before building the request (`a.b.0.c`). */
  fieldsToDecryptPaths: v.optional(v.array(v.string("must be a dot path (a string)")), []),
});

export type Mapping = v.InferOutput<typeof MappingSchema>;
export type MappingReport = v.InferOutput<typeof MappingReportSchema>;

export const MappingFileSchema = v.array(v.unknown(), "must be a JSON array of mappings");

export interface MappingFile {
  mappings: Mapping[];
  /** Keys that mean nothing to Port's agent (ignored), as `mapping #2: unknown key "bdy"`. */
  warnings: string[];
  source: string;
}

/** The file cannot be used; the message names the file, the mapping and the field, never a value. */
export class MappingFileError extends Error {
  override name = "MappingFileError";
}

/** Checks a mapping file's text; `source` names it in messages (a path, or the variable it came from). */
export function parseMappingFile(text: string, source: string): MappingFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MappingFileError(`${source}: not valid JSON (${err instanceof Error ? err.message : "parse error"})`);
  }
  const list = v.safeParse(MappingFileSchema, json);
  if (!list.success) throw new MappingFileError(`${source}: must be a JSON array of mappings, got ${describeValue(json)}`);
  const mappings: Mapping[] = [];
  const warnings: string[] = [];
  for (const [index, item] of list.output.entries()) {
    const which = `mapping #${index + 1}`;
    const parsed = v.safeParse(MappingSchema, item);
    if (!parsed.success) throw new MappingFileError(`${source}: ${which}: ${formatIssues(parsed.issues)}`);
    for (const key of Object.keys(item as object)) {
      if (!(MAPPING_KEYS as readonly string[]).includes(key)) warnings.push(`${which}: unknown key "${key}" is ignored (Port's agent ignores it too)`);
    }
    mappings.push(parsed.output);
  }
  return { mappings, warnings, source };
}

/** Reads and checks the mapping file at `path`. */
export async function loadMappingFile(path: string): Promise<MappingFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err instanceof Error ? err.message : "unreadable");
    throw new MappingFileError(`${path}: cannot read the mapping file (${code}); set CONTROL_THE_PAYLOAD_CONFIG_PATH to a JSON file of mappings`);
  }
  return parseMappingFile(text, path);
}
