import { createHash } from "node:crypto";

/**
 * Hex SHA-256 of a record's canonical text: the dedupe key of change-log records (they carry no id and
 * redeliveries are byte-identical). `node:crypto`, which Bun, Deno and Node all provide, hashes in place:
 * WebCrypto's digest is asynchronous and, per record on the ack path, cost about a tenth of the fan-out's CPU
 * (test/bench/NOTES.md, phase 12's profile).
 */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
