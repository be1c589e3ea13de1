import type { DeadLetter, Ledger } from "../ledger/ledger.ts";
import { readBody } from "../messages/index.ts";
import { fromBase64 } from "../shared/base64.ts";
import type { Acceptor, AcceptSummary } from "./accept.ts";
import type { Ingest } from "./ingest.ts";

/**
 * Replays a parked record through the same ingest as every way in. The parked bytes are read like a sink
 * body, so a dead letter holding several records (an array inside an array element) replays every one.
 *
 *   - one record, still refused → nothing changes, the reason comes back (it stays parked);
 *   - otherwise every record is recorded again (accepted, duplicate, or parked on its own) and the dead
 *     letter is removed — unless a record was left alone (no handler, another consumer's), or nothing was
 *     new (every record a duplicate, e.g. a run its own parking decided): then the dead letter stays.
 *
 * Runs keep their run id as the key, so a replay can never execute a run twice. A change gets a fresh key:
 * its digest key may already be spent (the handler failed on it), and replaying is a deliberate act.
 */
export type ReplayResult = { type: "replayed"; removed: boolean; summary: AcceptSummary } | { type: "still_invalid"; reason: string } | { type: "not_found" };

export async function replayDeadLetter(deps: { ledger: Ledger; ingest: Ingest; acceptor: Pick<Acceptor, "judge"> }, id: string): Promise<ReplayResult> {
  const letter: DeadLetter | undefined = await deps.ledger.getDeadLetter(id);
  if (!letter) return { type: "not_found" };
  const bytes = letter.rawEncoding === "base64" ? fromBase64(letter.raw) : letter.raw;
  if (bytes === undefined) return { type: "still_invalid", reason: "the parked bytes are not valid base64" };
  const records = [...readBody(bytes)];
  if (records.length === 0) return { type: "still_invalid", reason: "the parked record is empty" };
  const [only] = records;
  if (records.length === 1 && only) {
    // A single record still refused would be parked under the very key it holds now: report, change nothing.
    const verdict = await deps.acceptor.judge(letter.kind, only, "replay");
    if (verdict.type === "park") return { type: "still_invalid", reason: verdict.deadLetter.reason };
  }
  const summary = await deps.ingest(letter.kind, records, "replay", { changeKeySuffix: `:replay:${letter.id}` });
  // Removed once every record is recorded anew; kept when some were left alone, or when nothing changed
  // (every record a duplicate: the dead letter is then the only trace of why its run ended as it did).
  const removed = summary.ignored === 0 && summary.accepted + summary.parked > 0 && (await deps.ledger.removeDeadLetter(letter.id));
  return { type: "replayed", removed, summary };
}
