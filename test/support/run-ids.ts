import { getAtPath } from "../../src/messages/json.ts";

/**
 * The run ids a sink body names, read leniently: JSON arrays, newline-delimited records, and records that
 * are not even valid JSON (portside still reports FAILURE for a broken record naming one run). Tests use it
 * to declare at the Port emulator the runs they produce, as Port has them before it publishes a message.
 * Declaring one id too many is harmless; missing one makes portside's reports for it a 404.
 */
export function runIdsIn(body: string | Uint8Array, runIdPath?: string): string[] {
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  const ids = new Set<string>();
  for (const match of text.matchAll(/"runId"\s*:\s*"([^"\\]{1,200})"/g)) ids.add(match[1] as string);
  const paths = ["context.runId", "runId", "run.id", ...(runIdPath ? [runIdPath] : [])];
  for (const record of records(text)) {
    for (const path of paths) {
      const id = getAtPath(record, path);
      if (typeof id === "string" && id.length > 0 && id.length <= 200) ids.add(id);
    }
  }
  return [...ids];
}

function records(text: string): unknown[] {
  const whole = parse(text);
  if (Array.isArray(whole)) return whole;
  if (whole !== undefined) return [whole];
  return text.split("\n").flatMap((line) => {
    const value = parse(line);
    return value === undefined ? [] : [value];
  });
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
