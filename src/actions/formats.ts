/**
 * Port's input formats and what the generated module writes for each: a valibot check added to the type's
 * pipe, or a `portInputs` helper that stands for the whole value (src/actions/inputs.ts). The one list of
 * formats: the generator reads it, and a format not in it is typed by its type alone, with a comment saying
 * so. Formats from Port's user-input and blueprint-property pages (docs.port.io).
 */

/** `type: "string"` formats. `check`: the valibot action, or null for text that has no rule (YAML, Markdown, …). */
export const STRING_FORMATS: Readonly<Record<string, { check: string | null } | { helper: (blueprint: string | undefined) => string | null }>> = {
  "date-time": { check: "v.isoTimestamp()" },
  url: { check: "v.url()" },
  email: { check: "v.email()" },
  ipv4: { check: "v.ipv4()" },
  ipv6: { check: "v.ipv6()" },
  yaml: { check: null },
  markdown: { check: null },
  "multi-line": { check: null },
  proto: { check: null },
  /** An entity of `blueprint` (null without one: the input is not one Port accepts). */
  entity: { helper: (blueprint) => (blueprint ? `portInputs.entity(${JSON.stringify(blueprint)})` : null) },
  user: { helper: () => "portInputs.user()" },
  team: { helper: () => "portInputs.team()" },
};

/** `type: "object"` formats, each a helper for the whole value. */
export const OBJECT_FORMATS: Readonly<Record<string, string>> = {
  "labeled-url": "portInputs.labeledUrl()",
};
