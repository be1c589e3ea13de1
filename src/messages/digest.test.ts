import { expect, test } from "bun:test";
import { sha256Hex } from "./digest.ts";

/** WebCrypto's digest of the UTF-8 bytes, as dedupe keys were made before: keys in existing ledgers still match. */
async function webCrypto(text: string): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(hash, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

test("hex SHA-256 of the text's UTF-8: the standard value, and the same key WebCrypto gave for any text, lone surrogates included", async () => {
  expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  for (const text of ["", '{"action":"UPDATE","resourceType":"entity"}', "déjà vu — 日本語 🚀", "half a pair \ud800 here", "\udc00"]) {
    expect(sha256Hex(text)).toBe(await webCrypto(text));
  }
});
