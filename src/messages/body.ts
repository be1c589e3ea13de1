/**
 * Splitting an HTTP sink request body into Kafka records.
 *
 * A Kafka Connect HTTP sink POSTs record values only, in one of three forms: one JSON value (Camel, or
 * Aiven without batching), a JSON array of values (Aiven with `[`/`,`/`]`, Confluent
 * `batch.json.as.array`), or newline-delimited values (Aiven's default batch).
 *
 * Whatever a body holds, splitting never throws and never lets one record cost the others:
 *   - the structure is found by one scan over the bytes (JSON's structural characters are ASCII, and no
 *     byte of a multi-byte UTF-8 sequence is), so a top-level array is split by element even when one
 *     element is malformed, and bytes that are not UTF-8 stay with the record they belong to;
 *   - each record is decoded strictly (invalid UTF-8 is refused, never replaced), checked for nesting
 *     depth before it is parsed (50,000 nested arrays would overflow `JSON.stringify`'s stack), then parsed;
 *   - a refused record keeps the exact bytes that arrived, to be parked and replayed;
 *   - reasons say where and what, never the record's content.
 *
 * `scanBody` is cheap (one pass); `readSegment` does the per-record work, so a caller can read a large body
 * in slices and yield in between.
 */
import { isPlainObject } from "./json.ts";

/** Deeper records are refused: no Port message comes near it, and deeper ones overflow JSON.stringify. */
export const MAX_NESTING = 128;

/** What arrived for one record: its text when it is valid UTF-8, else its bytes as they were. */
export type RawRecord = string | Uint8Array;

/** One record of a sink body: parsed, or refused with the reason and the bytes that arrived. */
export type SinkRecord =
  | {
      ok: true;
      value: unknown;
      /**
       * `JSON.stringify(value)`: the canonical form stored and digested. The same record gives the same
       * text whichever body form carried it, so redeliveries in another batch shape still dedupe.
       */
      text: string;
      /** The record as it arrived (its slice of the body). */
      raw: string;
    }
  | { ok: false; error: string; raw: RawRecord };

/** Where one record sits in a body, and what to call it in a reason ("element 3", "line 7", "the body"). */
export interface Segment {
  start: number;
  end: number;
  /** Deepest bracket nesting inside the segment. */
  depth: number;
  where: "element" | "line" | "body" | "record";
  /** The element's or line's number, from 1. */
  n: number;
}

const label = (s: Segment): string => (s.where === "body" ? "the body" : s.where === "record" ? "the record" : `${s.where} ${s.n}`);

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The ASCII codes the scan looks for (structural characters of JSON, and white space). */
const TAB = 9;
const LINE_FEED = 10;
const CARRIAGE_RETURN = 13;
const SPACE = 32;
const QUOTE = 34;
const COMMA = 44;
const COLON = 58;
const BACKSLASH = 92;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

const isSpace = (c: number | undefined) => c === SPACE || c === LINE_FEED || c === CARRIAGE_RETURN || c === TAB;

/** `start` and `end` moved past white space at both ends. */
function trim(bytes: Uint8Array, start: number, end: number): [number, number] {
  let s = start;
  let e = end;
  while (s < e && isSpace(bytes[s])) s++;
  while (e > s && isSpace(bytes[e - 1])) e--;
  return [s, e];
}

/** All records of a body, read one by one as they are iterated (a large body is read in slices). */
export function* readBody(body: string | Uint8Array): Generator<SinkRecord, void, undefined> {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  for (const segment of scanBody(bytes)) yield readSegment(bytes, segment);
}

/** All records of a body at once. */

/** One record on its own (a Kafka message value): parsed, or refused with its bytes. */
export function parseRecord(value: string | Uint8Array): SinkRecord {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  const [start, end] = trim(bytes, 0, bytes.length);
  return readSegment(bytes, { start, end, depth: nestingDepth(bytes, start, end), where: "record", n: 1 });
}

/**
 * Finds the records of a body: the elements of a top-level JSON array, one JSON value, or the lines of
 * newline-delimited values. Blank lines are skipped; an empty body has none.
 */
