/**
 * Forwards a run over HTTP as Port's execution agent does (port-agent.md §6), as an `ExternalTargetRunner`:
 * the agent's message rebuilt from the run (`agent-message.ts`), the request from the first enabled mapping
 * (or the run's own invocation), one call with retries (`forward.ts`), and the agent's report:
 *
 *   action run, 2xx, synchronized  → SUCCESS, the answer stored as the run's `response`
 *   action run, 2xx, not synchronized → DEFERRED (the receiver reports the status)
 *   action run, any other answer   → FAILURE "Failed to invoke the webhook with status code: N. Response: <excerpt>"
 *                                    (also when not synchronized, as the agent does)
 *   no answer (every try)          → FAILURE saying so
 *   the mapping's `report`         → overrides each field it sets (null removes it); without a status left the
 *                                    run is DEFERRED and what is left is sent as a plain update
 *   workflow node run              → its own endpoints: COMPLETED with SUCCESS and `output: {response: {status,
 *                                    data}}` when synchronized, FAILED on any other answer, nothing when async
 *
 * Which runs come here is decided elsewhere. Reports the executor cannot carry (the stored response, a node
 * run's output) are queued through `report` (the ledger's outbox in the service). Nothing of the request or
 * the answer goes to portside's logs; the answer's excerpt goes to Port, as the agent's does.
 */
import type { Logger } from "../../log.ts";
import type { Change, Run } from "../../messages/views.ts";
import { type ReportInput, type RunPatch, RunResponseSchema } from "../../port/calls.ts";
import type { FetchFn } from "../../port/http.ts";
import { finalReports } from "../../port/run-kinds.ts";
import type { Random, RetryPolicy } from "../../shared/retry.ts";
import { truncate } from "../../shared/text.ts";
import type { Sleep } from "../../shared/time.ts";
import type { ExternalTarget, RunResult } from "../define.ts";
import { DEFERRED, type ExternalTargetRunner } from "../external.ts";
import { SUMMARY_MAX } from "../result.ts";
import * as v from "valibot";
import { type AgentMessage, agentMessageOf, messageFromTopic } from "./agent-message.ts";
import { type ForwardAnswer, IDEMPOTENCY_KEY_HEADER, forward } from "./forward.ts";
import type { JqEngine } from "./jq.ts";
import type { Mapping } from "./mapping.ts";
import { type BuiltRequest, createMappingEvaluator, type ReportOverrides } from "./mapping-eval.ts";
import { fetchFor } from "./tls.ts";

/** The target kind of a run forwarded as Port's agent forwards it. */
export const AGENT_WEBHOOK_KIND = "agentWebhook";

/** Most characters of the answer quoted in a FAILURE summary. */
export const ANSWER_EXCERPT_CHARS = 500;

export interface AgentWebhookTarget extends ExternalTarget {
  kind: typeof AGENT_WEBHOOK_KIND;
  /** Forwarding again after a crash is what the idempotency key is for. */
  rerunOnInterrupt: true;
}

export const agentWebhook = (): AgentWebhookTarget => ({ kind: AGENT_WEBHOOK_KIND, rerunOnInterrupt: true });

export interface AgentWebhookRunnerOptions {
  jq: JqEngine;
  /** The mapping file's mappings; none: every run goes by its own invocation (url, method, rendered body). */
  mappings: readonly Mapping[];
  /** What jq's `env` shows (see `pickJqEnv`); default nothing. */
  env?: Readonly<Record<string, string>>;
  /** Queues reports in the run's outbox, in order (the service: `ledger.appendReports(reports, clock())`). */
  report: (reports: ReportInput[]) => Promise<void>;
  logger: Logger;
  fetch?: FetchFn;
  /** Per call, ms (Port's agent: `WEBHOOK_INVOKER_TIMEOUT`, default 30 s). */
  timeoutMs?: number;
  /** Port's agent: `WEBHOOK_VERIFY_SSL`, default true (see tls.ts for how each runtime turns it off). */
  verifyTls?: boolean;
  retry?: RetryPolicy;
  maxAnswerBytes?: number;
  sleep?: Sleep;
  random?: Random;
}

const REPORT_STATUSES = new Set(["SUCCESS", "FAILURE"]);

/** The report with the mapping's overrides applied (null removes a field; values Port would refuse are dropped). */
function applyOverrides(patch: RunPatch, overrides: ReportOverrides, warn: (field: string) => void): RunPatch {
  const out: RunPatch = { ...patch };
  for (const [key, value] of Object.entries(overrides) as [keyof ReportOverrides, unknown][]) {
    if (value === null || value === undefined) {
      delete out[key];
    } else if (key === "status") {
      if (REPORT_STATUSES.has(value as string)) out.status = value as RunPatch["status"];
      else warn(key);
    } else if (key === "link") {
      if (typeof value === "string" || (Array.isArray(value) && value.every((l) => typeof l === "string"))) out.link = value as string | string[];
      else warn(key);
    } else out[key] = truncate(typeof value === "string" ? value : JSON.stringify(value), SUMMARY_MAX);
  }
  return out;
}

