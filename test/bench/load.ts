/**
 * The benchmark's load generator, a process of its own: `bun test/bench/load.ts '<json options>'`.
 * It posts 100-record batches of unique runs to `/sink/runs` (or the baseline server) and prints one
 * line of JSON with what it measured. Modes:
 *   closed   `connections` loops, each sending its next batch when the last was answered (max throughput)
 *   rate     open loop: a batch every 1/`batchesPerSec` s whatever is outstanding; latency is measured
 *            from the intended send time, so a stall shows up in the percentiles (no coordinated omission)
 *   burst    `connections` loops sending `total` records as fast as they are acknowledged, then stop; says
 *            when the first request went out (epoch ms), so an end-to-end figure can start there
 *   sustain  closed loop that also keeps (runs acknowledged − runs terminal at the emulator) under
 *            `maxBacklog`, polling the emulator's counts: the send rate settles at what the whole
 *            pipeline completes
 * With `declareUrl` (the Port emulator), each batch's run ids are declared there before the batch is sent,
 * as Port knows its runs before it publishes them (the emulator answers 404 for others). A loop of its own
 * keeps declared batches ready ahead of the senders, so declaring is never inside a measured request; it
 * declares at least 100 runs per call to the emulator, so single-run requests do not double its load.
 * With `webhookSecret`, each request is one run as Port's signed webhook sends it (`batch` must be 1): Port's
 * default body (the inputs spread, `port_context.runId`), its `RUN_ID` header, and `x-port-timestamp` /
 * `x-port-signature` (`v1,` and the base64 HMAC-SHA256 of `<timestamp>.<body>` with the secret), signed when
 * the request is taken to be sent, outside the measured time.
 */
import { createHmac } from "node:crypto";
import { batchBody, type BodyForm, type RecordKind, recordFactory } from "./messages.ts";

interface Options {
  mode: "closed" | "rate" | "sustain" | "burst";
  /** What the batches carry (default runs). */
  records?: RecordKind;
  /** burst: how many records in all. */
  total?: number;
  urls: string[];
  path: string;
  token: string;
  orgId: string;
  form: BodyForm;
  batch: number;
  durationMs: number;
  /** Excluded from the figures (closed, rate): the first requests warm the JIT and the connections. */
  warmupMs?: number;
  connections?: number;
  batchesPerSec?: number;
  maxBacklog?: number;
  statsUrl?: string;
  idPrefix: string;
  declareUrl?: string;
  /** Post each run as Port's signed webhook, signed with this client secret (see above). */
  webhookSecret?: string;
}

const o = JSON.parse(process.argv[2] ?? "{}") as Options;
if (o.webhookSecret !== undefined && o.batch !== 1) throw new Error("webhookSecret: a signed webhook carries one run, so batch must be 1");
const record = recordFactory(o.orgId, o.records ?? "run");
let seq = 0;
let target = 0;

/** A request ready to go: its body, and the run it carries when it is a webhook (named in its headers). */
interface Prepared {
  body: string;
  runId?: string;
}
function prepare(ids: string[]): Prepared {
  if (o.webhookSecret === undefined) return { body: batchBody(record, ids, o.form) };
  const runId = ids[0] as string;
  return { body: JSON.stringify({ version: "1.0.0", port_context: { runId } }), runId };
}
function nextIds(): string[] {
  const ids: string[] = [];
  for (let i = 0; i < o.batch; i++) ids.push(`${o.idPrefix}${(seq++).toString(36)}`);
  return ids;
}

/** Requests whose runs the emulator already knows, kept at least `READY_AHEAD` deep by `declareAhead`. */
const READY_AHEAD = 32;
/** Runs declared per call to the emulator, at least (a whole number of batches). */
const DECLARE_AT_LEAST = 100;
const ready: Prepared[] = [];
let wantReady: (() => void) | undefined;
let declaring = o.declareUrl !== undefined;
async function declareAhead(): Promise<void> {
  const batchesPerCall = Math.max(1, Math.ceil(DECLARE_AT_LEAST / o.batch));
  while (declaring) {
    if (ready.length >= READY_AHEAD) {
      await new Promise<void>((resolve) => (wantReady = resolve));
      continue;
    }
    const batches = Array.from({ length: batchesPerCall }, nextIds);
    const res = await fetch(`${o.declareUrl}/emulator/runs`, { method: "POST", body: JSON.stringify({ ids: batches.flat() }) });
    if (!res.ok) throw new Error(`the emulator refused to declare runs: ${res.status} ${await res.text()}`);
    for (const ids of batches) ready.push(prepare(ids));
  }
}
const declarer = declaring ? declareAhead() : Promise.resolve();

