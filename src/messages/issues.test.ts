import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { formatIssues } from "./issues.ts";

describe("refusal reasons name the rule, never the value", () => {
  test("valibot's own rule wording (which repeats the value) is replaced by the rule", () => {
    const schema = v.object({
      a: v.pipe(v.string(), v.regex(/^\d+$/)),
      b: v.pipe(v.string(), v.minLength(3)),
      c: v.pipe(v.number(), v.maxValue(5)),
      d: v.pipe(v.string(), v.email()),
      e: v.pipe(v.string(), v.url()),
    });
    const result = v.safeParse(schema, { a: "hunter2", b: "hu", c: 99, d: "secret-x", e: "secret-y" });
    const reason = formatIssues(result.issues ?? []);
    expect(reason).toBe("a: must match /^\\d+$/; b: must have a length >=3; c: must be <=5; and 2 more");
    expect(formatIssues((result.issues ?? []).slice(3))).toBe("d: must be an email address; e: must be a URL");
    for (const value of ["hunter2", "secret-x", "secret-y", "99"]) expect(reason).not.toContain(value);
  });

  test("a type refusal says what was expected and what kind of value came", () => {
    const result = v.safeParse(v.object({ n: v.number(), p: v.picklist(["a", "b"]) }), { n: "12", p: "zzz" });
    expect(formatIssues(result.issues ?? [])).toBe('n: expected a number, got a string; p: expected "a" or "b", got a string');
  });

  test("a rule's own message, written by the schema, is kept", () => {
    const result = v.safeParse(v.pipe(v.string(), v.regex(/^r_/, "must be a run id")), "x");
    expect(formatIssues(result.issues ?? [])).toBe("message: must be a run id");
  });
});