export function createAgentWebhookRunner(opts: AgentWebhookRunnerOptions): ExternalTargetRunner {
  const evaluator = createMappingEvaluator({ jq: opts.jq, mappings: opts.mappings, env: opts.env ?? {} });
  const fetch = fetchFor(opts.verifyTls ?? true, opts.fetch);
  const call = (built: BuiltRequest, runId: string) =>
    forward(built.request, runId, {
      fetch,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.retry ? { retry: opts.retry } : {}),
      ...(opts.maxAnswerBytes !== undefined ? { maxAnswerBytes: opts.maxAnswerBytes } : {}),
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    });

  /** An action run's result goes back to the executor; a node run's reports are queued here (its output needs them). */
  async function finish(agent: AgentMessage, patch: RunPatch, output?: Record<string, unknown>): Promise<RunResult | typeof DEFERRED> {
    if (agent.kind === "action") {
      if (patch.status) return patch;
      if (Object.keys(patch).length > 0) await opts.report([{ runId: agent.runId, call: { kind: "update", patch } }]);
      return DEFERRED;
    }
    const reports = finalReports(agent.runId, patch).map((r) => (r.call.kind === "update" && output ? { ...r, call: { ...r.call, output } } : r));
    if (reports.length > 0) await opts.report(reports);
    return DEFERRED;
  }

  const answerValue = (answer: ForwardAnswer): unknown => answer.json ?? (answer.text.length > 0 ? answer.text : null);

  return {
    async run(_target: ExternalTarget, run: Run, log: (message: string) => Promise<void>): Promise<RunResult | typeof DEFERRED> {
      const logger = opts.logger.child({ runId: run.id, action: run.action });
      let agent: AgentMessage;
      let built: BuiltRequest;
      try {
        agent = agentMessageOf(run.raw, run.id);
      } catch (err) {
        return { status: "FAILURE", summary: truncate(`portside could not forward this run: ${(err as Error).message}`, SUMMARY_MAX) };
      }
      const say = async (line: string) => (agent.kind === "action" ? log(line) : opts.report([{ runId: agent.runId, call: { kind: "log", message: line } }]));
      try {
        built = await evaluator.request(agent);
      } catch (err) {
        logger.warn("webhook.not_forwarded", { reason: (err as Error).message });
        return finish(agent, { status: "FAILURE", summary: truncate(`portside could not build the webhook request: ${(err as Error).message}`, SUMMARY_MAX) });
      }
      if (built.problems.length > 0) logger.warn("webhook.mapping_problems", { mapping: built.mappingIndex + 1, problems: built.problems });
      await say("Sending the request");
      const outcome = await call(built, agent.runId);
      if (outcome.type === "unreachable") {
        logger.warn("webhook.unreachable", { cause: outcome.cause, attempts: outcome.attempts, reason: outcome.reason });
        return finish(agent, { status: "FAILURE", summary: `The webhook could not be reached: ${outcome.reason} (${outcome.attempts} attempts)` });
      }
      const { answer } = outcome;
      const ok = answer.status >= 200 && answer.status < 300;
      logger.info("webhook.answered", { status: answer.status, attempts: outcome.attempts, mapping: built.mappingIndex + 1 });
      await say(`${ok ? "Action invocation has completed successfully" : "Action invocation failed"} with status code: ${answer.status}`);
      const sync = agent.invocation.synchronized;
      if (agent.kind === "workflowNode") {
        if (!ok) return finish(agent, { status: "FAILURE" });
        return sync ? finish(agent, { status: "SUCCESS" }, { response: { status: answer.status, data: answerValue(answer) ?? {} } }) : DEFERRED;
      }
      const stored = v.safeParse(RunResponseSchema, answer.json ?? answer.text);
      if (sync && stored.success && answer.text.length > 0) await opts.report([{ runId: agent.runId, call: { kind: "response", response: stored.output } }]);
      let patch: RunPatch = ok
        ? sync
          ? { status: "SUCCESS" }
          : {}
        : {
            status: "FAILURE",
            summary: truncate(`Failed to invoke the webhook with status code: ${answer.status}. Response: ${answer.text}`, ANSWER_EXCERPT_CHARS),
          };
      if (built.mapping?.report) {
        const request = { ...built.request, headers: { ...built.request.headers, [IDEMPOTENCY_KEY_HEADER]: agent.runId } };
        const response = { statusCode: answer.status, headers: answer.headers, text: answer.text, json: answer.json };
        const report = await evaluator.report(built.mapping, { body: agent.message, request, response });
        if (report.problems.length > 0) logger.warn("webhook.mapping_problems", { mapping: built.mappingIndex + 1, problems: report.problems });
        patch = applyOverrides(patch, report.overrides, (field) => logger.warn("webhook.report_field_dropped", { field }));
      }
      return finish(agent, patch);
    },

    /** A change-log message with a destination URL: sent, nothing reported (the agent's §6.5); a failure throws so the executor parks it. */
    async change(_target: ExternalTarget, change: Change): Promise<void> {
      const raw = (change.raw ?? {}) as Record<string, unknown>;
      const built = await evaluator.request(messageFromTopic(raw, ""));
      const outcome = await call(built, change.digest);
      if (outcome.type === "unreachable") throw new Error(`the change-log webhook could not be reached: ${outcome.reason}`);
      if (outcome.answer.status >= 300) throw new Error(`the change-log webhook answered ${outcome.answer.status}`);
    },
  };
}
