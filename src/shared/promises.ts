/** Small promise patterns the pipeline and the Port stack share. */

/**
 * One pass at a time. A call while a pass runs asks it to go once more and gets the running pass's promise,
 * so what was announced meanwhile is never missed and the pass never runs twice at once.
 */
export interface Serial {
  /** Runs the pass (or asks the running one to go again); resolves when no pass is left to run. */
  run(): Promise<void>;
  /** The pass running now, if any. */
  readonly current: Promise<void> | null;
  /** A call came in during the running pass, which will go again. */
  readonly pending: boolean;
}

/** `goOn` can end the repeats early (e.g. once stopped). */
export function serial(pass: () => Promise<void>, goOn: () => boolean = () => true): Serial {
  let current: Promise<void> | null = null;
  let again = false;
  return {
    run() {
      if (current) {
        again = true;
        return current;
      }
      const running = (async () => {
        // Starts after `current` is set below: a pass with nothing to do must not finish before that.
        await undefined;
        try {
          do {
            again = false;
            await pass();
          } while (again && goOn());
        } finally {
          current = null;
        }
      })();
      current = running;
      return running;
    },
    get current() {
      return current;
    },
    get pending() {
      return again;
    },
  };
}

/** A promise with its resolve at hand (an event others wait for, replaced each time it happens). */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
