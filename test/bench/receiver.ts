/**
 * The receiver of forwarded runs, a process of its own for the benchmarks (phase 11b of test/bench/run.ts,
 * and test/bench/agent-compare.ts): it stands for the service behind an `agent: true` WEBHOOK action. Every
 * request is answered 200 with a small JSON body (for a `synchronized` action, that answer becomes the run's
 * response) — at once, or RECEIVER_DELAY_MS later, as a slower backend would — and counted:
 *   GET  /__bench/stats   {requests, distinctRuns (context.runId, port_context.runId or the RUN_ID header),
 *                          distinctKeys and repeatedKeys (by Idempotency-Key), firstAt, lastAt, maxInFlight}
 *   POST /__bench/reset   forgets everything
 * With a delay, `maxInFlight` is how many calls the sender has open together; without, a request is
 * answered before the next is read, so it says little. `bun test/bench/receiver.ts <port>`.
 */
export {};

const delayMs = Number(process.env.RECEIVER_DELAY_MS ?? 0);
const fresh = () => ({ requests: 0, firstAt: 0, lastAt: 0, maxInFlight: 0, repeatedKeys: 0, runs: new Set<string>(), keys: new Set<string>() });
let stats = fresh();
let inFlight = 0;

function runIdOf(request: Request, body: unknown): string | undefined {
  const b = body as { context?: { runId?: unknown }; port_context?: { runId?: unknown } } | null;
  const id = b?.context?.runId ?? b?.port_context?.runId ?? request.headers.get("run_id");
  return typeof id === "string" ? id : undefined;
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/__bench/stats") {
      const { runs, keys, ...counts } = stats;
      return Response.json({ ...counts, distinctRuns: runs.size, distinctKeys: keys.size });
    }
    if (path === "/__bench/reset") {
      stats = fresh();
      return Response.json({ ok: true });
    }
    inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    try {
      const text = await request.text();
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {}
      const runId = runIdOf(request, body);
      if (runId) stats.runs.add(runId);
      const key = request.headers.get("idempotency-key");
      if (key !== null) {
        if (stats.keys.has(key)) stats.repeatedKeys++;
        else stats.keys.add(key);
      }
      const now = Date.now();
      stats.requests++;
      stats.firstAt ||= now;
      stats.lastAt = now;
      if (delayMs > 0) await Bun.sleep(delayMs);
      return Response.json({ ok: true, received: runId ?? null });
    } finally {
      inFlight--;
    }
  },
});
console.log(`ready ${server.port}`);
