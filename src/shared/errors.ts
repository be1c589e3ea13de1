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
