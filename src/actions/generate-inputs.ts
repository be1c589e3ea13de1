import { OBJECT_FORMATS, STRING_FORMATS } from "./formats.ts";
import { JQ, type NormalizedInput, type NormalizedItems } from "./normalize.ts";

/**
 * One user input as valibot code for the generated module, and the notes its comment carries: where the
 * type is wider than Port's rule (a jqQuery, a rule JavaScript cannot read), the note says why. Pure text;
 * the module around it is generate.ts's.
 */
export interface FieldCode {
  code: string;
  notes: string[];
}

/** The input's schema, optional (missing or null) unless Port requires it and shows it. */
export function fieldCode(input: NormalizedInput): FieldCode {
  const notes: string[] = [];
  let code =
    input.type === "array" ? arrayOf(input, input.items ? valueCode(input.items, notes, "items: ") : "v.unknown()", notes) : valueCode(input, notes, "");
  if (input.encryption !== undefined) code = secretCode(input, code, notes);
  if (input.default === JQ) notes.push("Port computes its default at run time (a jqQuery).");
  if (input.required === JQ) notes.push("Port decides at run time whether it is required (a jqQuery): optional here.");
  if (input.visible === JQ) notes.push("Port shows it only when a jqQuery says so: optional here.");
  else if (input.visible === false && input.required === true) notes.push("Hidden in Port's form: optional here.");
  const required = input.required === true && input.visible === undefined;
  return { code: required ? code : `v.nullish(${code})`, notes };
}

/** The schema of a value of the input's (or its items') type, with its format and rules. */
function valueCode(input: NormalizedItems, notes: string[], prefix: string): string {
  switch (input.type) {
    case "string":
      return stringCode(input, notes, prefix);
    case "number":
      return numberCode(input, notes, prefix);
    case "boolean":
      return "v.boolean()";
    case "object":
      return objectCode(input, notes, prefix);
    case "array":
      // Only as an array's items (Port's forms have no arrays of arrays): the inner array is not described.
      return "v.array(v.unknown())";
  }
}

function stringCode(input: NormalizedItems, notes: string[], prefix: string): string {
  const format = input.format === undefined ? undefined : STRING_FORMATS[input.format];
  if (input.format !== undefined && !format) notes.push(`${prefix}format "${input.format}" is not one portside knows: any string here.`);
  if (format && "helper" in format) {
    const helper = format.helper(input.blueprint);
    if (helper) return helper;
    notes.push(`${prefix}an entity input without a blueprint: any string here.`);
  }
  const choices = picklist(input, "string", notes, prefix);
  if (choices) return choices;
  const checks: string[] = [];
  if (format && "check" in format && format.check) checks.push(format.check);
  if (input.minLength !== undefined) checks.push(`v.minLength(${input.minLength})`);
  if (input.maxLength !== undefined) checks.push(`v.maxLength(${input.maxLength})`);
  if (input.pattern !== undefined && input.pattern !== "") {
    const regex = regexLiteral(input.pattern);
    if (regex) checks.push(`v.regex(${regex})`);
    else notes.push(`${prefix}Port's pattern is not a JavaScript regular expression: not checked here.`);
  }
  return piped("v.string()", checks);
}

function numberCode(input: NormalizedItems, notes: string[], prefix: string): string {
  if (input.format !== undefined) notes.push(`${prefix}format "${input.format}" does not apply to a number: not checked here.`);
  const choices = picklist(input, "number", notes, prefix);
  if (choices) return choices;
  const checks: string[] = [];
  if (input.minimum !== undefined) checks.push(`v.minValue(${input.minimum})`);
  if (input.exclusiveMinimum !== undefined) checks.push(`v.gtValue(${input.exclusiveMinimum})`);
  if (input.maximum !== undefined) checks.push(`v.maxValue(${input.maximum})`);
  if (input.exclusiveMaximum !== undefined) checks.push(`v.ltValue(${input.exclusiveMaximum})`);
  return piped("v.number()", checks);
}

