import type { Context, Hono } from "hono";
import { createApp } from "./http/app.ts";
import type { Config } from "./config.ts";
import { type Ledger, runIdOfKey, type WorkKind } from "./ledger/ledger.ts";
import type { Logger } from "./log.ts";
import type { SinkRecord } from "./messages/index.ts";
import { createFeed, emitRunReports, type Feed } from "./observe/events.ts";
import { createMetrics, type Metrics } from "./observe/metrics.ts";
import { createRecentWarnings, type RecentWarnings } from "./observe/recent-warnings.ts";
import { createRunHistory, type RunHistory } from "./observe/run-history.ts";
import { createStatus, type IngressName, type IngressStatus, notStarted } from "./observe/status.ts";
import { type Acceptor, type AcceptSummary, createAcceptor } from "./pipeline/accept.ts";
import { createExecutor, type Executor } from "./pipeline/executor.ts";
import { createIngest, type IngestOptions, type IngestStats } from "./pipeline/ingest.ts";
import { createParsedRuns } from "./pipeline/parsed-runs.ts";
import { type ReplayResult, replayDeadLetter } from "./pipeline/replay.ts";
import { createPortClient, type PortClient } from "./port/client.ts";
import type { FetchFn } from "./port/http.ts";
import { createReporter, type Reporter } from "./port/reporter.ts";
import { createPortAuth, type PortAuth } from "./port/auth-check.ts";
import { createPortRateLimiter } from "./port/rate-limit.ts";
import type { RateStore } from "./port/rate-store.ts";
import type { SharedTokenStore } from "./port/token.ts";
import type { RetryPolicy } from "./shared/retry.ts";
import type { ExternalTargetRunner } from "./targets/external.ts";
import type { Registry } from "./targets/registry.ts";
import { settlesWithin } from "./shared/time.ts";
import { withExecutionAgent } from "./targets/agent-routes.ts";
import { createSyncAnswers } from "./pipeline/sync-answers.ts";

/**
 * One portside instance: ingest → ledger → executor → reporter → Port, and the HTTP app over it. It holds
 * no runtime specifics. Every way in is a thin adapter over `ingest` (the HTTP sink here; a Kafka consumer,
 * a Lambda invocation or a replay elsewhere); the entry points (`start.ts` for Bun and Deno) pass in a
 * ledger and serve `app`.
 */
export interface ServiceDeps {
  config: Config;
  ledger: Ledger;
  registry: Registry;
  logger: Logger;
  /** Port's base URL and credentials; the emulator's in local demo mode. */
  port: { baseUrl: string; clientId: string; clientSecret: string };
  fetch?: FetchFn;
  clock?: () => number;
  /** Unique per process; defaults to a random id. */
  owner?: string;
  targets?: Record<string, ExternalTargetRunner>;
  /** Tuning for tests: how often the executor looks for unannounced work and flushes logs. */
  executorPollMs?: number;
  leaseMs?: number;
  /** Backoff for Port calls: in-process retries of one call, and the outbox's schedule between attempts. */
  portRetry?: RetryPolicy;
  outboxRetry?: RetryPolicy;
  /** Backoff for writing a finished item while the ledger is away. */
  ledgerRetry?: RetryPolicy;
  /** Port token shared by the replicas (Redis), so the deployment fetches one token, not one per replica. */
  tokenStore?: SharedTokenStore;
  /** Port's rate budget shared by the replicas (Redis): one pause, one probe and one paced timeline for all. */
  rateStore?: RateStore;
  /** The event feed the caller's parts already emit into (EventBridge targets); by default the service makes its own. */
  feed?: Feed;
  /** The address a request came from, where the runtime says (the webhook's WEBHOOK_ALLOW needs it). */
  remoteAddress?: (c: Context) => string | undefined;
  /** The recent warnings and errors the logger taps (see createLogger's `tap`), for the console. */
  warnings?: RecentWarnings;
  /** Port is the local emulator (open mode without credentials): made-up runs can be sent (`portside trigger`, the console). */
  emulated?: boolean;
}

