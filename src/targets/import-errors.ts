import { ANSI, describeError, stackFrames } from "../shared/errors.ts";

/**
 * Where a handler module failed to load, in the words of the runtime that loaded it, as one line:
 * `<file>:<line>:<column>: <message>`. Each runtime says the place somewhere else:
 *
 * - Bun, a syntax error: a `BuildMessage` (or an `AggregateError` of them, one per error) whose `position`
 *   holds `file`, `line` and `column`.
 * - Bun, a module that is not there: a `ResolveMessage` with the `specifier` and its `referrer` but no
 *   position: the place is where the referrer's text names the specifier.
 * - Bun, an import of a name the module does not export: a `SyntaxError` naming neither the importer nor the
 *   place: it is looked for in the handler module's own import lines.
 * - Deno: the place is in the message, `… at file:///…:3:49` (coloured on a terminal).
 * - A throw while the module runs (its top level, or code it calls): the first frame of the error's stack
 *   that is not the runtime's or a dependency's (the first frame otherwise).
 *
 * Only a place is taken from a stack, never its text. Without a place, the message alone.
 */
export interface ImportFailure {
  at: SourcePlace | null;
  message: string;
}

export interface SourcePlace {
  file: string;
  line: number;
  column: number;
}

/** Reads a module's text (to find where it names an import); rejects when it cannot. */
export type ReadText = (file: string) => Promise<string>;

/** `file:line:column: message`, or the message alone when the place is unknown. */
export function formatImportFailure(failure: ImportFailure): string {
  const { at, message } = failure;
  return at ? `${at.file}:${at.line}:${at.column}: ${message}` : message;
}

/** What went wrong importing the handler module at `path` (a file path or file: URL), and where. */
export async function locateImportFailure(error: unknown, path: string, readText: ReadText = readFileText): Promise<ImportFailure> {
  // Bun: several syntax errors at once.
  const errors = (error as { errors?: unknown })?.errors;
  if (Array.isArray(errors) && errors.length > 0) {
    const first = buildMessage(errors[0]);
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
    return { at: first.at, message: `${first.message}${more}` };
  }
  const own = error as { position?: unknown; specifier?: unknown; referrer?: unknown } | null;
  // Bun: one syntax error.
  if (own && typeof own === "object" && isPosition(own.position)) return buildMessage(error);
  const message = firstLine(describeError(error));
  // Bun: a module that is not there, named by the referrer's text.
  if (own && typeof own === "object" && typeof own.specifier === "string" && typeof own.referrer === "string" && own.referrer !== "") {
    const file = filePath(own.referrer);
    return { at: await findInText(readText, file, quotedSpecifier(own.specifier)), message };
  }
  // Deno: "… at file:///x.ts:3:49" in the message (on a line of its own or at the end of the first).
  const deno = denoPlace(error instanceof Error ? error.message : "");
  if (deno) return { at: deno.at, message: deno.message || message };
  // Bun: an import of a name the module does not export.
  const missing = /^Export named '([^']+)' not found in module '([^']+)'/.exec(message);
  if (missing?.[1]) return { at: await findInText(readText, filePath(path), importedName(missing[1])), message };
  // A throw while the module ran.
  return { at: stackPlace(error), message };
}

function buildMessage(value: unknown): ImportFailure {
  const m = value as { message?: unknown; position?: unknown };
  const message = typeof m?.message === "string" ? m.message : describeError(value);
  if (!isPosition(m?.position)) return { at: null, message };
  const { file, line, column } = m.position;
  return { at: { file: filePath(file), line, column }, message };
}

function isPosition(value: unknown): value is SourcePlace {
  const p = value as Partial<SourcePlace> | null | undefined;
  return typeof p?.file === "string" && p.file !== "" && typeof p.line === "number" && p.line > 0 && typeof p.column === "number";
}

const firstLine = (text: string) => text.split("\n")[0]?.trim() ?? text;

/** A path as a person finds the file: file: URLs decoded. */
function filePath(file: string): string {
  if (!file.startsWith("file:")) return file;
  try {
    return decodeURIComponent(new URL(file).pathname);
  } catch {
    return file;
  }
}

/** A place at the end of a line: `file:///x.ts:3:49`, `/x.ts:3:49`, or in parentheses. */
const PLACE = /\(?((?:file:\/\/)?\/[^\s()]*?|[A-Za-z]:\\[^\s()]*?):(\d+):(\d+)\)?$/;

function placeOf(text: string): SourcePlace | null {
  const found = PLACE.exec(text.trim());
  if (!found?.[1]) return null;
  return { file: filePath(found[1]), line: Number(found[2]), column: Number(found[3]) };
}

/** Deno's place and message: the first line without its trailing " at <place>". */
function denoPlace(raw: string): ImportFailure | null {
  const lines = raw.replace(ANSI, "").split("\n");
  const first = lines[0]?.trim() ?? "";
  const inline = / at ((?:file:\/\/)\S+:\d+:\d+)$/.exec(first);
  if (inline?.[1]) return { at: placeOf(inline[1]), message: first.slice(0, inline.index).trim() };
  for (const line of lines.slice(1)) {
    const trimmed = line.trim();
    if (!trimmed.startsWith("at ")) continue;
    const at = placeOf(trimmed.slice(3));
    if (at) return { at, message: first };
  }
  return null;
}

/** Frames of the runtime itself and of dependencies: a place there says little about what to fix. */
const ELSEWHERE = /(^|\/)node_modules\/|^(node|ext|bun|native):|^\[native code\]/;

/** The place of the first frame of the error's stack in the user's own code (else the first frame with a place). */
function stackPlace(error: unknown): SourcePlace | null {
  let first: SourcePlace | null = null;
  for (const frame of stackFrames(error)) {
    const at = placeOf(frame);
    if (!at) continue;
    if (!ELSEWHERE.test(at.file)) return at;
    first ??= at;
  }
  return first;
}

/** Where the text names `specifier` in quotes (as the import does), at the opening quote. */
const quotedSpecifier =
  (specifier: string) =>
  (text: string): number => {
    for (const quote of ['"', "'", "`"]) {
      const index = text.indexOf(`${quote}${specifier}${quote}`);
      if (index >= 0) return index;
    }
    return -1;
  };

/** Where an import line names `name` among its braces. */
const importedName =
  (name: string) =>
  (text: string): number => {
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const found = new RegExp(`import\\s+(?:type\\s+)?(?:[\\w$]+\\s*,\\s*)?\\{[^}]*?\\b(${escaped})\\b`).exec(text);
    return found?.[1] ? found.index + found[0].length - found[1].length : -1;
  };

async function findInText(readText: ReadText, file: string, find: (text: string) => number): Promise<SourcePlace | null> {
  let text: string;
  try {
    text = await readText(file);
  } catch {
    return null;
  }
  const index = find(text);
  if (index < 0) return null;
  const before = text.slice(0, index);
  const line = before.split("\n").length;
  return { file, line, column: index - before.lastIndexOf("\n") };
}

async function readFileText(file: string): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  return readFile(file, "utf8");
}
