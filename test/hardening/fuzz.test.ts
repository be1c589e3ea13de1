import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ADMIN_TOKEN, createHarness, type Harness, ORG, runMessage } from "../support/harness.ts";

/**
 * A bounded mutation fuzz of both sink routes. Real Port messages are mutated — bytes flipped, keys
 * dropped, types swapped, deep nesting, huge strings, bytes that are not UTF-8, run ids copied from earlier
 * records — and sent in batches that also carry valid marker runs and changes. Whatever arrives:
 *   - every request is answered 200, in time (no 5xx, no crash, no hang);
 *   - every marker run is executed exactly once and terminated exactly once (SUCCESS); every marker change
 *     is handled exactly once;
 *   - every parked record holds exactly the bytes that were sent for it.
 *
 * One fixed seed and one fresh seed (printed, so a failure can be replayed with FUZZ_SEED) run for
 * FUZZ_SECONDS each (default 10). Array bodies get only mutations that keep brackets balanced: in a
 * JSON array, an element with unbalanced brackets makes its neighbours' boundaries a guess.
 */
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 10);
const FIXED_SEED = 20261127;
const seeds = [Number(process.env.FUZZ_SEED ?? FIXED_SEED), Date.now() % 2 ** 31];

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../src/messages/fixtures/${name}`, import.meta.url), "utf8")) as Record<string, unknown>;
const runSeeds = ["runs/legacy-create.json", "runs/legacy-day2.json", "runs/agent-signed.json"].map(fixture);
const changeSeeds = ["changes/entity-create.json", "changes/entity-update.json", "changes/timer-expired.json"].map(fixture);
const encoder = new TextEncoder();

/** mulberry32: small, seeded, good enough to pick mutations. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)] as T };
}
type Rng = ReturnType<typeof prng>;

/** Every path to a value inside `value`, as key lists. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (value !== null && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      const path = [...prefix, Array.isArray(value) ? Number(key) : key];
      out.push(path);
      paths(child, path, out);
    }
  }
  return out;
}

function setAt(root: Record<string, unknown>, path: (string | number)[], update: (parent: Record<string | number, unknown>, key: string | number) => void) {
  let parent: Record<string | number, unknown> = root;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  update(parent, path.at(-1) as string | number);
}

const TYPES: unknown[] = [null, 0, -1.5, "", "text", true, [], {}, [1, "a"], { nested: { deeper: [null] } }];

/** One mutant: its bytes as sent. `balanced` keeps JSON's brackets balanced (for array bodies). */
function mutant(rng: Rng, seedsOf: Record<string, unknown>[], earlierIds: string[], balanced: boolean): Uint8Array {
  const message = structuredClone(rng.pick(seedsOf));
  const all = paths(message);
  const kind = rng.int(7);
  if (kind === 0 && all.length > 0) setAt(message, rng.pick(all), (p, k) => delete p[k]);
  else if (kind === 1 && all.length > 0) setAt(message, rng.pick(all), (p, k) => (p[k] = structuredClone(rng.pick(TYPES))));
  else if (kind === 2) setAt(message, [rng.pick(["inputs", "payload", "diff", "context"])], (p, k) => (p[k] = "__DEEP__"));
  else if (kind === 3) setAt(message, [rng.pick(["action", "status", "payload", "note"])], (p, k) => (p[k] = "x".repeat(50_000 + rng.int(150_000))));
  else if (kind === 4 && earlierIds.length > 0) {
    // A copy of an earlier run's id on a broken record: the earlier record decided that run already.
    message.context = { ...(message.context as object), runId: rng.pick(earlierIds) };
    message.payload = rng.pick(TYPES);
  }
  let text = JSON.stringify(message);
  if (kind === 2) {
    // Nesting far beyond what portside reads, written as text (JSON.stringify itself would overflow).
    const depth = 200 + rng.int(20_000);
    text = text.replace('"__DEEP__"', `${"[".repeat(depth)}${"]".repeat(depth)}`);
  }
  let bytes = encoder.encode(text);
  if (kind === 5) {
    // Bytes that are not UTF-8, inside a string value, so the structure stays readable.
    const at = bytes.indexOf(0x22, 1 + rng.int(Math.max(1, bytes.length - 2)));
    if (at > 0) bytes = new Uint8Array([...bytes.subarray(0, at + 1), 0xff, 0xc3, 0x28, ...bytes.subarray(at + 1)]);
  }
  if (kind === 6 || rng.next() < 0.2) {
    // Bytes flipped; array bodies keep JSON's structural characters; a line break never appears (one record, one line).
    const flips = 1 + rng.int(4);
    for (let i = 0; i < flips; i++) {
      const at = rng.int(bytes.length);
      const structural = (b: number | undefined) => b !== undefined && [0x5b, 0x5d, 0x7b, 0x7d, 0x22, 0x2c, 0x5c].includes(b);
      if (balanced && structural(bytes[at])) continue;
      let value = rng.int(256);
      while (value === 0x0a || (balanced && structural(value))) value = rng.int(256);
      bytes[at] = value;
    }
  }
  return bytes;
}

const join = (parts: Uint8Array[], separator: string, open = "", close = "") => {
  const sep = encoder.encode(separator);
  const chunks = [encoder.encode(open), ...parts.flatMap((p, i) => (i === 0 ? [p] : [sep, p])), encoder.encode(close)];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
};

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
/** What a parked record's raw should equal: the sent bytes without surrounding white space. */
const trimmed = (bytes: Uint8Array) => {
  let s = 0;
  let e = bytes.length;
  const space = (b: number | undefined) => b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a;
  while (s < e && space(bytes[s])) s++;
  while (e > s && space(bytes[e - 1])) e--;
  return bytes.subarray(s, e);
};

let h: Harness | undefined;
afterAll(async () => h?.stop());

for (const seed of seeds) {
  test(
    `mutation fuzz of /sink/runs and /sink/changes, seed ${seed}`,
    async () => {
      console.log(`[fuzz] seed ${seed} for ${SECONDS} s (replay with FUZZ_SEED=${seed})`);
      const rng = prng(seed);
      const executions = new Map<string, number>();
      const count = (id: string) => executions.set(id, (executions.get(id) ?? 0) + 1);
      await h?.stop();
      h = await createHarness({
        env: { CONCURRENCY: "32" },
        handlers: {
          runs: { deploy: async (run) => void count(run.id), create_vm: async (run) => void count(run.id), Create: async (run) => void count(run.id) },
          changes: [{ handle: (change) => void count(`change:${change.identifier}`) }],
        },
      });
      const harness = h;
      const sent = new Set<string>();
      const markers: string[] = [];
      const markerChanges: string[] = [];
      const deadline = Date.now() + SECONDS * 1000;
      let batches = 0;
      let records = 0;
      while (Date.now() < deadline) {
        const route = rng.next() < 0.7 ? "runs" : "changes";
        const array = rng.next() < 0.5;
        const parts: Uint8Array[] = [];
        for (let i = 0, n = 1 + rng.int(12); i < n; i++) {
          if (rng.next() < 0.35) {
            const id = `${seed}_${batches}_${i}`;
            if (route === "runs") {
              markers.push(`r_mark_${id}`);
              parts.push(encoder.encode(JSON.stringify(runMessage(`r_mark_${id}`))));
            } else {
              markerChanges.push(`mark-${id}`);
              const change = {
                action: "UPDATE",
                resourceType: "entity",
                status: "SUCCESS",
                trigger: { by: { orgId: ORG, userId: "u" }, origin: "API", at: "2026-01-01T00:00:00.000Z" },
                context: { entity: `mark-${id}`, blueprint: "fuzz" },
                diff: { before: { identifier: `mark-${id}` }, after: { identifier: `mark-${id}` } },
              };
              parts.push(encoder.encode(JSON.stringify(change)));
            }
          } else {
            const bytes = mutant(rng, route === "runs" ? runSeeds : changeSeeds, markers, array);
            sent.add(hex(trimmed(bytes)));
            parts.push(bytes);
          }
        }
        records += parts.length;
        const body = array ? join(parts, ",", "[", "]") : join(parts, rng.next() < 0.5 ? "\n" : "\r\n");
        // Now and then a whole batch twice, as a connector resends.
        for (let send = 0; send < (rng.next() < 0.15 ? 2 : 1); send++) {
          const res = await Promise.race([harness.post(`/sink/${route}`, body), Bun.sleep(10_000).then(() => null)]);
          if (!res) throw new Error(`seed ${seed}: a request hung (batch ${batches})`);
          if (res.status !== 200) throw new Error(`seed ${seed}: batch ${batches} got ${res.status}: ${(await res.text()).slice(0, 300)}`);
          await res.arrayBuffer();
        }
        batches++;
      }
      console.log(`[fuzz] seed ${seed}: ${batches} batches, ${records} records, ${markers.length} marker runs, ${markerChanges.length} marker changes`);

      await harness.waitForTerminal(markers, 60_000);
      await harness.waitUntil(() => markerChanges.every((id) => executions.has(`change:${id}`)), "every marker change to be handled", 60_000);
      const wrong = markers.filter(
        (id) =>
          executions.get(id) !== 1 ||
          harness.emulator.state.terminalStatus(id) !== "SUCCESS" ||
          harness.emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun" && c.status < 300).length !== 1,
      );
      expect(wrong).toEqual([]);
      expect(markerChanges.filter((id) => executions.get(`change:${id}`) !== 1)).toEqual([]);

      // Every parked record holds the bytes that were sent for it.
      let after: string | undefined;
      let parked = 0;
      for (;;) {
        const page = (await (
          await harness.service.app.request(`/admin/dead-letters?limit=1000${after ? `&after=${after}` : ""}`, {
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          })
        ).json()) as {
          items: { id: string; source: string }[];
          next: string | null;
        };
        for (const { id } of page.items.filter((l) => l.source.startsWith("sink/"))) {
          parked++;
          const letter = (await (
            await harness.service.app.request(`/admin/dead-letters/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
          ).json()) as { raw: string; rawEncoding: string };
          const bytes = letter.rawEncoding === "base64" ? Buffer.from(letter.raw, "base64") : Buffer.from(letter.raw, "utf8");
          expect(sent.has(bytes.toString("hex"))).toBe(true);
        }
        if (!page.next) break;
        after = page.next;
      }
      console.log(`[fuzz] seed ${seed}: ${parked} records parked, each with the bytes sent`);
      expect(parked).toBeGreaterThan(0);
    },
    (SECONDS + 120) * 1000,
  );
}
