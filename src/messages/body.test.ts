import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { MAX_NESTING, parseRecord, readBody } from "./body.ts";

const splitSinkBody = (body: string | Uint8Array) => [...readBody(body)];
import type { SinkRecord } from "./body.ts";

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

const values = (records: SinkRecord[]): unknown[] => records.map((r) => (r.ok ? r.value : r));
/** What each record became: its canonical text, or the refusal and the bytes that arrived (as text or hex). */
const outline = (records: SinkRecord[]) =>
  records.map((r) =>
    r.ok ? { text: r.text, raw: r.raw } : { error: r.error, raw: typeof r.raw === "string" ? r.raw : `hex:${Buffer.from(r.raw).toString("hex")}` },
  );

describe("splitSinkBody", () => {
  test("one JSON value is one record with compact canonical text; it keeps the text that arrived", () => {
    const pretty = fixture("runs/legacy-create.json");
    const records = splitSinkBody(pretty);
    expect(records).toHaveLength(1);
    const [record] = records;
    expect(record?.ok).toBe(true);
    if (!record?.ok) throw new Error("unreachable");
    expect(record.value).toEqual(JSON.parse(pretty));
    expect(record.text).toBe(JSON.stringify(JSON.parse(pretty)));
    expect(record.text).not.toContain("\n");
    expect(record.raw).toBe(pretty.trim());
  });

  test("a JSON array is one record per element", () => {
    expect(values(splitSinkBody('[{"a":1}, {"b":2}]'))).toEqual([{ a: 1 }, { b: 2 }]);
    expect(splitSinkBody("[]")).toEqual([]);
    expect(splitSinkBody(" [ ] \n")).toEqual([]);
  });

  test("newline-delimited values, with a trailing newline, blank lines and CRLF", () => {
    expect(values(splitSinkBody('{"a":1}\n{"b":2}\n'))).toEqual([{ a: 1 }, { b: 2 }]);
    expect(values(splitSinkBody('{"a":1}\r\n\r\n  \r\n{"b":2}\r\n'))).toEqual([{ a: 1 }, { b: 2 }]);
    expect(values(splitSinkBody('\n{"a":1}\n\n\n{"b":2}\n{"c":3}'))).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
  });

  test("an empty or blank body has no records", () => {
    expect(splitSinkBody("")).toEqual([]);
    expect(splitSinkBody("\n\r\n  \n")).toEqual([]);
  });

  test("a malformed line in the middle becomes one refused record; the others survive", () => {
    expect(outline(splitSinkBody('{"a":1}\r\n{"b":\r\n{"c":3}\n'))).toEqual([
      { text: '{"a":1}', raw: '{"a":1}' },
      { error: "line 2: not valid JSON", raw: '{"b":' },
      { text: '{"c":3}', raw: '{"c":3}' },
    ]);
  });

  test("newline-delimited records whose first line is broken stay separate records, even if the brackets of the whole body balance", () => {
    // The broken first line opens one brace too many; the last line closes one too many.
    const body = '{"action":"deploy","payload":{"a":1}\n{"id":"r_1"}\n{"id":"r_2"}\n{"tail":1}}';
    expect(outline(splitSinkBody(body)).map((r) => ("text" in r ? r.text : r.error))).toEqual([
      "line 1: not valid JSON",
      '{"id":"r_1"}',
      '{"id":"r_2"}',
      "line 4: not valid JSON",
    ]);
    // Every line broken, the whole body balanced: still one record per line.
    const broken = '{"a": "x\r\n{"b":1}}\r\n{"c": [1}\r\n';
    expect(outline(splitSinkBody(broken)).map((r) => ("text" in r ? r.text : r.error))).toEqual([
      "line 1: not valid JSON",
      "line 2: not valid JSON",
      "line 3: not valid JSON",
    ]);
    // A broken first line that reads as a whole record (it ends with `}`) before a line that does not
    // start with `{` (its first byte is not UTF-8): still two records, not one broken "pretty" object.
    const flipped = Buffer.concat([Buffer.from('{"a\x07:"x","b":{"c":1}}\r\n'), Buffer.from([0x80]), Buffer.from('"a":"y","b":{"c":1}}')]);
    expect(outline(splitSinkBody(flipped)).map((r) => ("text" in r ? r.text : r.error))).toEqual([
      "line 1: not valid JSON",
      "line 2: not valid UTF-8; parked with its bytes as they arrived",
    ]);
    // A pretty-printed object is still one record, even with empty objects on lines of their own, and
    // broken or not.
    const pretty = JSON.stringify({ a: { list: [{}, { b: 1 }] }, c: {} }, null, 2);
    expect(splitSinkBody(pretty)).toHaveLength(1);
    expect(outline(splitSinkBody(pretty.replace('"b": 1', '"b": ')))).toEqual([{ error: "the body: not valid JSON", raw: pretty.replace('"b": 1', '"b": ') }]);
  });

  test("a single unparseable body is one refused record holding the raw text, and the reason never quotes it", () => {
    expect(outline(splitSinkBody("not json"))).toEqual([{ error: "line 1: not valid JSON", raw: "not json" }]);
  });

  test("an array with one malformed element keeps the others, compact or pretty-printed", () => {
    const good = (id: string) => `{"id":"${id}"}`;
    const compact = `[${good("a")},{"bad": },${good("c")}]`;
    const pretty = `[\n  ${good("a")},\n  {\n    "bad": \n  },\n  ${good("c")}\n]\n`;
    for (const body of [compact, pretty]) {
      const records = outline(splitSinkBody(body));
      expect(records.map((r) => ("text" in r ? r.text : r.error))).toEqual([good("a"), "element 2: not valid JSON", good("c")]);
    }
    // Unbalanced brackets or an unterminated string spoil their own element only.
    expect(outline(splitSinkBody(`[{"a":[1,2}, ${good("b")}]`)).map((r) => ("text" in r ? r.text : r.error))).toEqual(["element 1: not valid JSON", good("b")]);
    expect(outline(splitSinkBody(`[\n{"a": "open\n},\n${good("b")}\n]`)).map((r) => ("text" in r ? r.text : r.error))).toEqual([
      "element 1: not valid JSON",
      good("b"),
    ]);
    expect(outline(splitSinkBody("[1,,2,]"))).toEqual([
      { text: "1", raw: "1" },
      { error: "element 2: empty (a stray comma?)", raw: "" },
      { text: "2", raw: "2" },
      { error: "element 4: empty (a stray comma?)", raw: "" },
    ]);
  });

  test("a stray `]` or `}` inside an element spoils only that element", () => {
    const texts = (body: string) => outline(splitSinkBody(body)).map((r) => ("text" in r ? r.text : r.error));
    expect(texts('[{"runId":"r_bad"]}, {"a":1}, {"b":2}]')).toEqual(["element 1: not valid JSON", '{"a":1}', '{"b":2}']);
    expect(texts('[{"a":1}}, {"b":2}]')).toEqual(["element 1: not valid JSON", '{"b":2}']);
    // Many stray closers (each refused at O(1) cost: no scan grows with the body); the array never closes.
    expect(texts(`[${"[".repeat(40_000)}${"}".repeat(40_000)}]`)).toEqual([`line 1: nested 40001 levels deep, more than the ${MAX_NESTING} portside reads`]);
    // A backslash before a line break does not carry a string into the next element.
    expect(texts('[\n{"a":"x\\\n},\n{"b":2}\n]')).toEqual(["element 1: not valid JSON", '{"b":2}']);
  });

  test("one valid JSON object is one record however it is laid out (no indentation, Python's indent=0)", () => {
    const message = { action: "deploy", inputs: { regions: [{ name: "eu" }, { name: "us" }] } };
    const indent0 = JSON.stringify(message, null, 1)
      .split("\n")
      .map((line) => line.trimStart())
      .join("\n");
    expect(indent0).toContain("\n{");
    expect(values(splitSinkBody(indent0))).toEqual([message]);
  });

  test("a record nested deeper than MAX_NESTING is refused before it is parsed; its neighbours survive", () => {
    const deep = `{"inputs":${"[".repeat(50_000)}${"]".repeat(50_000)}}`;
    const records = splitSinkBody(`[${deep},{"ok":1}]\n`);
    expect(outline(records)).toEqual([
      { error: `element 1: nested 50001 levels deep, more than the ${MAX_NESTING} portside reads`, raw: deep },
      { text: '{"ok":1}', raw: '{"ok":1}' },
    ]);
    expect(splitSinkBody(`${deep}\n{"ok":1}`)[0]).toMatchObject({ ok: false, error: expect.stringContaining("line 1: nested 50001 levels") });
    expect(splitSinkBody(JSON.stringify(deep))[0]).toMatchObject({ ok: true, value: deep });
  });

  test("bytes that are not UTF-8 are refused with the exact bytes, never replaced; the rest of the body is read", () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('[{"a":"'), 0xff, 0xfe, ...new TextEncoder().encode('"},{"b":"ü"}]')]);
    expect(outline(splitSinkBody(bytes))).toEqual([
      { error: "element 1: not valid UTF-8; parked with its bytes as they arrived", raw: "hex:7b2261223a22fffe227d" },
      { text: '{"b":"ü"}', raw: '{"b":"ü"}' },
    ]);
    const lines = new Uint8Array([...new TextEncoder().encode('{"a":1}\n{"b":"'), 0xc3, 0x28, ...new TextEncoder().encode('"}\n')]);
    expect(outline(splitSinkBody(lines))).toEqual([
      { text: '{"a":1}', raw: '{"a":1}' },
      { error: "line 2: not valid UTF-8; parked with its bytes as they arrived", raw: "hex:7b2262223a22c328227d" },
    ]);
  });

  test("a JSON string holding a JSON object is unwrapped one level", () => {
    const wrapped = JSON.stringify(JSON.stringify({ action: "deploy", n: 1 }));
    const expected = { ok: true, value: { action: "deploy", n: 1 }, text: '{"action":"deploy","n":1}' };
    expect(splitSinkBody(wrapped)).toEqual([{ ...expected, raw: wrapped }] as SinkRecord[]);
    expect(splitSinkBody(`${wrapped}\n${wrapped}\n`)).toEqual([
      { ...expected, raw: wrapped },
      { ...expected, raw: wrapped },
    ] as SinkRecord[]);
    expect(splitSinkBody(`[${wrapped}]`)).toEqual([{ ...expected, raw: wrapped }] as SinkRecord[]);
  });

  test("other strings and scalars stay as they are (validation refuses them later)", () => {
    expect(values(splitSinkBody('"hello"\n"[1,2]"\n"{broken"\nnull\n42'))).toEqual(["hello", "[1,2]", "{broken", null, 42]);
    expect(splitSinkBody('"{\\"a\\":1} "')[0]).toMatchObject({ ok: true, value: { a: 1 }, text: '{"a":1}' });
  });

  test("the same record gives the same canonical text in every body form", () => {
    const message = JSON.parse(fixture("changes/entity-update.json"));
    const compact = JSON.stringify(message);
    const pretty = JSON.stringify(message, null, 2);
    const texts = [
      splitSinkBody(pretty),
      splitSinkBody(`[${compact},${compact}]`),
      splitSinkBody(`${compact}\n${compact}\n`),
      splitSinkBody(`${compact}\r\n\r\n${compact}`),
      splitSinkBody(JSON.stringify(compact)),
      splitSinkBody(`\ufeff[${compact}]`),
    ]
      .flat()
      .map((r) => (r.ok ? r.text : r.error));
    expect(new Set(texts)).toEqual(new Set([compact]));
  });
});

describe("parseRecord", () => {
  test("one record as a Kafka message value carries it: parsed, or refused with its bytes", () => {
    expect(parseRecord(' {"a":1} ')).toMatchObject({ ok: true, value: { a: 1 }, text: '{"a":1}' });
    expect(parseRecord("[1,2]")).toMatchObject({ ok: true, value: [1, 2] });
    expect(parseRecord("{oops")).toEqual({ ok: false, error: "the record: not valid JSON", raw: "{oops" });
    expect(parseRecord(new Uint8Array([0x7b, 0xff, 0x7d]))).toEqual({
      ok: false,
      error: "the record: not valid UTF-8; parked with its bytes as they arrived",
      raw: new Uint8Array([0x7b, 0xff, 0x7d]),
    });
  });
});