export interface Service {
  app: Hono;
  /**
   * The one call every way in makes: accepts the records into the ledger and wakes what follows. Resolves
   * when every record is durably recorded (acknowledge then); throws only when the ledger is unavailable.
   */
  ingest(kind: WorkKind, records: Iterable<SinkRecord>, source: string, options?: IngestOptions): Promise<AcceptSummary>;
  /** Replays a parked record through `ingest`. */
  replay(deadLetterId: string): Promise<ReplayResult>;
  /** Runs the executor and then the reporter until nothing is due. */
  runToIdle(): Promise<void>;
  /**
   * Runs the executor and the reporter until the work of `keys` is finished and the reports of their runs
   * are delivered (reports backing off are waited for), or until `deadlineAt` (epoch ms): a Lambda
   * invocation returns only once its own runs are reported to Port. Other work does not hold it up (a
   * handler that hangs delays only its own run), and the reports of every finished run go out meanwhile.
   * Says what of its own was left when the deadline came first.
   */
  settle(deadlineAt: number, keys: readonly string[]): Promise<SettleResult>;
  /** What was ingested since start, in all and per source. */
  stats(): IngestStats;
  /**
   * Makes a running ingress part of /readyz, /healthz, /admin/stats and the lag metrics. One the configuration
   * turns on (KAFKA_BROKERS: `kafka`) is expected from the start: not ready until it is attached and ready.
   */
  attachIngress(name: IngressName, status: IngressStatus): void;
  executor: Executor;
  reporter: Reporter;
  portClient: PortClient;
  /** Whether Port has issued a token; the start begins the check (see port/auth-check.ts). */
  portAuth: PortAuth;
  /** Prometheus metrics (served at /metrics, or on METRICS_PORT by the entry). */
  metrics: Metrics;
  /** Runs' stories from the ledger (GET /admin/runs, the console). */
  history: RunHistory;
  /** What happens in the pipeline, as events (observe/events.ts): the metrics listen, and `portside dev`'s run lines. */
  feed: Feed;
  start(): void;
  /** Stops taking requests, lets running handlers finish up to the grace time, drains what it can. */
  stop(graceMs?: number): Promise<{ unfinished: number }>;
}

export interface SettleResult {
  done: boolean;
  /** Of the keys settled: work not finished, runs with reports not delivered; and handlers running in this process. */
  left: { unfinished: number; undelivered: number; running: number };
}

