/**
 * The benchmark's PutEvents server, a process of its own: `bun test/bench/eventbridge.ts <port>`. It
 * answers PutEvents (AWS JSON 1.1 over `POST /`) for the real AWS SDK in portside, accepting every entry,
 * and counts what arrived, by `detail.idempotencyKey`, so a figure can say how many distinct events came,
 * how many came twice, how full the calls were, and when the first and the last arrived.
 *   GET  /__bench/stats   the counts (JSON)
 *   POST /__bench/reset   forgets everything
 * Unlike `test/support/eventbridge-server.ts` (the tests' server), it keeps no entries and plays no faults.
 */

const port = Number(process.argv[2] ?? 0);

let seen = new Set<string>();
let calls = 0;
let entries = 0;
let duplicates = 0;
let firstAt = 0;
let lastAt = 0;
/** Calls by entry count (index = entries in the call). */
let sizes = new Array<number>(11).fill(0);
let eventSeq = 0;
/** Bytes of request bodies (to compare what two publishers send per event). */
let bodyBytes = 0;

const JSON_11 = { "content-type": "application/x-amz-json-1.1" };

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/__bench/stats") return Response.json({ calls, entries, distinct: seen.size, duplicates, firstAt, lastAt, sizes, bodyBytes });
    if (path === "/__bench/reset") {
      seen = new Set();
      calls = entries = duplicates = firstAt = lastAt = bodyBytes = 0;
      sizes = new Array<number>(11).fill(0);
      return Response.json({ ok: true });
    }
    if (request.headers.get("x-amz-target") !== "AWSEvents.PutEvents") return new Response("PutEvents only", { status: 400 });
    const text = await request.text();
    bodyBytes += text.length;
    const body = JSON.parse(text) as { Entries?: Array<{ Detail?: string }> };
    const list = body.Entries ?? [];
    const now = Date.now();
    if (firstAt === 0) firstAt = now;
    lastAt = now;
    calls++;
    entries += list.length;
    sizes[Math.min(list.length, 10)] = (sizes[Math.min(list.length, 10)] ?? 0) + 1;
    const results = list.map((entry) => {
      const key = (JSON.parse(entry.Detail ?? "{}") as { idempotencyKey?: string }).idempotencyKey ?? "";
      if (seen.has(key)) duplicates++;
      else seen.add(key);
      return { EventId: `ev-${(++eventSeq).toString(36)}` };
    });
    return new Response(JSON.stringify({ FailedEntryCount: 0, Entries: results }), { headers: JSON_11 });
  },
});

console.log(`ready ${server.port}`);