export function scanBody(bytes: Uint8Array): Segment[] {
  // A byte order mark is not part of the first record (strict decoding would keep it in an array body).
  let first = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (first < bytes.length && isSpace(bytes[first])) first++;
  if (first === bytes.length) return [];
  if (bytes[first] === OPEN_BRACKET) {
    const elements = scanArray(bytes, first);
    if (elements) return elements;
    return scanLines(bytes);
  }
  if (bytes[first] !== OPEN_BRACE) return scanLines(bytes);
  // One object over the whole body that is valid JSON is one record, however it is laid out.
  const value = scanValue(bytes, first);
  if (value && value.depth <= MAX_NESTING && isJson(bytes.subarray(value.start, value.end))) return [value];
  // Otherwise the body is broken, and it is either newline-delimited records or one broken pretty-printed
  // object. Lines, unless the body looks laid out: its first line stops where a layout breaks a line
  // (after `{`, `[`, `,` or `:`) and every later line is indented or starts with a closer. A record line
  // never stops there, and one broken record must not make the records after it part of one "value"
  // (whose run ids would then go unanswered).
  return value && laidOut(bytes, first) ? [value] : scanLines(bytes);
}

/** Whether a body that opens at `first` has the line breaks of a pretty-printed value. */
function laidOut(bytes: Uint8Array, first: number): boolean {
  const firstLineEnd = bytes.indexOf(LINE_FEED, first);
  if (firstLineEnd < 0) return false;
  const [, e] = trim(bytes, first, firstLineEnd);
  if (![OPEN_BRACE, OPEN_BRACKET, COMMA, COLON].includes(bytes[e - 1] as number)) return false;
  for (let at = firstLineEnd; at >= 0 && at + 1 < bytes.length; at = bytes.indexOf(LINE_FEED, at + 1)) {
    const c = bytes[at + 1];
    if (!(isSpace(c) || c === CLOSE_BRACE || c === CLOSE_BRACKET)) return false;
  }
  return true;
}

function isJson(bytes: Uint8Array): boolean {
  try {
    JSON.parse(strictUtf8.decode(bytes));
    return true;
  } catch {
    return false;
  }
}

/**
 * The elements of a top-level array, or undefined when the body is not one array (then it is read as
 * lines). Brackets are counted outside strings only; a line break ends a string (JSON strings never hold
 * one), so an unterminated string spoils one element, not the rest. A closing bracket that does not match
 * closes what it can, so an element with unbalanced brackets ends at the next element; a `]` that would
 * close the array before its end closes only its element's brackets. Every byte costs O(1), amortised:
 * what a closer scans past, it removes.
 */
function scanArray(bytes: Uint8Array, open: number): Segment[] | undefined {
  const segments: Segment[] = [];
  // The open brackets, innermost last; `top` is its length. A body never nests deeper than its length.
  const stack = new Uint8Array(bytes.length + 1);
  stack[0] = OPEN_BRACKET;
  let top = 1;
  let braces = 0; // `{` on the stack, so a stray `}` costs nothing to refuse
  let closedAt = -1;
  let start = open + 1;
  let depth = 0;
  const push = (end: number) => {
    const [s, e] = trim(bytes, start, end);
    segments.push({ start: s, end: e, depth, where: "element", n: segments.length + 1 });
    start = end + 1;
    depth = 0;
  };
  /** Closes the innermost open `opener` and everything inside it; returns where it stood (-1: none). */
  const close = (opener: number): number => {
    let at = top - 1;
    while (at >= 0 && stack[at] !== opener) at--;
    if (at > 0) {
      for (let k = at; k < top; k++) if (stack[k] === OPEN_BRACE) braces--;
      top = at;
    }
    return at;
  };
  for (let i = open + 1; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === QUOTE) i = stringEnd(bytes, i, bytes.length);
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      stack[top++] = c;
      if (c === OPEN_BRACE) braces++;
      if (top - 1 > depth) depth = top - 1;
    } else if (c === CLOSE_BRACKET) {
      if (close(OPEN_BRACKET) > 0) continue;
      if (onlySpaceAfter(bytes, i)) {
        push(i);
        closedAt = i;
        break;
      }
      // Would close the array before its end: close only this element's brackets.
      for (let k = 1; k < top; k++) if (stack[k] === OPEN_BRACE) braces--;
      top = 1;
    } else if (c === CLOSE_BRACE) {
      if (braces > 0) close(OPEN_BRACE);
    } else if (c === COMMA && top === 1) push(i);
  }
  if (closedAt < 0) return undefined; // never closed
  // `[]` holds nothing; an empty element elsewhere (`[a,,b]`, `[a,]`) is refused like any malformed one.
  if (segments.length === 1 && segments[0]?.start === segments[0]?.end) return [];
  return segments;
}

function onlySpaceAfter(bytes: Uint8Array, at: number): boolean {
  for (let j = at + 1; j < bytes.length; j++) if (!isSpace(bytes[j])) return false;
  return true;
}

