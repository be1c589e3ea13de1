import { describe, expect, test } from "bun:test";
import { createCipheriv, randomBytes } from "node:crypto";
import { decryptSecretInputs } from "./secrets.ts";

/** A made-up client secret (44 characters; the key is its first 32 bytes). */
const SECRET = "Zk8xqW2vN5tR7yB1cD4eF6gH9jK3mL0pQwErTyUiOpAs";

/** Port's documented scheme, with node:crypto: base64(IV 16 ‖ AES-256-GCM ciphertext ‖ tag 16). */
function encrypt(plain: string, secret = SECRET, iv = randomBytes(16)): string {
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(secret, "utf8").subarray(0, 32), iv);
  const ciphertext = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString("base64");
}

const run = (inputs: Record<string, unknown>, secretInputs: string[], raw: unknown = {}) => ({ inputs, secretInputs, raw });
/** The inputs of a result that succeeded (its redactor is looked at on its own). */
const inputsOf = (result: Awaited<ReturnType<typeof decryptSecretInputs>>) => (result.ok ? { ok: true, inputs: result.inputs } : result);

describe("decryptSecretInputs", () => {
  test("decrypts the inputs the run names as secret; the others are untouched", async () => {
    const result = await decryptSecretInputs(run({ password: encrypt("hunter2-ünïcode"), region: "eu-west-1" }, ["password"]), SECRET);
    expect(inputsOf(result)).toEqual({ ok: true, inputs: { password: "hunter2-ünïcode", region: "eu-west-1" } });
    // With a redactor for the clear value, and for it only.
    expect(result.ok && result.redact.text("hunter2-ünïcode in eu-west-1")).toBe("[secret input password] in eu-west-1");
  });

  test("a vector made the way Port's agent decrypts (Python: cryptography AESGCM to encrypt, PyCryptodome GCM with a 16-byte nonce to check)", async () => {
    // python3: key = SECRET.encode()[:32]; iv = bytes(range(16)); base64(iv + AESGCM(key).encrypt(iv, b"s3cr3t-db-password", None))
    const vector = "AAECAwQFBgcICQoLDA0OD5q+feWoLUyUQTrwKqHTgkJMkqVIW1gXcn4zyYG3yAjQeoY=";
    expect(inputsOf(await decryptSecretInputs(run({ db: vector }, ["db"]), SECRET))).toEqual({ ok: true, inputs: { db: "s3cr3t-db-password" } });
  });

  test("an object-type input (by the action definition in the message) is parsed from its JSON", async () => {
    const raw = { payload: { action: { userInputs: { properties: { creds: { type: "object", encryption: "aes256-gcm" } } } } } };
    const value = "EBESExQVFhcYGRobHB0eH+pUphAPRoKIsvZEo86xhxwVxhv5OYs29zkK5yNyZ/5WIktKp6wr3LJGMZlN";
    expect(inputsOf(await decryptSecretInputs(run({ creds: value }, ["creds"], raw), SECRET))).toEqual({
      ok: true,
      inputs: { creds: { user: "svc", token: "abc" } },
    });
  });

  test("a value that does not decrypt is refused naming the input, never showing the value", async () => {
    const wrongKey = encrypt("top-secret-value", "another-organisations-secret-0123456789");
    for (const value of [wrongKey, "not base64 at all!", "c2hvcnQ=", `${encrypt("top-secret-value").slice(0, -4)}AAA=`]) {
      const result = await decryptSecretInputs(run({ token: value }, ["token"]), SECRET);
      expect(result).toEqual({
        ok: false,
        reason: 'secret input "token" could not be decrypted: it is not AES-256-GCM ciphertext made with this organisation\'s client secret',
      });
      expect(JSON.stringify(result)).not.toContain(value);
    }
  });

  test("without a client secret of at least 32 bytes nothing can be decrypted, and the refusal says why", async () => {
    const result = await decryptSecretInputs(run({ token: encrypt("x") }, ["token"]), "short-secret");
    expect(result).toMatchObject({ ok: false, reason: expect.stringContaining("PORT_CLIENT_SECRET") });
    // No secret inputs, or none with a value: nothing to do, whatever the secret.
    expect(inputsOf(await decryptSecretInputs(run({ a: 1 }, ["missing"]), null))).toEqual({ ok: true, inputs: { a: 1 } });
  });

  test("a secret input whose value is not text (an object, an array, a number) is refused, naming the input and what it is, never the value", async () => {
    const cases: Array<[unknown, string]> = [
      [{ password: "p4ss-w0rd" }, "an object"],
      [["p4ss-w0rd"], "an array"],
      [482913, "a number"],
      [true, "a boolean"],
    ];
    for (const [value, kind] of cases) {
      const result = await decryptSecretInputs(run({ token: value, other: encrypt("x") }, ["other", "token"]), SECRET);
      expect(result).toEqual({
        ok: false,
        reason: `secret input "token" is ${kind}, not the encrypted text Port sends for a secret input (base64 of AES-256-GCM ciphertext), so portside did not run this; check that the payload template passes the input unchanged`,
      });
      expect(JSON.stringify(result)).not.toMatch(/p4ss|482913/);
    }
    // Left empty (absent or null): nothing to decrypt, nothing refused.
    expect(inputsOf(await decryptSecretInputs(run({ token: null }, ["token"]), SECRET))).toEqual({ ok: true, inputs: { token: null } });
  });
});
