import type { Redactor } from "../messages/redact.ts";
import { stackFrames } from "../shared/errors.ts";
import { truncate } from "../shared/text.ts";

/**
 * The stack of an error a run's handler threw, for the people who run portside: its frames (where in the
 * handler module and what it called the error came from), each `at …` line as the runtime wrote it, with
 * the run's secret inputs redacted. The message line is left out (the reason already carries it, redacted
 * the same way), and so are the frames below the handler: portside's own, which called it.
 *
 * It goes to portside's log line for the failed run and to the run's story (the ledger keeps it with how
 * the run ended); never to Port, which gets the message only. Everything else logs errors as their name
 * and message (log.ts): a stack is code locations, which is why this one is kept.
 */

/** Frames kept, and characters, at most. */
export const STACK_MAX_FRAMES = 30;
export const STACK_MAX_CHARS = 4_000;

/** Where portside calls a handler: frames from these files down are portside's, not the handler's. */
const CALLERS = ["work.ts", "timeout.ts", "executor.ts"].map((file) => new URL(`./${file}`, import.meta.url).pathname);

/** The working directory with its trailing slash, as file paths in frames start with it (none where unknown). */
const CWD = (() => {
  try {
    const cwd = globalThis.process?.cwd?.();
    return cwd ? `${cwd.replace(/\/+$/, "")}/` : null;
  } catch {
    return null;
  }
})();

/**
 * The frames of what a handler threw, redacted; null when it threw something without a stack. Paths under
 * the working directory are given relative to it (`at deploy (handlers.ts:12:5)`), as the handler module's
 * path is in the start-up line.
 */
export function handlerStack(error: unknown, redact: Redactor, cwd: string | null = CWD): string | null {
  const frames: string[] = [];
  for (const raw of stackFrames(error)) {
    const frame = cwd ? raw.replaceAll(`(${cwd}`, "(").replaceAll(`at ${cwd}`, "at ") : raw;
    if (CALLERS.some((caller) => raw.includes(caller))) break;
    frames.push(frame);
    if (frames.length === STACK_MAX_FRAMES) break;
  }
  if (frames.length === 0) return null;
  return truncate(redact.text(frames.join("\n")), STACK_MAX_CHARS);
}
