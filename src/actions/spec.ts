import type * as v from "valibot";
import type { RunOperation } from "../messages/views.ts";

/**
 * What portside knows of one of Port's actions, as `actions pull` writes it into the team's generated module
 * (`src/port-actions.ts`): how it is invoked, and a valibot schema of its user inputs — the inputs' type is
 * inferred from it, and a run's inputs are checked against it before its handler starts.
 */
export interface ActionSpec {
  title?: string;
  /** CREATE, DAY-2 or DELETE; null when Port does not say. */
  operation: RunOperation | null;
  /** The blueprint the action belongs to, when it has one. */
  blueprint: string | null;
  /** How Port hands the run over: on the Kafka topic, or by webhook (to portside, or to the agent it replaces). */
  invocation: "KAFKA" | "WEBHOOK";
  /**
   * The user inputs, as Port defines them. Null when the action's invocation template does not pass the
   * inputs through as they are: a run's inputs are then whatever the template sends, and are not checked.
   */
  inputs: InputsSchema | null;
}

/** A schema of an action's inputs: an object of them. */
export type InputsSchema = v.GenericSchema<unknown, Record<string, unknown>>;

/** The generated module's `actions`: by action identifier. */
export type ActionSpecs = Readonly<Record<string, ActionSpec>>;

/** The inputs a handler of action `S` sees: the schema's output, or an untyped record when there is none. */
export type InputsOf<S extends ActionSpec> = S["inputs"] extends v.GenericSchema<unknown, infer O> ? O : Record<string, unknown>;

/** Identity that keeps every action's literal types (the generated module calls it). */
export function defineActions<const A extends ActionSpecs>(actions: A): A {
  return actions;
}
