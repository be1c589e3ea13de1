import { isPlainObject } from "./json.ts";

/**
 * Redaction of decrypted secret inputs. A run's secret values are known once they are decrypted (see
 * secrets.ts); from then on every text the run sends on — its log lines, entity writes, summary and the
 * reason it failed, in Port, portside's log, the ledger and the run journal — has each value, and every piece
 * of it at least `MIN_PIECE` characters long, replaced by `[secret input NAME]`. Pieces matter: Bun's
 * `JSON.parse(secret)` quotes the part of the value it stopped at, and handlers slice values.
 *
 * Built once per run: one suffix automaton over the run's secret values (their first PIECEWISE_MAX_CHARS
 * characters together; later values are matched whole), so a text is scanned once, in time linear in its
 * length whatever the secrets' length or number (at each character the automaton knows the longest piece of
 * a secret ending there). An object-typed input is covered by its string and number leaves,
 * not its JSON text, whose pieces (`"user"`, `":"`) are not secret. A value shorter than `MIN_PIECE` is
 * replaced only where it stands as a whole word.
 */
export interface Redactor {
  /** Whether there is anything to hide (false: every method returns what it is given). */
  readonly active: boolean;
  text(text: string): string;
  /** A copy of a JSON value with every string in it redacted, object keys included. */
  value<T>(value: T): T;
}

/** Shorter pieces of a secret are left alone where they are part of a longer word. */
export const MIN_PIECE = 4;

export const secretLabel = (name: string): string => `[secret input ${name}]`;

/** Hides nothing: a run without secret inputs, or one whose inputs were never decrypted. */
export const noRedaction: Redactor = { active: false, text: (text) => text, value: (value) => value };

/**
 * The most secret text (all of a run's values together, in input order) covered piece by piece: the
 * automaton costs memory in proportion to it (a few hundred bytes per character), and a run's redactor
 * lives as long as the run. A value past it (a whole file as a secret input, say) is still hidden wherever
 * it appears whole, but its pieces are not.
 */
export const PIECEWISE_MAX_CHARS = 16 * 1024;

/** A redactor for the clear values of a run's secret inputs, by input name. */
export function createRedactor(secrets: Record<string, unknown>): Redactor {
  const long: Array<{ label: string; value: string }> = [];
  const whole: Array<{ label: string; value: string }> = [];
  /** Values shorter than a piece, each once, with the input it belongs to. */
  const short = new Map<string, string>();
  let covered = 0;
  for (const [name, clear] of Object.entries(secrets)) {
    for (const value of leaves(clear)) {
      const label = secretLabel(name);
      if (value.length < MIN_PIECE) {
        if (!short.has(value)) short.set(value, label);
      } else if (covered + value.length <= PIECEWISE_MAX_CHARS) {
        covered += value.length;
        long.push({ label, value });
      } else whole.push({ label, value });
    }
  }
  if (long.length === 0 && whole.length === 0 && short.size === 0) return noRedaction;
  const automaton = long.length > 0 ? buildAutomaton(long.map((s) => s.value)) : null;
  const labels = long.map((s) => s.label);
  // One pass for every short value, the longest first, each only where it stands as a whole word.
  const words =
    short.size > 0
      ? new RegExp(
          `(?<![\\p{L}\\p{N}_])(?:${[...short.keys()]
            .sort((a, b) => b.length - a.length)
            .map(escapeRegExp)
            .join("|")})(?![\\p{L}\\p{N}_])`,
          "gu",
        )
      : null;

  const text = (input: string): string => {
    let out = input;
    for (const { label, value } of whole) out = out.split(value).join(label);
    if (automaton) out = replaceSpans(out, automaton, labels);
    if (words) out = out.replace(words, (found) => short.get(found) ?? found);
    return out;
  };
  const value = <T>(input: T): T => {
    if (typeof input === "string") return text(input) as T;
    if (Array.isArray(input)) return input.map(value) as T;
    if (isPlainObject(input)) return Object.fromEntries(Object.entries(input).map(([k, v]) => [text(k), value(v)])) as T;
    return input;
  };
  return { active: true, text, value };
}

