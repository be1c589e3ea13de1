/**
 * The Port EMULATOR's WEBHOOK invocations (tests and the local demo only — this is not Port): when a run of
 * a declared WEBHOOK action without `agent` is created, the emulator sends its rendered body to the
 * action's URL, signed with the organisation's client secret as Port signs it (`x-port-timestamp`,
 * `x-port-signature`).
 *
 * Port documents that a `synchronized` action takes its result from the answer; it does not document the
 * mapping, so the emulator follows the one Port's own execution agent applies to the same setting: a 2xx
 * is SUCCESS and its body the run's `response`, anything else (or no answer) FAILURE with the status in
 * the summary. Without `synchronized` the receiver reports through the API; the answer is only recorded.
 * Port documents no retries of a webhook, so the emulator sends once; `deliverAgain` resends, as a test
 * of a network duplicating a request would.
 */
import { signWebhook } from "../messages/signature.ts";
import type { EmulatedRun, PortEmulatorState } from "./port-emulator-state.ts";

export interface WebhookDeliveryDeps {
  state: PortEmulatorState;
  clock: () => number;
  /** The organisation's client secret: what Port signs with. */
  secret: string;
  /** How long a synchronized call may take before it counts as failed. */
  timeoutMs?: number;
}

/** Port's agent waits 30 s for a synchronized call; the emulator does the same. */
const SYNC_TIMEOUT_MS = 30_000;

/** Sends the run's webhook once and records what came back; resolves when it has. */
export async function deliverWebhook(deps: WebhookDeliveryDeps, run: EmulatedRun): Promise<void> {
  const invocation = run.payload;
  if (invocation?.type !== "WEBHOOK" || invocation.agent || typeof invocation.url !== "string") return;
  const body = JSON.stringify(invocation.body ?? {});
  const headers: Record<string, string> = { "content-type": "application/json" };
  for (const [name, value] of Object.entries(invocation.headers ?? {})) headers[name] = typeof value === "string" ? value : JSON.stringify(value);
  Object.assign(headers, await signWebhook(body, deps.secret, deps.clock()));
  const attempt: NonNullable<EmulatedRun["webhookAttempts"]>[number] = { atMs: deps.clock(), status: null };
  run.webhookAttempts = [...(run.webhookAttempts ?? []), attempt];
  let answer: { status: number; text: string } | null = null;
  try {
    const res = await fetch(invocation.url, {
      method: invocation.method ?? "POST",
      headers,
      ...(invocation.method === "GET" ? {} : { body }),
      signal: AbortSignal.timeout(deps.timeoutMs ?? SYNC_TIMEOUT_MS),
    });
    answer = { status: res.status, text: await res.text() };
    attempt.status = res.status;
  } catch (err) {
    attempt.error = err instanceof Error ? err.name : "error";
  }
  if (!invocation.synchronized || run.status !== "IN_PROGRESS") return;
  const nowMs = deps.clock();
  const ok = answer !== null && answer.status >= 200 && answer.status < 300;
  Object.assign(run, {
    status: ok ? "SUCCESS" : "FAILURE",
    updatedAtMs: nowMs,
    endedAtMs: nowMs,
    ...(answer ? { response: parsed(answer.text) } : {}),
    ...(ok ? {} : { summary: answer ? `Failed to invoke the webhook with status code: ${answer.status}` : "Failed to invoke the webhook: no answer" }),
  });
}

/** Sends a run's webhook again (a duplicated request), as a test asks. */
export function deliverAgain(deps: WebhookDeliveryDeps, runId: string): Promise<void> {
  const run = deps.state.findRun(runId);
  if (!run) throw new Error(`Port emulator: no run ${runId}`);
  return deliverWebhook(deps, run);
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
