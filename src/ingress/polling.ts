import type { PollingSettings } from "../config.ts";
import type { WorkKind } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import { parseRecord, type SinkRecord } from "../messages/body.ts";
import { type PolledKind, polledRecord } from "../messages/polled.ts";
import type { IngressStatus } from "../observe/status.ts";
import type { AcceptSummary } from "../pipeline/accept.ts";
import type { IngestOptions } from "../pipeline/ingest.ts";
import type { Claimed, PolledNodeRun, PolledRun, PollingClient } from "../port/polling.ts";
import { describeError } from "../shared/errors.ts";
import { backoffMs, type RetryPolicy, retryPolicies } from "../shared/retry.ts";

/**
 * Runs without Kafka: Port's API is polled for the runs waiting for the organisation's execution agent, as
 * Port's agent polls it (claim-pending, then ack), a thin adapter over `service.ingest`:
 *
 *   claim → ingest (committed to the ledger: accepted, a duplicate, or parked) → acknowledge → claim again
 *
 * A claimed run is acknowledged only once the ledger holds it, so a crash in between loses nothing: Port
 * offers the run again when its claim lapses, and a run offered again after it was committed is a
 * duplicate, never run twice. (Port's agent acknowledges first; a crash then loses the run.)
 *
 * A claim that came back full is followed at once; otherwise the next waits `intervalMs`. A failing claim
 * (Port away, the ledger away) waits a backoff that grows with each failure (`retryPolicies.polling`, with
 * jitter); failing for longer than `maxFailureMs` makes `live()` false (/healthz 503), as Port's agent
 * stops then. Claims and acks are ordinary calls to Port: they take their turn after statuses in the
 * organisation's one rate budget.
 */
export interface PollingDeps {
  port: PollingClient;
  ingest(kind: WorkKind, records: Iterable<SinkRecord>, source: string, options: IngestOptions): Promise<AcceptSummary>;
  orgId: string;
  settings: PollingSettings;
  logger: Logger;
  retry?: RetryPolicy;
  clock?: () => number;
}

export interface PollingIngress extends IngressStatus {
  start(): void;
  /** Stops after the claim under way (its runs are recorded and acknowledged, or offered again later). */
  stop(): Promise<void>;
  state(): PollingState;
}

export interface PollingState {
  status: "starting" | "polling" | "failing" | "stopped";
  /** Runs (and node runs) claimed, recorded and acknowledged since start. */
  claimed: number;
  acknowledged: number;
  /** Consecutive failed polls. */
  failures: number;
}

/** The way in's name in the ledger's `source` and the metrics. */
export const POLLING_SOURCE = "polling";

export function createPollingIngress(deps: PollingDeps): PollingIngress {
  const { settings, logger } = deps;
  const clock = deps.clock ?? Date.now;
  const retry = deps.retry ?? retryPolicies.polling;
  const state: PollingState = { status: "starting", claimed: 0, acknowledged: 0, failures: 0 };
  let failingSince: number | null = null;
  let stopping = false;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;

  /** Records a claim's runs and acknowledges those the ledger now holds; resolves with how many were claimed. */
  async function take<T extends PolledRun | PolledNodeRun>(
    kind: PolledKind,
    claimed: Claimed<T>,
    idOf: (run: T) => string,
    ack: (ids: string[]) => Promise<void>,
  ): Promise<number> {
    const runs = claimed.runs;
    const total = runs.length + claimed.unreadable.length;
    if (total === 0) return 0;
    // An item that is no run portside can read is recorded too: the ledger parks it, with its bytes.
    const records = [...claimed.unreadable.map((u) => polledRecord(kind, deps.orgId, u.raw)), ...runs.map((run) => polledRecord(kind, deps.orgId, run))];
    await deps.ingest("run", records.map(parseRecord), POLLING_SOURCE, { ackOnCommit: true });
    // Committed (accepted, duplicate or parked): Port may forget the claim now. An item parked under the id
    // it names is acknowledged too (its record tells Port it failed): else Port would offer it after every lease.
    const ids = [...runs.map(idOf), ...claimed.unreadable.flatMap((u) => (u.id === null ? [] : [u.id]))];
    if (ids.length > 0) await ack(ids);
    state.claimed += total;
    state.acknowledged += ids.length;
    return total;
  }

  async function pollOnce(): Promise<boolean> {
    const runs = await deps.port.claimRuns({ limit: settings.batch });
    const full =
      (await take(
        "run",
        runs,
        (run) => run.id,
        async (ids) => void (await deps.port.ackRuns(ids)),
      )) >= settings.batch;
    if (!settings.nodeRuns) return full;
    const nodes = await deps.port.claimNodeRuns({ limit: settings.batch });
    const nodesFull =
      (await take(
        "nodeRun",
        nodes,
        (node) => node.identifier,
        async (ids) => {
          for (const id of ids) await deps.port.ackNodeRun(id);
        },
      )) >= settings.batch;
    return full || nodesFull;
  }

  async function run(): Promise<void> {
    while (!stopping) {
      let waitMs: number;
      try {
        const full = await pollOnce();
        if (state.failures > 0) logger.info("polling.recovered", { failures: state.failures });
        state.status = "polling";
        state.failures = 0;
        failingSince = null;
        waitMs = full ? 0 : settings.intervalMs;
      } catch (error) {
        state.failures++;
        state.status = "failing";
        failingSince ??= clock();
        waitMs = Math.max(retry.initialMs, backoffMs(retry, state.failures));
        logger.warn("polling.failed", { failures: state.failures, retryInMs: waitMs, error: describeError(error) });
        if (!live()) logger.error("polling.gave_up", { failingForMs: clock() - (failingSince ?? clock()), note: "/healthz answers 503 until a poll succeeds" });
      }
      if (waitMs > 0 && !stopping)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      wake = null;
    }
    state.status = "stopped";
  }

  const live = () => failingSince === null || clock() - failingSince < settings.maxFailureMs;

  return {
    start() {
      if (loop) return;
      logger.info("polling.started", { intervalMs: settings.intervalMs, batch: settings.batch, nodeRuns: settings.nodeRuns });
      loop = run();
    },
    async stop() {
      stopping = true;
      wake?.();
      await loop;
    },
    ready: () => state.status === "polling",
    live,
    state: () => ({ ...state }),
    lag: () => [],
  };
}
