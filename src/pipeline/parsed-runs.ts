import type { Run } from "../messages/views.ts";

/**
 * Runs this process has just validated at acceptance, by their stored text, so the executor, claiming
 * them moments later, need not parse and validate the same bytes again (the second parse was a tenth of
 * the executor's time under load). Only a hit on the identical text parsed with the identical run
 * locator is used: anything else (a record accepted by another replica or before a restart, an entry
 * that aged out) is parsed from the ledger as before, so what a handler sees never depends on the cache.
 *
 * Bounded: two generations of `size` entries or PARSED_RUNS_MAX_CHARS characters of text, whichever is
 * reached first; the older generation is dropped when the newer fills. One cache per service
 * (`createService` builds it and hands it to its acceptor and executor).
 */
export interface ParsedRuns {
  remember(text: string, locator: object | null, run: Run): void;
  /** The run parsed from exactly `text` with `locator`, once (the entry is removed). */
  take(text: string, locator: object | null): Run | undefined;
}

/**
 * The most text (record characters) one generation holds: runs of a few KB each never reach it, while
 * messages near Port's limits push older ones out instead of holding hundreds of MB.
 */
export const PARSED_RUNS_MAX_CHARS = 4 * 1024 * 1024;

export function createParsedRuns(size = 256): ParsedRuns {
  type Entry = { locator: object | null; run: Run };
  let young = new Map<string, Entry>();
  let old = new Map<string, Entry>();
  /** Characters of the texts in `young`. */
  let youngChars = 0;
  return {
    remember(text, locator, run) {
      if (young.size >= size || youngChars + text.length > PARSED_RUNS_MAX_CHARS) {
        old = young;
        young = new Map();
        youngChars = 0;
      }
      young.set(text, { locator, run });
      youngChars += text.length;
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
