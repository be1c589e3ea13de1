import { compare, type NormalizedAction, type NormalizedDocument } from "./normalize.ts";

/**
 * What changed between the definitions a generated module was made from and Port's: per action, added,
 * removed, or the field paths that differ (`inputs.version.pattern`), each added, removed or changed. Lists
 * (an enum) compare whole. Sorted, so the same change reads the same every time.
 */
export interface ActionChange {
  action: string;
  change: "added" | "removed" | "changed";
  /** For a changed action: `<path>: added|removed|changed`, by path. */
  fields: string[];
}

export function diffDocuments(file: NormalizedDocument, live: NormalizedDocument): ActionChange[] {
  const before = byIdentifier(file.actions);
  const after = byIdentifier(live.actions);
  const identifiers = [...new Set([...before.keys(), ...after.keys()])].sort(compare);
  const changes: ActionChange[] = [];
  for (const action of identifiers) {
    const old = before.get(action);
    const now = after.get(action);
    if (!old) changes.push({ action, change: "added", fields: [] });
    else if (!now) changes.push({ action, change: "removed", fields: [] });
    else {
      const fields = diffValues(old, now, "");
      if (fields.length > 0) changes.push({ action, change: "changed", fields });
    }
  }
  return changes;
}

const byIdentifier = (actions: readonly NormalizedAction[]) => new Map(actions.map((action) => [action.identifier, action]));

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

function diffValues(old: unknown, now: unknown, path: string): string[] {
  if (isRecord(old) && isRecord(now)) {
    const keys = [...new Set([...Object.keys(old), ...Object.keys(now)])].sort(compare);
    return keys.flatMap((key) => {
      const at = path ? `${path}.${key}` : key;
      if (!(key in old)) return [`${at}: added`];
      if (!(key in now)) return [`${at}: removed`];
      return diffValues(old[key], now[key], at);
    });
  }
  return JSON.stringify(old) === JSON.stringify(now) ? [] : [`${path || "(whole)"}: changed`];
}
