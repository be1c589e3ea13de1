/**
 * `portside/actions`: what a team's generated module (`actions pull`) imports — `defineActions`, the input
 * kinds of Port valibot has no word for, and the types a typed handler module is made of.
 */
export { defineActions, type ActionSpec, type ActionSpecs, type InputsOf, type InputsSchema } from "./spec.ts";
export { portInputs, type EntityRef } from "./inputs.ts";
export { Secret } from "../shared/secret.ts";
