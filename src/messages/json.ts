/** Small helpers over parsed JSON values, shared by the message parsers. */

/** A JSON object (not null, not an array). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Reads `a.b.0.c` from a parsed JSON value; undefined when any step is missing. */
export function getAtPath(value: unknown, dotPath: string): unknown {
  let current = value;
  for (const key of dotPath.split(".")) {
    // Own keys only: a path like `constructor` must not reach into the prototype.
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
