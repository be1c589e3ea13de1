/**
 * Reading an answer from another service (Port, a forwarded webhook's receiver, EventBridge) without
 * trusting its size: up to a cap, the rest cancelled unread, and raced against the call's own timeout.
 */

/**
 * The most of another service's own words kept (Port's or AWS's error message, the text of an answer that
 * is not JSON): they go into errors, dead letters' reasons and the log.
 */
export const REMOTE_MESSAGE_MAX = 500;

const utf8 = new TextDecoder();

/**
 * The answer declares a length within `max` and is not encoded: fetch frames the body by that length, so no
 * more can arrive. An encoded answer's length is of its compressed bytes, so it is read chunk by chunk.
 */
function fitsAsDeclared(headers: Headers, max: number): boolean {
  const length = headers.get("content-length");
  if (length === null || !/^\d{1,15}$/.test(length) || Number(length) > max) return false;
  const encoding = headers.get("content-encoding");
  return encoding === null || encoding.trim().toLowerCase() === "identity";
}

/**
 * The answer's text, up to `max` bytes. An answer that says its length and fits is read whole (the usual
 * case, and the cheapest); any other is read chunk by chunk, and past `max` the rest is cancelled unread
 * (the connection is not drained) and the answer marked cut.
 */
export async function readCapped(res: Response, max: number): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: "", truncated: false };
  if (fitsAsDeclared(res.headers, max)) return { text: await res.text(), truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > max) {
      chunks.push(value.subarray(0, max - size));
      size = max;
      truncated = true;
      void reader.cancel().catch(() => undefined);
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  // A cut in the middle of a character leaves a replacement character at the end, nothing worse.
  return { text: utf8.decode(bytes), truncated };
}

/** The answer as JSON, or its text when it is not JSON (undefined when empty). */
export function parseBody(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `work`, or the signal's reason once it aborts (for a fetch that may not honour its signal). */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
