import { toBase64 } from "../shared/base64.ts";

/**
 * A secret input's value encrypted as Port encrypts it (src/messages/secrets.ts decrypts it): AES-256-GCM
 * with the first 32 bytes of the organisation's client secret as the key, base64 of IV (16 bytes) ‖
 * ciphertext ‖ tag (16 bytes). WebCrypto only, so it runs on Bun and Deno.
 */
export async function encryptAsPort(clear: string, clientSecret: string): Promise<string> {
  const keyBytes = new TextEncoder().encode(clientSecret);
  if (keyBytes.length < 32) throw new Error("the client secret must be at least 32 bytes to encrypt secret inputs");
  const key = await crypto.subtle.importKey("raw", keyBytes.subarray(0, 32), "AES-GCM", false, ["encrypt"]);
  const iv = crypto.getRandomValues(new Uint8Array(16));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, tagLength: 128 }, key, new TextEncoder().encode(clear)));
  const out = new Uint8Array(iv.length + sealed.length);
  out.set(iv);
  out.set(sealed, iv.length);
  return toBase64(out);
}
