/**
 * What was thrown, in words: an Error's message (its name when the message is empty), else the value as
 * text. Never a stack (stacks and causes can carry request bodies), and never failing on odd values.
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  try {
    return String(error);
  } catch {
    return "a value that is not an Error";
  }
}

/** Terminal colours, which some runtimes put in stacks and messages (Deno). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal colours are control characters
export const ANSI = /\u001b\[[0-9;]*m/g;

/**
 * The frames of what was thrown, one `at …` line each, trimmed and without terminal colours: none when it
 * has no stack, or reading the stack throws (a getter of a value a handler threw).
 */
export function stackFrames(error: unknown): string[] {
  let stack: unknown;
  try {
    stack = (error as { stack?: unknown } | null)?.stack;
  } catch {
    return [];
  }
  if (typeof stack !== "string") return [];
  return stack
    .replace(ANSI, "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("at "));
}
