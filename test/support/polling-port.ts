import { Database } from "bun:sqlite";
import Redis from "ioredis";
import { createPortEmulator, type PortEmulator } from "../../src/emulator/port-emulator.ts";

/**
 * The Port emulator on a real socket for tests of polling portside processes, with the claim/ack traffic
 * watched on its way in and out:
 *
 * - `claimed`: how often each run and node run was handed out by a claim answer (sent, or lost with a
 *   process killed meanwhile);
 * - `acked`: how often each id came in an acknowledgement that reached the emulator;
 * - `ackedUncommitted`: ids acknowledged while portside's ledger did not hold them. Each acknowledgement
 *   is held at the door until the test's `ledgerHolds` has looked the ids up in the ledger itself (the
 *   SQLite file read-only, or the Redis keys); portside is waiting for the answer meanwhile, so what the
 *   lookup sees is what the ledger held when portside sent the ack.
 *
 * Hooks let a test kill portside at an exact point: `onClaimed` runs after the emulator claimed the runs
 * and before the answer leaves; `onAck` runs before the emulator sees an ack and may drop it (answered 503,
 * never applied: as when the process died before its ack reached Port); `onCall` runs before any other
 * call reaches the emulator.
 */
export interface PollingPort {
  emulator: PortEmulator;
  port: number;
  claimed: Map<string, number>;
  acked: Map<string, number>;
  ackedUncommitted: string[];
  /** Acknowledgements checked against the ledger. */
  acksChecked: number;
  /** Returns the ids the ledger does not hold. */
  ledgerHolds: ((ids: string[]) => Promise<string[]> | string[]) | null;
  onClaimed: ((ids: string[]) => Promise<void> | void) | null;
  onAck: ((ids: string[]) => Promise<"forward" | "drop"> | "forward" | "drop") | null;
  /** Runs before any other call reaches the emulator (a test may hold it there). */
  onCall: ((method: string, path: string) => Promise<void> | void) | null;
  stop(): void;
}

const CLAIM_PATHS = new Set(["/v1/actions/runs/claim-pending", "/v1/workflows/runs/claim-pending"]);
const ACK_PATHS = new Set(["/v1/actions/runs/ack", "/v1/workflows/runs/ack"]);

export function startPollingPort(): PollingPort {
  const emulator = createPortEmulator({});
  // Thousands of runs in seconds: beyond the budget Port once published (the emulator's default), where
  // portside would rightly slow down.
  emulator.state.rateLimit = { ...emulator.state.rateLimit, limit: 1_000_000 };
  const bump = (map: Map<string, number>, id: string) => map.set(id, (map.get(id) ?? 0) + 1);
  const watched: PollingPort = {
    emulator,
    port: 0,
    claimed: new Map(),
    acked: new Map(),
    ackedUncommitted: [],
    acksChecked: 0,
    ledgerHolds: null,
    onClaimed: null,
    onAck: null,
    onCall: null,
    stop: () => server.stop(true),
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method === "PATCH" && ACK_PATHS.has(path)) {
        const body = (await req.clone().json()) as { runIds?: string[]; nodeRunIdentifier?: string };
        const ids = body.runIds ?? (body.nodeRunIdentifier ? [body.nodeRunIdentifier] : []);
        if (watched.ledgerHolds) {
          watched.ackedUncommitted.push(...(await watched.ledgerHolds(ids)));
          watched.acksChecked++;
        }
        if ((await watched.onAck?.(ids)) === "drop") return new Response("dropped by the test", { status: 503 });
        for (const id of ids) bump(watched.acked, id);
        return emulator.app.fetch(req);
      }
      const claim = req.method === "POST" && CLAIM_PATHS.has(path);
      if (!claim) await watched.onCall?.(req.method, path);
      const res = await emulator.app.fetch(req);
      if (claim && res.ok) {
        const body = (await res.clone().json()) as { runs?: { id: string }[]; nodeRuns?: { identifier: string }[] };
        const ids = [...(body.runs ?? []).map((r) => r.id), ...(body.nodeRuns ?? []).map((n) => n.identifier)];
        for (const id of ids) bump(watched.claimed, id);
        if (ids.length > 0) await watched.onClaimed?.(ids);
      }
      return res;
    },
  });
  watched.port = server.port as number;
  return watched;
}

/** `ledgerHolds` for a SQLite ledger file: which of these run ids have no row in its work table (read-only, opened per look). */
export function sqliteLedgerLookup(path: string): (ids: string[]) => string[] {
  return (ids) => {
    const db = new Database(path, { readonly: true });
    try {
      const query = db.query("SELECT 1 FROM work WHERE key = ?");
      return ids.filter((id) => query.get(`run:${id}`) === null);
    } finally {
      db.close();
    }
  };
}

/** `ledgerHolds` for a Redis ledger (default prefix): which of these run ids have no work item. */
export function redisLedgerLookup(url: string): { lookup: (ids: string[]) => Promise<string[]>; close(): Promise<void> } {
  const client = new Redis(url);
  return {
    async lookup(ids) {
      if (ids.length === 0) return [];
      const found = await client.pipeline(ids.map((id) => ["exists", `portside:w:run:${id}`])).exec();
      return ids.filter((_, i) => found?.[i]?.[1] !== 1);
    },
    close: async () => void (await client.quit()),
  };
}

/**
 * A webhook receiver standing for the team's backend that node runs are forwarded to: answers 200 with a
 * small JSON body, and counts each run id's calls by the `Idempotency-Key` portside sends.
 */
export function startWebhookReceiver() {
  const received = new Map<string, number>();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      await req.text();
      const key = req.headers.get("idempotency-key") ?? "(none)";
      received.set(key, (received.get(key) ?? 0) + 1);
      return Response.json({ deployed: key });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, received, stop: () => server.stop(true) };
}
