import type { DeadLetter, Ledger } from "../ledger/ledger.ts";
import { splitSinkBody } from "../messages/index.ts";
import type { Acceptor } from "./accept.ts";

/**
 * Replays a parked record through the same validation as the sink. A record that is still invalid
 * stays parked (nothing changes) and the reason comes back; a valid one is accepted and unparked.
 *
 * Runs keep their run id as the key, so a replay can never execute a run twice. A change gets a fresh
 * key: its digest key may already be spent (the handler failed on it), and replaying is a deliberate act.
 */
export type ReplayResult =
  | { type: "replayed"; outcome: "accepted" | "duplicate"; key: string }
  | { type: "still_invalid"; reason: string }
  | { type: "not_found" };

export async function replayDeadLetter(deps: { ledger: Ledger; acceptor: Acceptor; clock: () => number }, id: string): Promise<ReplayResult> {
  const letter: DeadLetter | undefined = await deps.ledger.getDeadLetter(id);
  if (!letter) return { type: "not_found" };
  const [record] = splitSinkBody(letter.raw).records;
  if (!record) return { type: "still_invalid", reason: "the parked record is empty" };
  const verdict = await deps.acceptor.judge(letter.kind, record, "replay");
  if (verdict.type === "park") return { type: "still_invalid", reason: verdict.deadLetter.reason };
  const work = letter.kind === "change" ? { ...verdict.record, key: `${verdict.record.key}:replay:${letter.id}` } : verdict.record;
  const [outcome] = (await deps.ledger.commit({ records: [work], deadLetters: [], reports: [] }, deps.clock())).records;
  await deps.ledger.removeDeadLetter(letter.id);
  return { type: "replayed", outcome: outcome ?? "duplicate", key: work.key };
}
