/**
 * The baseline of the ack benchmark: a tiny server that does only what every sink request needs before
 * the ledger, with the same code portside runs — `readBody` and `parseRun` — and answers 200 with the
 * counts. No auth, no ledger, no framework. `bun test/bench/baseline.ts <port>`; prints `ready <port>`.
 */
import { parseRun, readBody } from "../../src/messages/index.ts";

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  maxRequestBodySize: 6 * 1024 * 1024,
  async fetch(req) {
    if (req.method !== "POST") return new Response("ok");
    const records = [...readBody(new Uint8Array(await req.arrayBuffer()))];
    let valid = 0;
    let invalid = 0;
    for (const record of records) {
      if (record.ok && parseRun(record.value).ok) valid++;
      else invalid++;
    }
    return Response.json({ records: records.length, valid, invalid });
  },
});
console.log(`ready ${server.port}`);
