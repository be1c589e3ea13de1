/**
 * jq with the semantics of Port's agent (`pyjq.first` in pyjq 2.6, port-agent.md §8): a program's value is
 * its first output, computed over *all* its outputs; a compile error, a runtime error anywhere in the output
 * stream, or no output at all gives null. Reproduced on jq 1.8 by wrapping each expression as
 * `try ([E] | .[0]) catch null` (jq-engines.md §2), and, where a whole program fails (a compile error in one
 * field, `halt`), by evaluating its fields one by one.
 *
 * Several expressions over one input are evaluated as ONE jq program (an array of wrapped fields): one call
 * of ~2 ms instead of one per field.
 *
 * `env` and `$ENV` are what the caller passes, never the process environment: Port's default mapping reads
 * `env.GITLAB_URL` and one GitLab trigger token per project (`gitlabTriggerTokenVar`), so those are what a
 * deployment lists (`pickJqEnv`).
 */
import type { JqEngine } from "./jq.ts";

/** The variable that carries the allowed environment into jq. */
const ENV_VAR = "__env";

/** Makes `env` and `$ENV` read the variables passed in, in every program this module builds. */
const ENV_PRELUDE = `def env: $${ENV_VAR}; $${ENV_VAR} as $ENV | `;

/** The environment variables Port's default GitLab mapping reads besides the trigger tokens. */
export const DEFAULT_JQ_ENV_NAMES: readonly string[] = ["GITLAB_URL"];

/**
 * The variable holding a GitLab project's trigger token, as Port's default mapping names it:
 * `<groupName with "/" → "_">_<projectName>` (Port's self-hosted GitLab docs: `group_project=token`).
 */
export const gitlabTriggerTokenVar = (groupName: string, projectName: string): string => `${groupName.replaceAll("/", "_")}_${projectName}`;

/** The allowed variables of `source` that are set: what jq's `env` may show. */
export function pickJqEnv(source: Readonly<Record<string, string | undefined>>, names: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    const value = source[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * One expression wrapped for agent semantics. The blank line after it ends a `#` comment (jq 1.7+ lets a
 * comment ending in a backslash run onto the next line) before the wrapper closes.
 */
export const agentField = (expression: string): string => `(try ([\n${expression}\n\n] | .[0]) catch null)`;

/** A program of `fields` as one array: `[F1, F2, …]`, each field wrapped. */
export const fieldsProgram = (expressions: readonly string[]): string => `${ENV_PRELUDE}[${expressions.map(agentField).join(",\n")}]`;

/** What an evaluation gave besides its values: jq's words for fields that do not compile (for a warning). */
export interface FieldsOutcome {
  values: unknown[];
  /** Indexes of fields evaluated alone because the combined program failed, with jq's message when it did not compile. */
  problems: { index: number; message: string }[];
}

/**
 * The values of `expressions` over `input`, in order, each as Port's agent computes it. One jq call; when
 * that program as a whole fails (a field that does not compile, `halt`, output of the wrong shape), each
 * field is evaluated on its own so one bad field costs only its own value.
 */
export async function evaluateFields(
  jq: JqEngine,
  expressions: readonly string[],
  input: unknown,
  env: Readonly<Record<string, string>>,
): Promise<FieldsOutcome> {
  if (expressions.length === 0) return { values: [], problems: [] };
  const combined = readArray(await jq.run(input, fieldsProgram(expressions), { [ENV_VAR]: env }), expressions.length);
  if (combined) return { values: combined, problems: [] };
  const values: unknown[] = [];
  const problems: FieldsOutcome["problems"] = [];
  for (const [index, expression] of expressions.entries()) {
    const result = await jq.run(input, fieldsProgram([expression]), { [ENV_VAR]: env });
    const value = readArray(result, 1);
    values.push(value ? value[0] : null);
    if (!value) problems.push({ index, message: problem(result) });
  }
  return { values, problems };
}

/** The one array of `length` values a fields program prints, or undefined when it printed anything else. */
function readArray(result: { stdout: string; exitCode: number }, length: number): unknown[] | undefined {
  if (result.exitCode !== 0) return undefined;
  try {
    const value: unknown = JSON.parse(result.stdout);
    return Array.isArray(value) && value.length === length ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why a field gave no value. jq's words only for a compile error (exit 3), which quote the program and
 * nothing of the input; at run time stderr may hold input values (`debug`, `halt_error`), so it is not kept.
 */
function problem(result: { stderr: string; exitCode: number }): string {
  if (result.exitCode !== 3) return `jq exited with code ${result.exitCode} without a value`;
  const line = result.stderr.split("\n").find((l) => l.trim().length > 0) ?? "compile error";
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

/** A condition: a boolean as it is, or a jq program whose first output must be exactly `true`. */
export type Condition = boolean | string;

/** Which of several candidates applies (-1: none), and the values of its fields. */
export interface FirstMatch extends FieldsOutcome {
  index: number;
}

const conditionProgram = (condition: Condition): string => (typeof condition === "boolean" ? String(condition) : `(${agentField(condition)} == true)`);

/**
 * The first candidate whose condition holds, and its fields' values, in ONE jq program:
 * `if C0 then [0, [F…]] elif C1 then [1, [F…]] … else [-1, []] end`. Falls back to condition by condition,
 * then field by field, when that program fails as a whole.
 */
export async function evaluateFirstMatch(
  jq: JqEngine,
  candidates: readonly { condition: Condition; fields: readonly string[] }[],
  input: unknown,
  env: Readonly<Record<string, string>>,
): Promise<FirstMatch> {
  if (candidates.length === 0) return { index: -1, values: [], problems: [] };
  const branches = candidates.map((c, i) => `${conditionProgram(c.condition)} then [${i}, [${c.fields.map(agentField).join(",\n")}]]`);
  const program = `${ENV_PRELUDE}if ${branches.join("\nelif ")}\nelse [-1, []] end`;
  const result = await jq.run(input, program, { [ENV_VAR]: env });
  const pair = readArray(result, 2);
  const index = pair?.[0];
  const values = pair?.[1];
  if (typeof index === "number" && Array.isArray(values) && (index === -1 ? values.length === 0 : values.length === candidates[index]?.fields.length)) {
    return { index, values, problems: [] };
  }
  for (const [i, candidate] of candidates.entries()) {
    const holds =
      typeof candidate.condition === "boolean" ? candidate.condition : (await evaluateFields(jq, [candidate.condition], input, env)).values[0] === true;
    if (holds) return { index: i, ...(await evaluateFields(jq, candidate.fields, input, env)) };
  }
  return { index: -1, values: [], problems: [] };
}
