import type { PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import type { EntryOutcome } from "./publisher.ts";

/**
 * Packs entries from concurrent work items into PutEvents calls: up to 10 entries and `maxRequestBytes`
 * per call. The executor runs many items at once and each publishes one event; sending them one call
 * each would spend the account's PutEvents quota ten times faster. A batch goes when it is full, when
 * the next entry would not fit, or `lingerMs` after its first entry, whichever comes first.
 */

export const MAX_ENTRIES_PER_CALL = 10;

export interface BatcherOptions {
  maxRequestBytes: number;
  /** How long the first entry of a batch waits for company. */
  lingerMs: number;
  maxEntries?: number;
  /** Sends one batch and answers one outcome per entry, in order (see `Publisher.putBatch`). */
  send: (entries: PutEventsRequestEntry[]) => Promise<EntryOutcome[]>;
}

/** What `submit` answers: the publisher's outcome, or a refusal before anything was sent. */
export type SubmitOutcome = EntryOutcome | { type: "too_large"; bytes: number; limit: number };

export interface Batcher {
  /** `bytes` is the entry's size by EventBridge's rule (`entryBytes`). */
  submit(entry: PutEventsRequestEntry, bytes: number): Promise<SubmitOutcome>;
  /** Sends what is waiting now. */
  flush(): void;
}

interface Waiting {
  entry: PutEventsRequestEntry;
  resolve: (outcome: SubmitOutcome) => void;
  reject: (error: unknown) => void;
}

export function createBatcher(options: BatcherOptions): Batcher {
  const maxEntries = Math.min(options.maxEntries ?? MAX_ENTRIES_PER_CALL, MAX_ENTRIES_PER_CALL);
  let waiting: Waiting[] = [];
  let waitingBytes = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;

  function flush() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (waiting.length === 0) return;
    const batch = waiting;
    waiting = [];
    waitingBytes = 0;
    options.send(batch.map((w) => w.entry)).then(
      (outcomes) =>
        batch.forEach((w, i) => {
          const outcome = outcomes[i];
          if (outcome) w.resolve(outcome);
          else w.reject(new Error("the publisher answered fewer outcomes than entries"));
        }),
      (error) => {
        for (const w of batch) w.reject(error);
      },
    );
  }

  return {
    flush,
    submit(entry, bytes) {
      if (bytes > options.maxRequestBytes) return Promise.resolve({ type: "too_large", bytes, limit: options.maxRequestBytes });
      if (waitingBytes + bytes > options.maxRequestBytes) flush();
      const outcome = new Promise<SubmitOutcome>((resolve, reject) => waiting.push({ entry, resolve, reject }));
      waitingBytes += bytes;
      if (waiting.length >= maxEntries) flush();
      else if (!timer) timer = setTimeout(flush, options.lingerMs);
      return outcome;
    },
  };
}
