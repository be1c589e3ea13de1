/**
 * Hex SHA-256 of a record's canonical text: the dedupe key of change-log records (they carry no id and
 * redeliveries are byte-identical). WebCrypto, so it runs on Bun, Deno and Node alike.
 */
const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

export async function sha256Hex(text: string): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  let hex = "";
  for (const byte of hash) hex += HEX[byte];
  return hex;
}