function objectCode(input: NormalizedItems, notes: string[], prefix: string): string {
  if (Array.isArray(input.enum)) notes.push(`${prefix}Port offers a fixed list of objects: any object here.`);
  else if (input.enum === JQ) notes.push(`${prefix}Port computes its choices at run time (a jqQuery): any object here.`);
  const helper = input.format === undefined ? undefined : OBJECT_FORMATS[input.format];
  if (input.format !== undefined && !helper) notes.push(`${prefix}format "${input.format}" is not one portside knows: any object here.`);
  return helper ?? "v.record(v.string(), v.unknown())";
}

/** `v.picklist([...])` for a fixed list of `kind` values; null (with a note when there is a list) otherwise. */
function picklist(input: NormalizedItems, kind: "string" | "number", notes: string[], prefix: string): string | null {
  if (input.enum === JQ) {
    notes.push(`${prefix}Port computes its choices at run time (a jqQuery): any ${kind} here.`);
    return null;
  }
  if (input.enum === undefined) return null;
  if (input.enum.length === 0 || !input.enum.every((choice) => typeof choice === kind)) {
    notes.push(`${prefix}Port's list of choices is not a list of ${kind}s: not checked here.`);
    return null;
  }
  return `v.picklist([${input.enum.map((choice) => JSON.stringify(choice)).join(", ")}])`;
}

function arrayOf(input: NormalizedInput, items: string, notes: string[]): string {
  if (Array.isArray(input.enum)) notes.push("Port offers a fixed list of arrays: any array of these items here.");
  else if (input.enum === JQ) notes.push("Port computes its choices at run time (a jqQuery): any array of these items here.");
  const checks: string[] = [];
  if (input.minItems !== undefined) checks.push(`v.minLength(${input.minItems})`);
  if (input.maxItems !== undefined) checks.push(`v.maxLength(${input.maxItems})`);
  if (input.uniqueItems) checks.push("portInputs.distinct()");
  return piped(`v.array(${items})`, checks);
}

/** Port-managed encryption, which portside decrypts, or another (the value stays ciphertext). */
function secretCode(input: NormalizedInput, code: string, notes: string[]): string {
  if (input.encryption !== "aes256-gcm") {
    notes.push(`Encrypted with the organisation's own key (${input.encryption}): the value is the ciphertext, which portside cannot decrypt.`);
    return "portInputs.secret(v.string())";
  }
  if (input.type === "object") {
    notes.push("A secret object arrives parsed when the run's message says the input is an object, as JSON text otherwise.");
    return `portInputs.secret(v.union([${code}, v.string()]))`;
  }
  return `portInputs.secret(${code})`;
}

const piped = (base: string, checks: string[]): string => (checks.length === 0 ? base : `v.pipe(${[base, ...checks].join(", ")})`);

/**
 * Port's `pattern` as a regular expression literal: with the `u` flag when it reads so (JSON Schema's
 * patterns are Unicode, as `\p{L}` in Port's own identifiers), else without; null when JavaScript cannot
 * read it or it spans lines.
 */
export function regexLiteral(pattern: string): string | null {
  if (/[\n\r\u2028\u2029]/.test(pattern)) return null;
  for (const flags of ["u", ""]) {
    try {
      new RegExp(pattern, flags);
    } catch {
      continue;
    }
    return `/${escapeSlashes(pattern)}/${flags}`;
  }
  return null;
}

/** A `/` outside a character class ends a literal: escaped there (and only there, where it is needed). */
function escapeSlashes(pattern: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === "\\") {
      out += char + (pattern[i + 1] ?? "");
      i++;
      continue;
    }
    if (char === "[") inClass = true;
    else if (char === "]") inClass = false;
    out += char === "/" && !inClass ? "\\/" : char;
  }
  return out;
}
