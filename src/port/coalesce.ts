/**
 * Grouping of a run's outbox into as few Port calls as possible. Consecutive log lines become one
 * `POST /logs` (joined with newlines) because Port's rate limit is per organisation and a chatty handler
 * must not spend it; the joined body stays well under Port's 1 MiB request limit.
 */
import type { PendingReport } from "../ledger/ledger.ts";
import type { RunLogLevel } from "./calls.ts";

/** Default cap on one coalesced log message, measured as JSON-encoded UTF-8 (half of Port's 1 MiB limit). */
export const defaultMaxLogBytes = 512 * 1024;

const encoder = new TextEncoder();

/** Bytes `text` takes inside a JSON body (escapes included), the number Port's limit applies to. */
export const jsonBytes = (text: string): number => encoder.encode(JSON.stringify(text)).byteLength;

/** One line of a coalesced log delivery, with the level a workflow node run shows it at. */
export interface LogLine {
  message: string;
  level: RunLogLevel;
}

/**
 * `message` is the lines joined, as one action run log carries them; `lines` keeps them apart with their
 * levels, as a node run's log endpoint takes them.
 */
export type Delivery = { kind: "log"; reports: PendingReport[]; message: string; lines: LogLine[] } | { kind: "single"; reports: [PendingReport] };

/**
 * The next delivery starting at `start`: a run of consecutive logs that fits in `maxBytes` together, or one
 * non-log report. A single log line larger than the cap is truncated (with a note) rather than refused by Port.
 */
export function nextDelivery(reports: readonly PendingReport[], start: number, maxBytes: number = defaultMaxLogBytes): Delivery | undefined {
  const first = reports[start];
  if (!first) return undefined;
  if (first.call.kind !== "log") return { kind: "single", reports: [first] };

  const group: PendingReport[] = [first];
  const parts: string[] = [truncateToBytes(first.call.message, maxBytes)];
  const levels: RunLogLevel[] = [first.call.level ?? "INFO"];
  let usedBytes = jsonBytes(parts[0] ?? "");
  for (let i = start + 1; i < reports.length; i++) {
    const next = reports[i];
    if (next?.call.kind !== "log") break;
    // Its escaped text plus the joining "\n" (2 bytes once escaped) = its JSON size with quotes.
    const addBytes = jsonBytes(next.call.message);
    if (usedBytes + addBytes > maxBytes) break;
    usedBytes += addBytes;
    group.push(next);
    parts.push(next.call.message);
    levels.push(next.call.level ?? "INFO");
  }
  return { kind: "log", reports: group, message: parts.join("\n"), lines: parts.map((message, i) => ({ message, level: levels[i] ?? "INFO" })) };
}

/** Cuts `message` so its JSON encoding fits in `maxBytes`, saying how much was cut. */
export function truncateToBytes(message: string, maxBytes: number): string {
  if (jsonBytes(message) <= maxBytes) return message;
  const note = (cut: number) => `\n… [portside truncated ${cut} characters to stay under Port's request size limit]`;
  let keep = Math.floor((message.length * maxBytes) / jsonBytes(message));
  for (;;) {
    const candidate = message.slice(0, keep) + note(message.length - keep);
    if (jsonBytes(candidate) <= maxBytes || keep === 0) return candidate;
    keep = Math.max(0, Math.floor(keep * 0.9) - 16);
  }
}
