/**
 * Keys finished lately and who waits for them, so a waiter that registers just after the finish is not left
 * hanging. The last 10,000 to 20,000 keys, in two generations rather than one set trimmed from the front:
 * deleting a Set's oldest entry one at a time leaves tombstones that every later `values().next()` walks past.
 */
export function settledKeys() {
  const waiters = new Map<string, Array<() => void>>();
  let recent = new Set<string>();
  let before = new Set<string>();
  return {
    settle(key: string) {
      recent.add(key);
      if (recent.size >= 10_000) {
        before = recent;
        recent = new Set();
      }
      for (const resolve of waiters.get(key) ?? []) resolve();
      waiters.delete(key);
    },
    /**
     * Resolves once `key` settles here. With `signal`, the wait is given up when it aborts: the waiter is
     * forgotten (and the promise never resolves), so a key this process never runs (another replica
     * claimed it) leaves nothing behind once its waiter stopped waiting.
     */
    settled(key: string, signal?: AbortSignal): Promise<void> {
      if (recent.has(key) || before.has(key)) return Promise.resolve();
      if (signal?.aborted) return new Promise(() => {});
      return new Promise((resolve) => {
        const list = waiters.get(key) ?? [];
        list.push(resolve);
        waiters.set(key, list);
        signal?.addEventListener(
          "abort",
          () => {
            const left = (waiters.get(key) ?? []).filter((r) => r !== resolve);
            if (left.length > 0) waiters.set(key, left);
            else waiters.delete(key);
          },
          { once: true },
        );
      });
    },
    /** Keys someone waits for (tests, and the bound above). */
    get waiting(): number {
      return waiters.size;
    },
  };
}
