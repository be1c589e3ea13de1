import type { DeadLetter, DeadLetterInput, DeadLetterSummary } from "./ledger.ts";
import { parseCursor, parseId, rawSize } from "./validate.ts";

/**
 * The memory ledger's dead letters: parked records by id, and the dedupe keys of those still parked (a key
 * is free again once its dead letter is removed or purged). The ledger decides when to park; this keeps them.
 */
export function createMemoryDeadLetters() {
  const letters = new Map<number, DeadLetter>();
  const parkedKeys = new Map<string, number>();
  let seq = 0;
  return {
    get size() {
      return letters.size;
    },
    isParked: (key: string) => parkedKeys.has(key),
    park({ reports: _reports, claims: _claims, rawEncoding, ...d }: DeadLetterInput, now: number): void {
      const id = ++seq;
      letters.set(id, { ...d, rawEncoding: rawEncoding ?? "utf8", size: rawSize(d.raw, rawEncoding), id: String(id), parkedAt: now });
      parkedKeys.set(d.key, id);
    },
    list(opts: { limit?: number; after?: string }): DeadLetterSummary[] {
      const after = parseCursor(opts.after);
      const limit = opts.limit ?? 0;
      const out: DeadLetterSummary[] = [];
      for (const [id, letter] of letters) {
        if (out.length >= limit) break;
        if (id <= after) continue;
        const { raw: _raw, ...summary } = letter;
        out.push(summary);
      }
      return out;
    },
    get(id: string): DeadLetter | undefined {
      const n = parseId(id);
      const letter = n === undefined ? undefined : letters.get(n);
      return letter && { ...letter };
    },
    remove(id: string): boolean {
      const n = parseId(id);
      const letter = n === undefined ? undefined : letters.get(n);
      if (n === undefined || !letter) return false;
      letters.delete(n);
      parkedKeys.delete(letter.key);
      return true;
    },
    purge(before: number): number {
      let purged = 0;
      for (const [id, letter] of letters) {
        if (letter.parkedAt >= before) continue;
        letters.delete(id);
        if (parkedKeys.get(letter.key) === id) parkedKeys.delete(letter.key);
        purged += 1;
      }
      return purged;
    },
  };
}