export function createService(deps: ServiceDeps): Service {
  const { config } = deps;
  const { logger } = deps;
  // In Port's agent's place, runs meant for the agent are routed here too (handled, or forwarded).
  const registry = config.executionAgent ? withExecutionAgent(deps.registry) : deps.registry;
  const warnings = deps.warnings ?? createRecentWarnings();
  const clock = deps.clock ?? Date.now;
  // What happens is emitted once into the feed; the metrics listen.
  const feed = deps.feed ?? createFeed();
  const metrics = createMetrics();
  metrics.listen(feed, deps.registry.actions);
  const ledger = observedLedger(deps.ledger, feed);
  // Runs' stories for operators (the console, GET /admin/runs), read from the ledger.
  const history = createRunHistory(ledger);
  const owner = deps.owner ?? `portside-${crypto.randomUUID()}`;
  let shuttingDown = false;
  // Synchronous webhooks wait here for their runs' results.
  const answers = createSyncAnswers({
    ended: async (runId) => {
      const story = await history.get(runId);
      if (story?.phase !== "SUCCESS" && story?.phase !== "FAILURE") return null;
      return { status: story.phase, ...(story.summary ? { summary: story.summary } : {}) };
    },
    reportsPending: async (runId) => (await ledger.getRun(runId))?.reports.some((report) => report.state === "pending") ?? false,
  });
  // Runs the acceptor has just validated, for the executor of this service only.
  const parsedRuns = createParsedRuns();

  // One budget for every Port call of this process (and, through the store, of every replica).
  const limiter = createPortRateLimiter({
    clock,
    logger,
    owner,
    maxPortWaitMs: config.portMaxWaitMs,
    ...(deps.rateStore ? { store: deps.rateStore } : {}),
  });
  const portClient = createPortClient({
    baseUrl: deps.port.baseUrl,
    clientId: deps.port.clientId,
    clientSecret: deps.port.clientSecret,
    fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
    timeoutMs: 15_000,
    clock,
    logger,
    ...(deps.portRetry ? { retry: deps.portRetry } : {}),
    ...(deps.tokenStore ? { tokenStore: deps.tokenStore } : {}),
    limiter,
    onCall: (call) => feed.emit("portCall", { endpoint: call.kind, status: call.status }),
  });
  // Whether Port has issued a token: the start checks it (entry/port-credentials.ts), /readyz waits for it.
  const portAuth = createPortAuth({ authenticate: () => portClient.authenticate(), clock, logger });
  const reporter = createReporter({
    ledger,
    port: portClient,
    clock,
    logger,
    owner,
    leaseMs: config.reportLeaseMs,
    maxDelayMs: config.portMaxWaitMs,
    ...(deps.outboxRetry ? { retry: deps.outboxRetry } : {}),
    onRefused: (refusal) => feed.emit("reportRefused", refusal),
  });
  const acceptor: Acceptor = createAcceptor({
    ledger,
    orgId: config.orgId,
    locator: config.locator,
    signatureSecret: config.portCredentials?.clientSecret.reveal() ?? null,
    signatureToleranceMs: config.signatureToleranceMs,
    orderBy: config.orderBy,
    clock,
    parsedRuns,
    registry,
    unhandledRuns: config.unhandledRuns,
    executionAgent: config.executionAgent !== null,
  });
  const executor = createExecutor({
    ledger,
    registry,
    logger,
    clock,
    owner,
    concurrency: config.concurrency,
    targetConcurrency: config.targetConcurrency,
    handlerTimeoutMs: config.handlerTimeoutMs,
    locator: config.locator,
    parsedRuns,
    maxAttempts: config.maxRunAttempts,
    secretKey: deps.port.clientSecret,
    onReports: () => reporter.notify(),
    answer: (runId, reports) => answers.offer(runId, reports),
    onRunEnded: ({ runId, action, status, summary, seconds }) => feed.emit("runEnded", { runId, action, status, summary, seconds }),
    ...(deps.targets ? { targets: deps.targets } : {}),
    ...(deps.executorPollMs ? { pollMs: deps.executorPollMs } : {}),
    leaseMs: deps.leaseMs ?? config.leaseMs,
    ...(deps.ledgerRetry ? { ledgerRetry: deps.ledgerRetry } : {}),
  });
  const { ingest, stats } = createIngest({
    acceptor,
    logger,
    onCommitted: (summary, { kind, source }) => {
      feed.emit("ingested", { source, kind, summary });
      if (summary.accepted > 0) executor.notify(kind);
      if (summary.parked > 0) reporter.notify();
    },
    ...(config.ackMode === "sync" ? { waitFor: (keys: string[]) => waitAll(executor, keys, 25_000) } : {}),
  });
  const runToIdle = async () => {
    await executor.runToIdle();
    await reporter.drainToIdle();
  };
  const replay = (id: string) => replayDeadLetter({ ledger, ingest, acceptor }, id);
  /**
   * `settle`'s executor: runs until nothing is claimable and nothing runs. One for the process, shared by
   * the settles of successive invocations: a hung handler keeps it running (it claims new work meanwhile
   * when told of it), and it is started again once it went idle: at once for a new settle, else at most
   * every SETTLE_POLL_MS (its keys may be leased elsewhere: nothing to claim).
   */
  let executing: Promise<void> | undefined;
  let executingSince = 0;
  const runExecutor = (now: boolean) => {
    if (executing || (!now && Date.now() - executingSince < SETTLE_POLL_MS)) return;
    executingSince = Date.now();
    executing = executor
      .runToIdle()
      .catch((error: unknown) => logger.error("executor.failed", { error }))
      .finally(() => {
        executing = undefined;
      });
  };
  // A configured way in that runs on its own is not ready until the entry attaches it (and it consumes).
  const ingresses = new Map<IngressName, IngressStatus>([
    ...(config.kafka ? [["kafka", notStarted] as const] : []),
    ...(config.polling ? [["polling", notStarted] as const] : []),
  ]);
  // One snapshot of how this portside is doing, for the gauges, /readyz, /healthz, /admin/stats and the console.
  const status = createStatus({
    ledgerKind: config.ledger.type,
    ledgerCounts: () => ledger.counts(),
    rateBudget: () => limiter.snapshot().budget,
    ingresses,
    warnings,
    shuttingDown: () => shuttingDown,
    clock,
    portAuth,
  });
  metrics.observe(status);

  const app = createApp({
    ledger,
    ingest,
    replay,
    stats,
    status,
    logger,
    sinkToken: config.sinkToken,
    adminToken: config.adminToken,
    open: config.open,
    bodyLimitBytes: config.bodyLimitBytes,
    isShuttingDown: () => shuttingDown,
    metrics,
    metricsApart: config.metricsPort !== null,
    history,
    actions: deps.registry.actions,
    consoleSessionMs: config.consoleSessionMs,
    local: config.open ? { orgId: config.orgId, emulated: deps.emulated === true, actions: deps.registry.actions } : null,
    webhook:
      config.webhook && deps.port.clientSecret
        ? {
            orgId: config.orgId,
            secret: deps.port.clientSecret,
            settings: config.webhook,
            isSync: (action) => {
              const route = registry.forRun(action);
              return route.type === "local" && route.sync === true;
            },
            awaitResult: (runId, ms) => answers.wait(runId, ms),
            ...(deps.remoteAddress ? { remoteAddress: deps.remoteAddress } : {}),
            clock,
          }
        : null,
  });

  return {
    app,
    ingest,
    replay,
    stats,
    attachIngress: (name, status) => void ingresses.set(name, status),
    executor,
    reporter,
    portClient,
    portAuth,
    metrics,
    history,
    feed,
    runToIdle,
    async settle(deadlineAt, keys) {
      const runIds = keys.map(runIdOfKey).filter((id) => id !== null);
      let open = { keys: [...keys], runIds };
      const left = () => ({ unfinished: open.keys.length, undelivered: open.runIds.length, running: executor.active });
      for (let first = true; ; first = false) {
        runExecutor(first);
        const remaining = deadlineAt - Date.now();
        // Cut short at the deadline; what runs on is left in the ledger (leases end, the retry takes it).
        if (remaining <= 0) return { done: false, left: left() };
        // Every finished run's reports go out, whatever still runs.
        if (!(await settlesWithin(reporter.drainToIdle(), remaining))) return { done: false, left: left() };
        // Both in one read: a run's work is finished in the same transaction that queues its reports.
        open = await ledger.unsettled(open.keys, runIds);
        if (open.keys.length + open.runIds.length === 0) return { done: true, left: left() };
        // Work finishing (its reports to drain), reports backing off, work leased elsewhere: look again shortly.
        const wait = Math.min(SETTLE_POLL_MS, Math.max(0, deadlineAt - Date.now()));
        await settlesWithin(executing ?? never, wait);
      }
    },
    start() {
      executor.start();
      reporter.start();
    },
    async stop(graceMs = config.shutdownGraceMs) {
      shuttingDown = true;
      portAuth.stop();
      const result = await executor.stop(graceMs);
      await reporter.stop();
      return result;
    },
  };
}

