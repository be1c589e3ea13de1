/**
 * Reading the organisation's action definitions (`actions pull`, `actions check`):
 *
 *   GET /v1/actions?version=v2[&action_identifier=…]   → {ok, actions: [...]}
 *
 * `version=v2` asks for Port's current shape (trigger, userInputs, invocationMethod); without it Port answers
 * an older one. Each definition is read by its schema (src/actions/definition.ts); the first that is not one
 * is refused naming the action and the field.
 */
import * as v from "valibot";
import { ActionsAnswerSchema, type ActionDefinition, parseDefinitions } from "../actions/definition.ts";
import { formatIssues } from "../messages/issues.ts";
import type { ExchangeRequest } from "./http.ts";

/** The client's request function (its token, limiter and retries), as the definition methods use it. */
export type DefinitionsRequest = (kind: "listActions", req: ExchangeRequest) => Promise<unknown>;

/** The most of an answer of definitions read: an organisation's actions with large forms fit many times over. */
export const DEFINITIONS_REPLY_MAX_BYTES = 16 * 1024 * 1024;

export interface DefinitionsClient {
  /** Every action and automation's definition, or only those `identifiers` names (Port leaves out the unknown ones). */
  actionDefinitions(identifiers?: readonly string[]): Promise<ActionDefinition[]>;
}

export function definitionMethods(request: DefinitionsRequest): DefinitionsClient {
  return {
    async actionDefinitions(identifiers) {
      const query = new URLSearchParams({ version: "v2" });
      for (const identifier of identifiers ?? []) query.append("action_identifier", identifier);
      const body = await request("listActions", { method: "GET", path: `/v1/actions?${query}`, maxReplyBytes: DEFINITIONS_REPLY_MAX_BYTES });
      const answer = v.safeParse(ActionsAnswerSchema, body ?? {});
      if (!answer.success) throw new Error(`Port's answer to GET /v1/actions has no list of actions (${formatIssues(answer.issues)}); check PORT_API_URL`);
      const parsed = parseDefinitions(answer.output.actions);
      if (!parsed.ok) throw new Error(`Port's action definitions are not what portside reads: ${parsed.reason}`);
      return parsed.definitions;
    },
  };
}
