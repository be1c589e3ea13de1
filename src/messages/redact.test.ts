import { describe, expect, test } from "bun:test";
import { createRedactor, noRedaction, PIECEWISE_MAX_CHARS } from "./redact.ts";

/** What redaction must do, the slow way: every stretch covered by a piece (4+) of a value becomes the label. */
function naive(text: string, values: string[], label: string): string {
  const covered = new Array<boolean>(text.length).fill(false);
  for (let j = 0; j < text.length; j++) {
    let longest = 0;
    for (let len = 4; j + len <= text.length; len++) {
      if (!values.some((v) => v.includes(text.slice(j, j + len)))) break;
      longest = len;
    }
    for (let k = j; k < j + longest; k++) covered[k] = true;
  }
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (!covered[i]) out += text[i];
    else if (i === 0 || !covered[i - 1]) out += label;
  }
  return out;
}

describe("createRedactor", () => {
  const pw = "hunter2-Zq9xW7vB";
  const r = createRedactor({ pw });

  test("the value and any piece of it of 4+ characters become [secret input NAME]", () => {
    expect(r.text(`bad pw ${pw}`)).toBe("bad pw [secret input pw]");
    expect(r.text(`${pw}${pw} and ${pw}`)).toBe("[secret input pw] and [secret input pw]");
    // Bun's own JSON.parse error quotes the part it stopped at.
    let message = "";
    try {
      JSON.parse(pw);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("hunter2");
    expect(r.text(message)).toBe('JSON Parse error: Unexpected identifier "[secret input pw]"');
    expect(r.text("prefix hunt suffix; Zq9x")).toBe("prefix [secret input pw] suffix; [secret input pw]");
    // Three characters of it are not a piece.
    expect(r.text("hun ter Zq9")).toBe("hun ter Zq9");
  });

  test("text without any piece comes back as the same string", () => {
    const text = "nothing to see here ".repeat(100);
    expect(r.text(text)).toBe(text);
    expect(noRedaction.text(pw)).toBe(pw);
    expect(noRedaction.active).toBe(false);
    expect(createRedactor({}).active).toBe(false);
  });

  test("several inputs: each stretch is labelled with the input it came from", () => {
    const two = createRedactor({ pw, token: "tok_Q1w2E3r4" });
    expect(two.text(`a=${pw} b=tok_Q1w2E3r4 c=hunter2`)).toBe("a=[secret input pw] b=[secret input token] c=[secret input pw]");
  });

  test("an object input is covered by its leaves, not by the pieces of its JSON text", () => {
    const creds = createRedactor({ creds: { user: "svc-deployer", token: "abc", pin: 482913, list: ["k3y-one"] } });
    expect(creds.text('the user "svc-deployer" has token abc (not abcd), pin 482913, key k3y-one')).toBe(
      'the user "[secret input creds]" has token [secret input creds] (not abcd), pin [secret input creds], key [secret input creds]',
    );
    expect(creds.text('{"user":')).toBe('{"user":');
  });

  test("value() redacts every string of a JSON value, keys included, and leaves other values alone", () => {
    const entity = { identifier: "svc", title: `svc ${pw}`, properties: { [pw]: true, n: 3, nested: [{ note: `x${pw.slice(2, 9)}y` }], none: null } };
    expect(r.value(entity) as unknown).toEqual({
      identifier: "svc",
      title: "svc [secret input pw]",
      properties: { "[secret input pw]": true, n: 3, nested: [{ note: "x[secret input pw]y" }], none: null },
    });
  });

  test("matches the slow definition on random texts and values, periodic ones included", () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const word = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[rand(alphabet.length)]).join("");
    for (let round = 0; round < 400; round++) {
      const alphabet = round % 2 === 0 ? "ab" : "abcd";
      const values = Array.from({ length: 1 + rand(3) }, () => word(alphabet, 4 + rand(12)));
      const text = word(`${alphabet}xy`, rand(80));
      expect(createRedactor({ pw: values }).text(text)).toBe(naive(text, values, "[secret input pw]"));
    }
  });

  test("past PIECEWISE_MAX_CHARS of secret text a value is hidden whole, not by its pieces: a 1 MiB secret costs no more than its own size", () => {
    let seed = 11;
    const big = Array.from({ length: 1024 * 1024 }, () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return String.fromCharCode(97 + (seed % 26));
    }).join("");
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    const r2 = createRedactor({ pw, cert: big });
    Bun.gc(true);
    // The automaton over the whole megabyte took hundreds of MB; the value itself is 1-2 MB.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 * 1024 * 1024);
    expect(r2.text(`cert=${big}; pw=${pw}`)).toBe("cert=[secret input cert]; pw=[secret input pw]");
    // Within the budget (pw, first), pieces are hidden; past it (cert), a piece is not.
    expect(r2.text(`piece ${pw.slice(3, 10)} and ${big.slice(1000, 1100)}`)).toBe(`piece [secret input pw] and ${big.slice(1000, 1100)}`);
    // The budget counts characters of every value in input order: b fits exactly, or misses by one.
    const within = createRedactor({ a: "q".repeat(PIECEWISE_MAX_CHARS - 10), b: "Zx9!Zx9!Wv" });
    expect(within.text("Zx9!Wv")).toBe("[secret input b]");
    const past = createRedactor({ a: "q".repeat(PIECEWISE_MAX_CHARS - 9), b: "Zx9!Zx9!Wv" });
    expect([past.text("Zx9!Wv"), past.text("Zx9!Zx9!Wv")]).toEqual(["Zx9!Wv", "[secret input b]"]);
  });

  test("values shorter than a piece: one pass for all of them, each once, labelled by its input", () => {
    const pins = Array.from({ length: 20_000 }, (_, i) => String(i % 1000).padStart(3, "0"));
    const short = createRedactor({ pins, two: "ab" });
    expect(short.text("pin 042 and 999 but not 0421; ab, abc")).toBe("pin [secret input pins] and [secret input pins] but not 0421; [secret input two], abc");
  });

  test("linear in the text: a 4 MB log against a long periodic secret takes well under a second", () => {
    const secret = "ab".repeat(2_000);
    const long = createRedactor({ pw: secret });
    const text = `${"abababax".repeat(250_000)}${"ab".repeat(250_000)}`;
    const started = performance.now();
    const out = long.text(text);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(out).not.toContain("abab");
    expect(out.endsWith("x[secret input pw]")).toBe(true);
  });
});
