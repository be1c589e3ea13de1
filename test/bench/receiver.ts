/**
 * The receiver of forwarded runs for phase 11b, a process of its own: `bun test/bench/receiver.ts <port>`.
 * It stands for the service behind an `agent: true` WEBHOOK action: every request is answered 200 with a
 * small JSON body at once (for a `synchronized` action, that answer becomes the run's response), and
 * counted, with how many came twice under the same `Idempotency-Key`.
 *   GET  /__bench/stats   {requests, distinct, repeated}
 *   POST /__bench/reset   forgets everything
 */

export {};

const port = Number(process.argv[2] ?? 0);

let seen = new Set<string>();
let requests = 0;
let repeated = 0;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/__bench/stats") return Response.json({ requests, distinct: seen.size, repeated });
    if (path === "/__bench/reset") {
      seen = new Set();
      requests = 0;
      repeated = 0;
      return Response.json({ ok: true });
    }
    await request.arrayBuffer();
    requests++;
    const key = request.headers.get("idempotency-key") ?? "";
    if (seen.has(key)) repeated++;
    else seen.add(key);
    return Response.json({ ok: true, deployed: true });
  },
});
console.log(`ready ${server.port}`);
