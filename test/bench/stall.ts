/**
 * Phase 7 of the benchmark: does one hostile body stall everything else? While portside handles a body
 * of 200,000 tiny bad records (each parked), or 2 MB of unbalanced brackets, a second client polls
 * /healthz every 5 ms; the figure is /healthz's latency (p50, p99, max) meanwhile, and how long the body
 * took. Nothing asserts on it.
 */
export interface StallResult {
  bodyBytes: number;
  records: number;
  bodyMs: number;
  status: number;
  replyBytes: number;
  health: { n: number; p50: number; p99: number; max: number };
}

/** 200,000 distinct tiny records (base-36 numbers), so each one is parked on its own, not deduplicated. */
export const manyBadRecords = (records = 200_000) => ({ records, body: Array.from({ length: records }, (_, i) => i.toString(36)).join("\n") });
/** One array of 2 MB of unbalanced brackets: `[[[…}}}…]`, a scanner's worst case. */
export const strayBrackets = (n = 1_000_000) => ({ records: 1, body: `[${"[".repeat(n)}${"}".repeat(n)}]` });

export async function healthDuringHostileBody(url: string, token: string, hostile: { records: number; body: string }): Promise<StallResult> {
  const { body, records } = hostile;
  const latencies: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const t = performance.now();
      await (await fetch(`${url}/healthz`)).arrayBuffer();
      latencies.push(performance.now() - t);
      await Bun.sleep(5);
    }
  })();
  await Bun.sleep(200); // a few polls before, as a reference
  const t0 = performance.now();
  const res = await fetch(`${url}/sink/runs`, { method: "POST", body, headers: { authorization: `Bearer ${token}` } });
  const reply = await res.arrayBuffer();
  const bodyMs = performance.now() - t0;
  polling = false;
  await poller;
  const sorted = [...latencies].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  return {
    bodyBytes: body.length,
    records,
    bodyMs,
    status: res.status,
    replyBytes: reply.byteLength,
    health: { n: sorted.length, p50: q(0.5), p99: q(0.99), max: sorted.at(-1) ?? Number.NaN },
  };
}
