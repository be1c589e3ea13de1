import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { splitSinkBody } from "./body.ts";
import type { SinkRecord } from "./body.ts";

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

/** The engine's own wording for a JSON syntax error (it differs between Bun, Deno and Node). */
function syntaxError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected ${text} not to parse`);
}

const values = (records: SinkRecord[]): unknown[] => records.map((r) => (r.ok ? r.value : r));

describe("splitSinkBody", () => {
  test("one JSON value is one record with compact canonical text", () => {
    const pretty = fixture("runs/legacy-create.json");
    const { records } = splitSinkBody(pretty);
    expect(records).toHaveLength(1);
    const [record] = records;
    expect(record?.ok).toBe(true);
    if (!record?.ok) throw new Error("unreachable");
    expect(record.value).toEqual(JSON.parse(pretty));
    expect(record.text).toBe(JSON.stringify(JSON.parse(pretty)));
    expect(record.text).not.toContain("\n");
  });

  test("a JSON array is one record per element", () => {
    expect(values(splitSinkBody('[{"a":1}, {"b":2}]').records)).toEqual([{ a: 1 }, { b: 2 }]);
    expect(splitSinkBody("[]").records).toEqual([]);
  });

  test("newline-delimited values, with a trailing newline, blank lines and CRLF", () => {
    expect(values(splitSinkBody('{"a":1}\n{"b":2}\n').records)).toEqual([{ a: 1 }, { b: 2 }]);
    expect(values(splitSinkBody('{"a":1}\r\n\r\n  \r\n{"b":2}\r\n').records)).toEqual([{ a: 1 }, { b: 2 }]);
    expect(values(splitSinkBody('\n{"a":1}\n\n\n{"b":2}\n{"c":3}').records)).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
  });

  test("an empty or blank body has no records", () => {
    expect(splitSinkBody("").records).toEqual([]);
    expect(splitSinkBody("\n\r\n  \n").records).toEqual([]);
  });

  test("a malformed line in the middle becomes one refused record; the others survive", () => {
    const { records } = splitSinkBody('{"a":1}\r\n{"b":\r\n{"c":3}\n');
    expect(records).toEqual([
      { ok: true, value: { a: 1 }, text: '{"a":1}' },
      { ok: false, text: '{"b":', error: `line 2: not valid JSON (${syntaxError('{"b":')})` },
      { ok: true, value: { c: 3 }, text: '{"c":3}' },
    ]);
  });

  test("a single unparseable body is one refused record holding the raw text", () => {
    const { records } = splitSinkBody("not json");
    expect(records).toEqual([{ ok: false, text: "not json", error: `line 1: not valid JSON (${syntaxError("not json")})` }]);
  });

  test("a JSON string holding a JSON object is unwrapped one level", () => {
    const wrapped = JSON.stringify(JSON.stringify({ action: "deploy", n: 1 }));
    const expected: SinkRecord = { ok: true, value: { action: "deploy", n: 1 }, text: '{"action":"deploy","n":1}' };
    expect(splitSinkBody(wrapped).records).toEqual([expected]);
    expect(splitSinkBody(`${wrapped}\n${wrapped}\n`).records).toEqual([expected, expected]);
    expect(splitSinkBody(`[${wrapped}]`).records).toEqual([expected]);
  });

  test("other strings and scalars stay as they are (validation refuses them later)", () => {
    expect(values(splitSinkBody('"hello"\n"[1,2]"\n"{broken"\nnull\n42').records)).toEqual(["hello", "[1,2]", "{broken", null, 42]);
    expect(splitSinkBody('"{\\"a\\":1} "').records[0]).toEqual({ ok: true, value: { a: 1 }, text: '{"a":1}' });
  });

  test("the same record gives the same canonical text in every body form", () => {
    const message = JSON.parse(fixture("changes/entity-update.json"));
    const compact = JSON.stringify(message);
    const pretty = JSON.stringify(message, null, 2);
    const texts = [
      splitSinkBody(pretty).records,
      splitSinkBody(`[${compact},${compact}]`).records,
      splitSinkBody(`${compact}\n${compact}\n`).records,
      splitSinkBody(`${compact}\r\n\r\n${compact}`).records,
      splitSinkBody(JSON.stringify(compact)).records,
    ]
      .flat()
      .map((r) => r.text);
    expect(new Set(texts)).toEqual(new Set([compact]));
  });
});
