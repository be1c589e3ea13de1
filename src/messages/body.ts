/**
 * Splitting an HTTP sink request body into Kafka records.
 *
 * A Kafka Connect HTTP sink POSTs record values only, in one of three forms: one JSON value (Camel, or
 * Aiven without batching), a JSON array of values (Aiven with `[`/`,`/`]`, Confluent
 * `batch.json.as.array`), or newline-delimited values (Aiven's default batch). This is the hot path —
 * about a hundred records per request at thousands of requests a second — so the whole body goes through
 * one `JSON.parse` first and lines are split only when that fails (NDJSON with more than one record).
 */
import { isPlainObject } from "./json.ts";

/** One record of a sink body: parsed, or the raw fragment that would not parse and why. */
export type SinkRecord =
  | {
      ok: true;
      value: unknown;
      /**
       * `JSON.stringify(value)`: the canonical form stored and digested. The same record gives the same
       * text whichever body form carried it, so redeliveries in another batch shape still dedupe.
       */
      text: string;
    }
  | { ok: false; text: string; error: string };

export interface SplitBody {
  records: SinkRecord[];
}

/**
 * Splits a sink body into records. Never throws: a fragment that is not JSON becomes an `ok: false`
 * record, so one malformed line of an NDJSON batch does not cost the other lines (they are still
 * accepted, and the bad one is parked). Blank lines are ignored; an empty body has no records.
 *
 * A top-level JSON array is taken as a batch (each element one record): Port never publishes a bare array
 * on the runs or change-log topics, so there is no ambiguity in practice.
 */
export function splitSinkBody(text: string): SplitBody {
  let whole: unknown;
  try {
    whole = JSON.parse(text);
  } catch {
    return { records: splitLines(text) };
  }
  if (Array.isArray(whole)) return { records: whole.map(toRecord) };
  return { records: [toRecord(whole)] };
}

/** Parses newline-delimited values one line at a time (`\n` or `\r\n`), numbering lines from 1. */
function splitLines(text: string): SinkRecord[] {
  const records: SinkRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] as string;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      records.push({ ok: false, text: line, error: `line ${i + 1}: not valid JSON (${syntaxDetail(error)})` });
      continue;
    }
    records.push(toRecord(value));
  }
  return records;
}

/**
 * Builds the record for one parsed value. A JSON string that itself holds a JSON object is unwrapped one
 * level: a connector with JsonConverter over a string-typed value sends `"{\"action\":…}"`, and the record
 * is the object inside (so its canonical text matches the same record sent as an object).
 */
function toRecord(value: unknown): SinkRecord {
  const inner = typeof value === "string" ? unwrapJsonObject(value) : undefined;
  const record = inner ?? value;
  return { ok: true, value: record, text: JSON.stringify(record) };
}

/** The object a JSON string holds, or undefined when it holds anything else. */
function unwrapJsonObject(s: string): Record<string, unknown> | undefined {
  // Cheap guard first: plain strings (the common non-JSON case) never reach JSON.parse.
  const start = s.trimStart();
  if (!start.startsWith("{")) return undefined;
  try {
    const parsed: unknown = JSON.parse(start);
    return isPlainObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function syntaxDetail(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
