import * as v from "valibot";
import { Secret } from "../shared/secret.ts";

/**
 * The input kinds of Port's action definitions that valibot has no word for, as the generated module
 * (`actions pull`) writes them: `portInputs.secret(v.string())` and so on. Imported by the team's generated
 * module as `portside/actions`.
 */

/**
 * An input Port encrypts (`encryption: "aes256-gcm"`): decrypted by portside just before the handler starts,
 * then held in a `Secret` — `String(x)`, `JSON.stringify` and logs show `[redacted]`; `x.reveal()` is the value.
 */
function secret<const S extends v.GenericSchema>(schema: S) {
  return v.pipe(
    schema,
    v.transform((value: v.InferOutput<S>) => new Secret(value)),
  );
}

export const portInputs = { secret };