/** The texts a clear value stands for: itself, or an object's (array's) string and number leaves. */
function leaves(clear: unknown, out: string[] = []): string[] {
  if (typeof clear === "string") {
    if (clear.length > 0) out.push(clear);
  } else if (typeof clear === "number" || typeof clear === "bigint") out.push(String(clear));
  else if (Array.isArray(clear)) for (const item of clear) leaves(item, out);
  else if (isPlainObject(clear)) for (const item of Object.values(clear)) leaves(item, out);
  return out;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/**
 * A generalized suffix automaton over the secret values: every substring of every value is a path from state
 * 0. `owner` says of which value a state's strings are substrings (a clone inherits its original's owner).
 */
interface Automaton {
  next: Array<Map<number, number>>;
  link: number[];
  len: number[];
  owner: number[];
}

function buildAutomaton(values: string[]): Automaton {
  const a: Automaton = { next: [new Map()], link: [-1], len: [0], owner: [0] };
  const state = (len: number, owner: number, from?: number) => {
    a.next.push(from === undefined ? new Map() : new Map(a.next[from]));
    a.link.push(from === undefined ? -1 : (a.link[from] as number));
    a.len.push(len);
    a.owner.push(owner);
    return a.len.length - 1;
  };
  /** Redirects `p` and its suffix links from `q` to `clone` while they lead to `q` on `c`. */
  const redirect = (p: number, c: number, q: number, clone: number) => {
    for (; p !== -1 && a.next[p]?.get(c) === q; p = a.link[p] as number) a.next[p]?.set(c, clone);
  };
  values.forEach((value, owner) => {
    let last = 0;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      const existing = a.next[last]?.get(c);
      if (existing !== undefined) {
        // The piece is known already (from another value, or earlier in this one).
        if (a.len[existing] === (a.len[last] as number) + 1) last = existing;
        else {
          const clone = state((a.len[last] as number) + 1, a.owner[existing] as number, existing);
          redirect(last, c, existing, clone);
          a.link[existing] = clone;
          last = clone;
        }
        continue;
      }
      const cur = state((a.len[last] as number) + 1, owner);
      let p = last;
      for (; p !== -1 && !a.next[p]?.has(c); p = a.link[p] as number) a.next[p]?.set(c, cur);
      if (p === -1) a.link[cur] = 0;
      else {
        const q = a.next[p]?.get(c) as number;
        if (a.len[q] === (a.len[p] as number) + 1) a.link[cur] = q;
        else {
          const clone = state((a.len[p] as number) + 1, a.owner[q] as number, q);
          redirect(p, c, q, clone);
          a.link[q] = clone;
          a.link[cur] = clone;
        }
      }
      last = cur;
    }
  });
  return a;
}

/** The text with every stretch covered by a piece of a secret (MIN_PIECE or longer) replaced by its label. */
function replaceSpans(text: string, a: Automaton, labels: string[]): string {
  let out = "";
  let copied = 0;
  // The stretch being collected: [start, end), labelled by the value of its first piece.
  let start = -1;
  let end = -1;
  let label = "";
  let v = 0;
  let l = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    while (v !== 0 && !a.next[v]?.has(c)) {
      v = a.link[v] as number;
      l = a.len[v] as number;
    }
    const to = a.next[v]?.get(c);
    if (to === undefined) {
      l = 0;
      continue;
    }
    v = to;
    l++;
    if (l < MIN_PIECE) continue;
    const from = i + 1 - l;
    if (from <= end) end = i + 1;
    else {
      if (start >= 0) {
        out += text.slice(copied, start) + label;
        copied = end;
      }
      start = from;
      end = i + 1;
      label = labels[a.owner[v] as number] ?? "";
    }
  }
  if (start < 0) return text;
  return out + text.slice(copied, start) + label + text.slice(end);
}
