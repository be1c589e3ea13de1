/**
 * Secret inputs. Port encrypts the values of inputs marked secret (`"encryption": "aes256-gcm"`) with
 * AES-256-GCM: the key is the first 32 bytes of the organisation's client secret (UTF-8), and a value is
 * base64 of IV (16 bytes) ‖ ciphertext ‖ tag (16 bytes). Runs name their secret inputs (legacy
 * `payload.censoredProperties`, portside's template `secretInputs` from `.action.encryptedProperties`).
 *
 * Values are decrypted in memory just before the handler runs: the ledger, dead letters and logs keep the
 * encrypted form, and a refusal names the input, never the value. An input of type `object` decrypts to
 * JSON text; it is parsed when the action definition in the message says the input is an object. A secret
 * input whose value is not text (an object, an array, a number) is not what Port sends, and is refused. With
 * the clear values comes their redactor (redact.ts), so nothing the handler sends on carries them.
 */
import { fromBase64 } from "../shared/base64.ts";
import { getAtPath, isPlainObject } from "./json.ts";
import { createRedactor, noRedaction, type Redactor } from "./redact.ts";
import type { Run } from "./views.ts";

export type SecretsResult = { ok: true; inputs: Record<string, unknown>; redact: Redactor } | { ok: false; reason: string };

const IV_BYTES = 16;
const TAG_BYTES = 16;
const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The run's inputs with its secret ones decrypted; unchanged when it has none. */
export async function decryptSecretInputs(run: Pick<Run, "inputs" | "secretInputs" | "raw">, clientSecret: string | null): Promise<SecretsResult> {
  // Absent (or null): the user left an optional secret input empty.
  const names = run.secretInputs.filter((name) => run.inputs[name] !== undefined && run.inputs[name] !== null);
  const notText = names.find((name) => typeof run.inputs[name] !== "string");
  if (notText !== undefined) {
    return {
      ok: false,
      reason: `secret input "${notText}" is ${kindOf(run.inputs[notText])}, not the encrypted text Port sends for a secret input (base64 of AES-256-GCM ciphertext), so portside did not run this; check that the payload template passes the input unchanged`,
    };
  }
  if (names.length === 0) return notDecrypted(run);
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
  return { ok: true, inputs, redact: createRedactor(Object.fromEntries(names.map((name) => [name, inputs[name]]))) };
}

/** The run's inputs as they arrived, for work that never needs them in clear (a run for EventBridge). */
export const notDecrypted = (run: Pick<Run, "inputs">): SecretsResult => ({ ok: true, inputs: run.inputs, redact: noRedaction });

const kindOf = (value: unknown): string =>
  Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : typeof value === "number" ? "a number" : `a ${typeof value}`;

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