/** One object spanning the whole body (pretty-printed JSON), or undefined when something follows it. */
function scanValue(bytes: Uint8Array, open: number): Segment | undefined {
  const { depth, closedAt } = walk(bytes, open, bytes.length, true);
  if (closedAt < 0) return undefined;
  for (let j = closedAt + 1; j < bytes.length; j++) if (!isSpace(bytes[j])) return undefined;
  return { start: open, end: closedAt + 1, depth, where: "body", n: 1 };
}

/** Newline-delimited values, numbering lines from 1; `\r\n` and blank lines are fine. */
function scanLines(bytes: Uint8Array): Segment[] {
  const segments: Segment[] = [];
  let line = 0;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== LINE_FEED) continue;
    line++;
    const [s, e] = trim(bytes, start, i);
    if (e > s) segments.push({ start: s, end: e, depth: nestingDepth(bytes, s, e), where: "line", n: line });
    start = i + 1;
  }
  return segments;
}

/**
 * Where the string opened by the quote at `open` ends: its closing quote, or a line break (JSON strings
 * never hold one, so an unterminated string spoils only its own line or element), or `end`.
 */
function stringEnd(bytes: Uint8Array, open: number, end: number): number {
  for (let i = open + 1; i < end; i++) {
    const c = bytes[i];
    if (c === QUOTE || c === LINE_FEED) return i;
    // An escape skips the next byte, unless that is a line break: a string still ends at one.
    if (c === BACKSLASH && bytes[i + 1] !== LINE_FEED) i++;
  }
  return end;
}

/** Deepest bracket nesting between `start` and `end`, outside strings. */
const nestingDepth = (bytes: Uint8Array, start: number, end: number): number => walk(bytes, start, end, false).depth;

/**
 * Counts bracket nesting outside strings from `start` to `end`: the deepest level, and (with
 * `stopWhenClosed`) where the first value closes again (-1 if it never does).
 */
function walk(bytes: Uint8Array, start: number, end: number, stopWhenClosed: boolean): { depth: number; closedAt: number } {
  let level = 0;
  let depth = 0;
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c === QUOTE) i = stringEnd(bytes, i, end);
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) depth = Math.max(depth, ++level);
    else if ((c === CLOSE_BRACKET || c === CLOSE_BRACE) && --level === 0 && stopWhenClosed) return { depth, closedAt: i };
  }
  return { depth, closedAt: -1 };
}

/** Decodes, checks and parses one segment. Never throws. */
export function readSegment(bytes: Uint8Array, segment: Segment): SinkRecord {
  const slice = bytes.subarray(segment.start, segment.end);
  const where = label(segment);
  let text: string;
  try {
    text = strictUtf8.decode(slice);
  } catch {
    return { ok: false, error: `${where}: not valid UTF-8; parked with its bytes as they arrived`, raw: slice.slice() };
  }
  if (text === "") return { ok: false, error: `${where}: empty ${segment.where === "record" ? "(a message without a value)" : "(a stray comma?)"}`, raw: text };
  if (segment.depth > MAX_NESTING) {
    return { ok: false, error: `${where}: nested ${segment.depth} levels deep, more than the ${MAX_NESTING} portside reads`, raw: text };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: `${where}: not valid JSON`, raw: text };
  }
  return toRecord(value, text, where);
}

/**
 * Builds the record for one parsed value. A JSON string that itself holds a JSON object is unwrapped one
 * level: a connector with JsonConverter over a string-typed value sends `"{\"action\":…}"`, and the record
 * is the object inside (so its canonical text matches the same record sent as an object).
 */
function toRecord(value: unknown, raw: string, label: string): SinkRecord {
  const inner = typeof value === "string" ? unwrapJsonObject(value) : undefined;
  const record = inner ?? value;
  try {
    return { ok: true, value: record, text: JSON.stringify(record), raw };
  } catch {
    // Only a string nested beyond MAX_NESTING can get here (its depth is not visible to the scan).
    return { ok: false, error: `${label}: nested more than the ${MAX_NESTING} levels portside reads`, raw };
  }
}

/** The object a JSON string holds, or undefined when it holds anything else. */
function unwrapJsonObject(s: string): Record<string, unknown> | undefined {
  // Cheap guard first: plain strings (the common non-JSON case) never reach JSON.parse.
  const start = s.trimStart();
  if (!start.startsWith("{")) return undefined;
  const bytes = encoder.encode(start);
  if (nestingDepth(bytes, 0, bytes.length) > MAX_NESTING) return undefined;
  try {
    const parsed: unknown = JSON.parse(start);
    return isPlainObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}
