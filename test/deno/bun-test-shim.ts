/**
 * `bun:test`'s describe/test/hooks and `expect` on Deno's own runner, so a suite written for `bun test`
 * (the ledger contract) runs unchanged under `deno test` (mapped in by `import-map.json`). Each test is one
 * `Deno.test`, registered in order; a suite's beforeAll runs before its first test and its afterAll after
 * its last, as in Bun. `expect` is Jest's, from npm: the matchers the suites use behave alike.
 */
export { expect } from "expect";

declare const Deno: {
  test(definition: { name: string; fn: () => Promise<void>; sanitizeOps: boolean; sanitizeResources: boolean }): void;
};

type Hook = () => unknown;

interface Suite {
  name: string;
  parent: Suite | null;
  beforeAll: Hook[];
  afterAll: Hook[];
  beforeEach: Hook[];
  afterEach: Hook[];
  /** Tests in this suite and below that have not run yet. */
  left: number;
  started: boolean;
}

const newSuite = (name: string, parent: Suite | null): Suite => ({
  name,
  parent,
  beforeAll: [],
  afterAll: [],
  beforeEach: [],
  afterEach: [],
  left: 0,
  started: false,
});

const root = newSuite("", null);
let current = root;

export function describe(name: string, body: () => void): void {
  const parent = current;
  current = newSuite(name, parent);
  try {
    body();
  } finally {
    current = parent;
  }
}

export const beforeAll = (hook: Hook) => void current.beforeAll.push(hook);
export const afterAll = (hook: Hook) => void current.afterAll.push(hook);
export const beforeEach = (hook: Hook) => void current.beforeEach.push(hook);
export const afterEach = (hook: Hook) => void current.afterEach.push(hook);

export function test(name: string, fn: () => unknown, _timeoutMs?: number): void {
  const chain: Suite[] = [];
  for (let s: Suite | null = current; s; s = s.parent) chain.unshift(s);
  for (const s of chain) s.left++;
  const fullName = [...chain.map((s) => s.name).filter(Boolean), name].join(" > ");
  Deno.test({
    name: fullName,
    // The ledgers keep connections and timers across tests, as under Bun.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      for (const s of chain) {
        if (s.started) continue;
        s.started = true;
        for (const hook of s.beforeAll) await hook();
      }
      try {
        for (const s of chain) for (const hook of s.beforeEach) await hook();
        await fn();
      } finally {
        for (const s of [...chain].reverse()) for (const hook of s.afterEach) await hook();
        for (const s of [...chain].reverse()) {
          if (--s.left === 0) for (const hook of s.afterAll) await hook();
        }
      }
    },
  });
}
export { test as it };
