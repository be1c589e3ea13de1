/**
 * Secret inputs. Port encrypts the values of inputs marked secret (`"encryption": "aes256-gcm"`) with
 * AES-256-GCM: the key is the first 32 bytes of the organisation's client secret (UTF-8), and a value is
 * base64 of IV (16 bytes) ‖ ciphertext ‖ tag (16 bytes). Runs name their secret inputs (legacy
 * `payload.censoredProperties`, portside's template `secretInputs` from `.action.encryptedProperties`).
 *
 * Values are decrypted in memory just before the handler runs: the ledger, dead letters and logs keep the
 * encrypted form, and a refusal names the input, never the value. An input of type `object` decrypts to
 * JSON text; it is parsed when the action definition in the message says the input is an object.
 */
import { fromBase64 } from "../shared/base64.ts";
import { getAtPath, isPlainObject } from "./json.ts";
import type { Run } from "./views.ts";

export type SecretsResult = { ok: true; inputs: Record<string, unknown> } | { ok: false; reason: string };

const IV_BYTES = 16;
const TAG_BYTES = 16;
const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The run's inputs with its secret ones decrypted; unchanged when it has none. */
export async function decryptSecretInputs(run: Pick<Run, "inputs" | "secretInputs" | "raw">, clientSecret: string | null): Promise<SecretsResult> {
  const names = run.secretInputs.filter((name) => typeof run.inputs[name] === "string");
  if (names.length === 0) return { ok: true, inputs: run.inputs };
  const keyBytes = clientSecret === null ? new Uint8Array(0) : encoder.encode(clientSecret);
  if (keyBytes.length < 32) {
    return {
      ok: false,
      reason: `secret input "${names[0]}" cannot be decrypted: portside needs the Port client secret (at least 32 bytes; PORT_CLIENT_SECRET) to decrypt secret inputs`,
    };
  }
  const key = await crypto.subtle.importKey("raw", keyBytes.subarray(0, 32), "AES-GCM", false, ["decrypt"]);
  const inputs = { ...run.inputs };
  for (const name of names) {
    const clear = await decryptValue(key, inputs[name] as string);
    if (clear === undefined) {
      return {
        ok: false,
        reason: `secret input "${name}" could not be decrypted: it is not AES-256-GCM ciphertext made with this organisation's client secret`,
      };
    }
    inputs[name] = isObjectInput(run.raw, name) ? parseJson(clear) : clear;
  }
  return { ok: true, inputs };
}

async function decryptValue(key: CryptoKey, value: string): Promise<string | undefined> {
  const bytes = fromBase64(value);
  if (!bytes || bytes.length < IV_BYTES + TAG_BYTES) return undefined;
  try {
    // WebCrypto takes the tag appended to the ciphertext, which is how Port lays it out after the IV.
    const clear = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.subarray(0, IV_BYTES), tagLength: TAG_BYTES * 8 }, key, bytes.subarray(IV_BYTES));
    return strictUtf8.decode(clear);
  } catch {
    return undefined;
  }
}

/** Whether the action definition in a legacy message declares the input as an object. */
function isObjectInput(raw: unknown, name: string): boolean {
  const properties = getAtPath(raw, "payload.action.userInputs.properties");
  if (!isPlainObject(properties) || !Object.hasOwn(properties, name)) return false;
  const definition = properties[name];
  return isPlainObject(definition) && definition.type === "object";
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
