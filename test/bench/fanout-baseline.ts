/**
 * The yardstick of phase 12: a hand-made change forwarder doing the minimum with portside's durability.
 * Bearer check; split the body (JSON array or newline-delimited); parse each record; one SQLite row per
 * change (WAL, synchronous=FULL, keyed by the record's SHA-256 as portside dedupes) in one transaction per
 * request; 200; then PutEvents calls of 10 entries over plain `fetch`, SigV4-signed with @smithy/signature-v4
 * (what the AWS SDK in portside signs with), at most `EVENTBRIDGE_PUT_EVENTS_PER_SECOND` calls a second;
 * failed entries (FailedEntryCount) and failed calls go back in the queue; rows deleted once published.
 * The event is portside's: Source, DetailType, Time, EventBusName and Detail `{version, kind, idempotencyKey,
 * change, raw}`. `bun test/bench/fanout-baseline.ts <port>`; prints `ready <port>`. Env: SINK_TOKEN, LEDGER_FILE,
 * EVENTBRIDGE_ENDPOINT, EVENTBRIDGE_BUS, EVENTBRIDGE_PUT_EVENTS_PER_SECOND, AWS_REGION, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY.
 */
import { Database } from "bun:sqlite";
import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";

const env = (name: string) => process.env[name] ?? "";
const db = new Database(env("LEDGER_FILE"));
db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY, entry TEXT NOT NULL)");
const insert = db.prepare("INSERT OR IGNORE INTO pending (key, entry) VALUES (?, ?)");
const remove = db.prepare("DELETE FROM pending WHERE key = ?");
/** Stores a request's changes in one transaction; answers those not stored before (a redelivery is not queued twice). */
const store = db.transaction((rows: string[][]) => rows.filter(([key, entry]) => insert.run(key as string, entry as string).changes > 0));
const forget = db.transaction((keys: string[]) => {
  for (const key of keys) remove.run(key);
});
const queue = db
  .query<{ key: string; entry: string }, []>("SELECT key, entry FROM pending")
  .all()
  .map((r) => [r.key, r.entry]);

type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: Data) => (typeof d === "string" ? d : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : new Uint8Array(d));
/** The hash SigV4 needs, from node:crypto (as the SDK's own on Node). */
class Sha256 {
  private h;
  constructor(secret?: Data) {
    this.h = secret ? createHmac("sha256", bytes(secret)) : createHash("sha256");
  }
  update(data: Data) {
    this.h.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}
const endpoint = new URL(env("EVENTBRIDGE_ENDPOINT"));
const credentials = { accessKeyId: env("AWS_ACCESS_KEY_ID"), secretAccessKey: env("AWS_SECRET_ACCESS_KEY") };
const signer = new SignatureV4({ service: "events", region: env("AWS_REGION"), credentials, sha256: Sha256 });
const rate = Number(env("EVENTBRIDGE_PUT_EVENTS_PER_SECOND") || 400);
let tokens = rate;
let refilledAt = Date.now();
let inFlight = 0;
let head = 0;
const published: string[] = [];
let forgetting: ReturnType<typeof setTimeout> | undefined;

async function putEvents(batch: string[][]) {
  const body = `{"Entries":[${batch.map(([, entry]) => entry).join(",")}]}`;
  const headers = { host: endpoint.host, "content-type": "application/x-amz-json-1.1", "x-amz-target": "AWSEvents.PutEvents" };
  const request = { method: "POST", protocol: endpoint.protocol, hostname: endpoint.hostname, port: Number(endpoint.port), path: "/", headers, body };
  try {
    const signed = await signer.sign(request);
    const answer = (await (await fetch(endpoint, { method: "POST", headers: signed.headers, body })).json()) as { Entries?: Array<{ EventId?: string }> };
    for (const [i, row] of batch.entries()) {
      if (answer.Entries?.[i]?.EventId) published.push(row[0] as string);
      else queue.push(row);
    }
  } catch {
    queue.push(...batch);
  }
  // The published rows go in one transaction per 10 ms, not one fsync per call.
  if (published.length > 0 && !forgetting)
    forgetting = setTimeout(() => {
      forgetting = undefined;
      forget(published.splice(0));
    }, 10);
  inFlight--;
  pump();
}

function pump() {
  tokens = Math.min(rate, tokens + ((Date.now() - refilledAt) * rate) / 1000);
  refilledAt = Date.now();
  while (queue.length > head && inFlight < 16 && tokens >= 1) {
    tokens--;
    inFlight++;
    const batch = queue.slice(head, head + 10);
    head += batch.length;
    void putEvents(batch);
  }
  if (head > 4096 && head * 2 > queue.length) {
    queue.splice(0, head);
    head = 0;
  }
  if (queue.length > head && tokens < 1) setTimeout(pump, Math.ceil(1000 / rate));
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  maxRequestBodySize: 6 * 1024 * 1024,
  async fetch(req) {
    if (req.headers.get("authorization") !== `Bearer ${env("SINK_TOKEN")}`) return new Response("unauthorised", { status: 401 });
    const text = (await req.text()).trim();
    const records: unknown[] = text.startsWith("[")
      ? JSON.parse(text)
      : text
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line));
    const rows = records.map((value) => {
      const raw = JSON.stringify(value);
      const key = new Bun.CryptoHasher("sha256").update(raw).digest("hex");
      const r = value as { action: string; resourceType: string; trigger?: { by?: { orgId?: string; userId?: string }; origin?: string; at?: string } };
      const c = value as { context?: { blueprint?: string; entity?: string }; diff?: { before?: unknown; after?: unknown } };
      const change = {
        action: r.action,
        resourceType: r.resourceType,
        blueprint: c.context?.blueprint ?? null,
        identifier: c.context?.entity ?? null,
        runId: null,
      };
      const view = { ...change, before: c.diff?.before ?? null, after: c.diff?.after ?? null, orgId: r.trigger?.by?.orgId, byPort: false };
      const who = { userId: r.trigger?.by?.userId ?? null, origin: r.trigger?.origin ?? null, at: r.trigger?.at ?? null, digest: key };
      const detail = `{"version":1,"kind":"change","idempotencyKey":"${key}","change":${JSON.stringify({ ...view, ...who })},"raw":${raw}}`;
      const detailType = `port.change.${r.resourceType}.${change.blueprint ?? "_"}.${r.action}`;
      const time = who.at ? { Time: Date.parse(who.at) / 1000 } : {};
      return [key, JSON.stringify({ EventBusName: env("EVENTBRIDGE_BUS"), Source: "portside", DetailType: detailType, Detail: detail, ...time })];
    });
    queue.push(...store(rows));
    pump();
    return Response.json({ accepted: rows.length });
  },
});
pump();
// An exit of its own on SIGTERM, so `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => process.exit(0));
console.log(`ready ${server.port}`);
