/**
 * The webhook receiver of test/bench/agent-compare.ts: what a run forwarded by an execution agent (Port's
 * agent or portside) reaches. It reads the body and answers 200 with a small JSON object at once, and counts:
 * `GET /__stats` answers the requests received, the distinct run ids among them (`context.runId`,
 * `port_context.runId` or the `RUN_ID` header), when the first and last came, and the most it held at once.
 * `POST /__reset` starts over. With RECEIVER_DELAY_MS it answers that much later, as a slower backend would
 * (then the most held at once is how many calls the sender has open together; without a delay a request
 * is answered before the next is read, so it says little). `bun test/bench/receiver.ts <port>`.
 */
const delayMs = Number(process.env.RECEIVER_DELAY_MS ?? 0);
let stats = { requests: 0, distinctRuns: 0, firstAt: 0, lastAt: 0, maxInFlight: 0 };
let inFlight = 0;
let runs = new Set<string>();

function runIdOf(req: Request, body: unknown): string | undefined {
  const b = body as { context?: { runId?: unknown }; port_context?: { runId?: unknown } } | null;
  const id = b?.context?.runId ?? b?.port_context?.runId ?? req.headers.get("run_id");
  return typeof id === "string" ? id : undefined;
}

const receiver = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/__stats") return Response.json({ ...stats, distinctRuns: runs.size });
    if (url.pathname === "/__reset") {
      stats = { requests: 0, distinctRuns: 0, firstAt: 0, lastAt: 0, maxInFlight: 0 };
      runs = new Set();
      return Response.json({ ok: true });
    }
    inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    try {
      const text = await req.text();
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {}
      const runId = runIdOf(req, body);
      if (runId) runs.add(runId);
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
console.log(`ready ${receiver.port}`);

// A module, so its names are its own.
export {};
