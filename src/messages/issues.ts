/**
 * Turning valibot issues into refusal reasons a person can act on. Reasons are stored with parked
 * records, logged, returned to the sender and sent to Port as the run's FAILURE message, so they name the
 * field, what was expected and what kind of value arrived — `context.runId: expected a string, got a
 * number` — and never the value itself: a secret input typed wrongly must not travel in a reason.
 */
import * as v from "valibot";

/** The first issue of a failed parse: where (its dot path, null at the top) and valibot's or the schema's message. */
export function firstIssue(issues: readonly Issue[] | undefined): { path: string | null; message: string } {
  const issue = issues?.[0];
  return { path: issue ? v.getDotPath(issue) : null, message: issue?.message ?? "is invalid" };
}

/** How many issues a reason lists before it says "and N more". */
const MAX_LISTED = 3;

/** Any issue valibot can report; the schemas here only ever produce these. */
type Issue = v.BaseIssue<unknown>;

/**
 * One sentence for a failed parse: the first few issues, `; `-separated. `rename` maps a dot path to the
 * name the reader knows (a custom locator reports the configured path, not our internal key).
 */
export function formatIssues(issues: readonly Issue[], rename?: (path: string) => string): string {
  const parts = issues.slice(0, MAX_LISTED).map((issue) => formatIssue(leafIssue(issue), rename));
  const more = issues.length - MAX_LISTED;
  return more > 0 ? `${parts.join("; ")}; and ${more} more` : parts.join("; ");
}

function formatIssue(issue: Issue, rename?: (path: string) => string): string {
  const dotPath = v.getDotPath(issue);
  const path = dotPath === null ? "message" : rename ? rename(dotPath) : dotPath;
  // valibot's own wording of a rule repeats the value ("… but received "hunter2""): the rule alone is said.
  if (issue.kind === "validation" && issue.message.startsWith("Invalid ")) return `${path}: ${ruleWording(issue)}`;
  // Checks written here (`v.check`, `v.custom`) carry their own complete wording.
  if (issue.kind !== "schema" || issue.type === "custom") return `${path}: ${issue.message}`;
  // JSON has no undefined, so an undefined input is a missing required key (valibot would name the key
  // itself as "expected", which reads badly).
  if (issue.input === undefined) return `${path}: required, but missing`;
  // A strict object's key it does not know (valibot: "expected never").
  if (issue.expected === "never") return `${path}: not a known field`;
  return `${path}: expected ${describeExpected(issue.expected)}, got ${describeValue(issue.input)}`;
}

/**
 * A union that failed inside one of its object branches is better explained by that branch's issue
 * (`payload.action.trigger.operation: …`) than by the union's "expected a string or an object".
 */
function leafIssue(issue: Issue): Issue {
  const nested = issue.type === "union" ? issue.issues : undefined;
  const depth = issue.path?.length ?? 0;
  const deeper = nested?.find((n) => (n.path?.length ?? 0) > depth);
  return deeper ? leafIssue(deeper) : issue;
}

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  number: "a number",
  boolean: "a boolean",
  Object: "an object",
  Array: "an array",
  null: "null",
  undefined: "nothing",
};

/** valibot's `("A" | "B")` / `string` / `Object` → `one of "A", "B"` / `a string` / `an object`. */
function describeExpected(expected: string | null): string {
  if (expected === null) return "something else";
  const bare = expected.startsWith("(") && expected.endsWith(")") ? expected.slice(1, -1) : expected;
  const words = bare.split(" | ").map((token) => TYPE_WORDS[token] ?? token);
  if (words.length === 1) return words[0] as string;
  if (words.length === 2) return `${words[0]} or ${words[1]}`;
  return `one of ${words.join(", ")}`;
}

/** The kind of value that arrived, never the value: `null`, `a string`, `an empty string`, `a number`, `an array`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return value === "" ? "an empty string" : "a string";
    case "object":
      return "an object";
    default:
      return `a ${typeof value}`;
  }
}

/** How valibot's rules read, by their type; the requirement is the schema's (never the value's). */
const RULES: Record<string, (expected: string | null) => string> = {
  regex: (e) => `must match ${e}`,
  min_length: (e) => `must have a length ${e}`,
  max_length: (e) => `must have a length ${e}`,
  length: (e) => `must have a length of ${e}`,
  min_value: (e) => `must be ${e}`,
  max_value: (e) => `must be ${e}`,
  gt_value: (e) => `must be ${e}`,
  lt_value: (e) => `must be ${e}`,
  min_entries: (e) => `must have ${e} entries`,
  max_entries: (e) => `must have ${e} entries`,
  integer: () => "must be an integer",
  email: () => "must be an email address",
  url: () => "must be a URL",
  ipv4: () => "must be an IPv4 address",
  ipv6: () => "must be an IPv6 address",
  ip: () => "must be an IP address",
  iso_timestamp: () => "must be an ISO 8601 date and time",
  iso_date_time: () => "must be an ISO 8601 date and time",
  iso_date: () => "must be an ISO 8601 date",
  non_empty: () => "must not be empty",
};

function ruleWording(issue: Issue): string {
  const rule = RULES[issue.type];
  return rule ? rule(issue.expected) : `must satisfy ${issue.type.replaceAll("_", " ")}${issue.expected ? ` ${issue.expected}` : ""}`;
}