async function nextPrepared(): Promise<Prepared> {
  if (!o.declareUrl) return prepare(nextIds());
  while (ready.length === 0) await Bun.sleep(1);
  const next = ready.shift() as Prepared;
  wantReady?.();
  return next;
}
const sinkHeaders = { authorization: `Bearer ${o.token}`, "content-type": o.form === "array" ? "application/json" : "application/x-ndjson" };
/** The headers of one request; a webhook's signature is made now, with the time now. */
function headersFor(request: Prepared, secret = o.webhookSecret): Record<string, string> {
  if (secret === undefined) return sinkHeaders;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const mac = createHmac("sha256", secret).update(`${timestamp}.${request.body}`).digest("base64");
  return { "content-type": "application/json", RUN_ID: request.runId as string, "x-port-timestamp": timestamp, "x-port-signature": `v1,${mac}` };
}

interface Outgoing {
  body: string;
  headers: Record<string, string>;
}
/** The next request, its headers made (and signed) now. */
async function nextRequest(): Promise<Outgoing> {
  const prepared = await nextPrepared();
  return { body: prepared.body, headers: headersFor(prepared) };
}

let errors = 0;
let lastError = "";
async function post({ body, headers }: Outgoing): Promise<boolean> {
  const url = o.urls[target++ % o.urls.length] + o.path;
  try {
    const res = await fetch(url, { method: "POST", body, headers });
    const text = await res.text();
    if (res.ok) return true;
    lastError = `${res.status} ${text.slice(0, 200)}`;
  } catch (error) {
    lastError = String(error);
  }
  errors++;
  return false;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
function summary(latencies: number[]) {
  const sorted = latencies.slice().sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, n: sorted.length };
}

const out: Record<string, unknown> = { mode: o.mode };
const started = performance.now();
const warmupEnd = started + (o.warmupMs ?? 0);
const end = warmupEnd + o.durationMs;

if (o.mode === "closed") {
  let records = 0;
  let requests = 0;
  /** Records in requests answered 2xx, warm-up and the last answers after the window included. */
  let allRecords = 0;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: o.connections ?? 8 }, async () => {
      while (performance.now() < end) {
        const request = await nextRequest();
        const t0 = performance.now();
        const ok = await post(request);
        const t1 = performance.now();
        if (ok) allRecords += o.batch;
        if (ok && t0 >= warmupEnd && t1 <= end) {
          records += o.batch;
          requests++;
          latencies.push(t1 - t0);
        }
      }
    }),
  );
  Object.assign(out, {
    records,
    requests,
    allRecords,
    seconds: o.durationMs / 1000,
    recordsPerSec: records / (o.durationMs / 1000),
    latencyMs: summary(latencies),
  });
} else if (o.mode === "burst") {
  const total = o.total ?? 10_000;
  const startedAt = Date.now();
  let sent = 0;
  let acked = 0;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: o.connections ?? 4 }, async () => {
      while (sent < total) {
        sent += o.batch;
        const request = await nextRequest();
        const t0 = performance.now();
        if (await post(request)) acked += o.batch;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const endedAt = Date.now();
  Object.assign(out, { startedAt, endedAt, acked, recordsPerSec: acked / ((endedAt - startedAt) / 1000), latencyMs: summary(latencies) });
} else if (o.mode === "rate") {
  const interval = 1000 / (o.batchesPerSec ?? 10);
  const latencies: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let acked = 0;
  for (let i = 0; ; i++) {
    const intended = started + i * interval;
    if (intended >= end) break;
    const request = await nextRequest();
    const wait = intended - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    const p = post(request).then((ok) => {
      if (ok) acked += o.batch;
      if (ok && intended >= warmupEnd) latencies.push(performance.now() - intended);
      inFlight.delete(p);
    });
    inFlight.add(p);
    if (intended >= warmupEnd) sent++;
  }
  await Promise.all(inFlight);
  Object.assign(out, {
    requests: sent,
    records: sent * o.batch,
    acked,
    recordsPerSec: (sent * o.batch) / (o.durationMs / 1000),
    latencyMs: summary(latencies),
  });
} else {
  const maxBacklog = o.maxBacklog ?? 10_000;
  let acked = 0;
  let terminal = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        terminal = ((await (await fetch(o.statsUrl as string)).json()) as { terminal: number }).terminal;
      } catch {}
      await Bun.sleep(20);
    }
  })();
  await Promise.all(
    Array.from({ length: o.connections ?? 4 }, async () => {
      while (performance.now() < end) {
        if (acked - terminal + o.batch > maxBacklog) {
          await Bun.sleep(2);
          continue;
        }
        if (await post(await nextRequest())) acked += o.batch;
      }
    }),
  );
  polling = false;
  await poller;
  Object.assign(out, { acked, seconds: (performance.now() - started) / 1000 });
}
declaring = false;
wantReady?.();
await declarer;
out.errors = errors;
if (errors > 0) out.lastError = lastError;
console.log(JSON.stringify(out));
