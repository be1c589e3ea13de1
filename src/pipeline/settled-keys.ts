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
    settled(key: string): Promise<void> {
      if (recent.has(key) || before.has(key)) return Promise.resolve();
      return new Promise((resolve) => {
        const list = waiters.get(key) ?? [];
        list.push(resolve);
        waiters.set(key, list);
      });
    },
  };
}
