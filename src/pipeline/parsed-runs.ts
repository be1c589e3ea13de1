import type { Run } from "../messages/views.ts";

/**
 * Runs this process has just validated at acceptance, by their stored text, so the executor, claiming
 * them moments later, need not parse and validate the same bytes again (the second parse was a tenth of
 * the executor's time under load). Only a hit on the identical text parsed with the identical run
 * locator is used: anything else (a record accepted by another replica or before a restart, an entry
 * that aged out) is parsed from the ledger as before, so what a handler sees never depends on the cache.
 *
 * Bounded: two generations of `size` entries; the older generation is dropped when the newer fills. One
 * cache per service (`createService` builds it and hands it to its acceptor and executor).
 */
export interface ParsedRuns {
  remember(text: string, locator: object | null, run: Run): void;
  /** The run parsed from exactly `text` with `locator`, once (the entry is removed). */
  take(text: string, locator: object | null): Run | undefined;
}

export function createParsedRuns(size = 256): ParsedRuns {
  type Entry = { locator: object | null; run: Run };
  let young = new Map<string, Entry>();
  let old = new Map<string, Entry>();
  return {
    remember(text, locator, run) {
      if (young.size >= size) {
        old = young;
        young = new Map();
      }
      young.set(text, { locator, run });
    },
    take(text, locator) {
      let entry = young.get(text);
      if (entry) young.delete(text);
      else {
        entry = old.get(text);
        if (entry) old.delete(text);
      }
      return entry && entry.locator === locator ? entry.run : undefined;
    },
  };
}