/** How often `settle` looks at its keys again while they are open (and at most how often it restarts the executor). */
const SETTLE_POLL_MS = 50;
const never = new Promise<void>(() => {});

/**
 * The ledger with each commit timed (the ack path's durable write), and what it records of runs told to the
 * feed: runs accepted, and the calls to Port queued for them (logs, entities, the final status), in order.
 */
function observedLedger(ledger: Ledger, feed: Feed): Ledger {
  return {
    ...ledger,
    async commit(batch, now) {
      const started = performance.now();
      let result: Awaited<ReturnType<Ledger["commit"]>>;
      try {
        result = await ledger.commit(batch, now);
      } finally {
        feed.emit("committed", { seconds: (performance.now() - started) / 1000 });
      }
      batch.records.forEach((record, i) => {
        const runId = runIdOfKey(record.key);
        if (runId !== null && result.records[i] === "accepted") feed.emit("runAccepted", { runId, action: record.action ?? null, source: record.source });
      });
      const parked = batch.deadLetters.flatMap((letter, i) => (result.deadLetters[i] === "accepted" ? (letter.reports ?? []) : []));
      if (batch.reports.length + parked.length > 0) emitRunReports(feed, [...batch.reports, ...parked]);
      return result;
    },
    async appendReports(reports, now) {
      await ledger.appendReports(reports, now);
      emitRunReports(feed, reports);
    },
    async finishWork(key, owner, reports, now, ended) {
      const finished = await ledger.finishWork(key, owner, reports, now, ended);
      if (finished) emitRunReports(feed, reports);
      return finished;
    },
  };
}

/**
 * Waits for the handlers of `keys` in the synchronous ack mode, but no longer than `maxMs`: the records
 * are already durable, and connectors give up on a request after ~30 s and resend the whole batch.
 */
async function waitAll(executor: Executor, keys: string[], maxMs: number): Promise<void> {
  // Given up after `maxMs`: a key another replica claimed never settles here, and must not be waited for forever.
  const giveUp = new AbortController();
  try {
    await settlesWithin(Promise.all(keys.map((k) => executor.settled(k, giveUp.signal))), maxMs);
  } finally {
    giveUp.abort();
  }
}
