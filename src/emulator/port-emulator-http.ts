/**
 * What the emulator's route modules share: the Hono environment (the parsed body and the run a call names,
 * set by the recording middleware) and Port's error answer `{ ok: false, error, message }`.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export type Env = { Variables: { body: unknown; runId: string | undefined } };

/** A refusal as Port words it, before it becomes a response (bulk writes report them per entity). */
export interface Refusal {
  status: ContentfulStatusCode;
  error: string;
  message: string;
}

export const refuse = (c: Context<Env>, status: ContentfulStatusCode, error: string, message: string): Response =>
  c.json({ ok: false, error, message }, status);

export const answerRefusal = (c: Context<Env>, refusal: Refusal): Response => refuse(c, refusal.status, refusal.error, refusal.message);

export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
