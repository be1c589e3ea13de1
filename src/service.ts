import type { Hono } from "hono";
import { createApp } from "./app.ts";
import type { Config } from "./config.ts";
import type { Ledger } from "./ledger/ledger.ts";
import type { Logger } from "./log.ts";
import { createAcceptor, type Acceptor } from "./pipeline/accept.ts";
import { createExecutor, type Executor, type ExternalTargetRunner } from "./pipeline/executor.ts";
import { createPortClient, type PortClient } from "./port/client.ts";
import type { FetchFn } from "./port/http.ts";
import type { RetryPolicy } from "./port/retry.ts";
import { createReporter, type Reporter } from "./port/reporter.ts";
import type { SharedTokenStore } from "./port/token.ts";
import type { Registry } from "./targets/registry.ts";

/**
 * Wires one portside instance from its parts: acceptor → ledger → executor → reporter → Port. It holds
 * no runtime specifics; the Bun entry (`main.ts`) and the Deno entry pass in a ledger and serve `app`.
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
  /** Port token shared by the replicas (Redis), so one replica's token fetch does not revoke the others'. */
  tokenStore?: SharedTokenStore;
}

export interface Service {
  app: Hono;
  acceptor: Acceptor;
  executor: Executor;
  reporter: Reporter;
  portClient: PortClient;
  start(): void;
  /** Stops taking requests, lets running handlers finish up to the grace time, drains what it can. */
  stop(graceMs?: number): Promise<{ unfinished: number }>;
}

export function createService(deps: ServiceDeps): Service {
  const { config, ledger, logger } = deps;
  const clock = deps.clock ?? Date.now;
  const owner = deps.owner ?? `portside-${crypto.randomUUID()}`;
  let shuttingDown = false;

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
  });
  const reporter = createReporter({ ledger, port: portClient, clock, logger, owner, ...(deps.outboxRetry ? { retry: deps.outboxRetry } : {}) });
  const acceptor = createAcceptor({
    ledger,
    orgId: config.orgId,
    locator: config.locator,
    signatureSecret: config.portCredentials?.clientSecret.reveal() ?? null,
    signatureToleranceMs: config.signatureToleranceMs,
    orderBy: config.orderBy,
    clock,
  });
  const executor = createExecutor({
    ledger,
    registry: deps.registry,
    logger,
    clock,
    owner,
    concurrency: config.concurrency,
    handlerTimeoutMs: config.handlerTimeoutMs,
    locator: config.locator,
    onReports: () => reporter.notify(),
    ...(deps.targets ? { targets: deps.targets } : {}),
    ...(deps.executorPollMs ? { pollMs: deps.executorPollMs } : {}),
    ...(deps.leaseMs ? { leaseMs: deps.leaseMs } : {}),
  });

  const app = createApp({
    ledger,
    acceptor,
    logger,
    clock,
    sinkToken: config.sinkToken,
    adminToken: config.adminToken,
    bodyLimitBytes: config.bodyLimitBytes,
    onCommitted: (summary) => {
      if (summary.accepted > 0) executor.notify();
      if (summary.parked > 0) reporter.notify();
    },
    isShuttingDown: () => shuttingDown,
    ...(config.ackMode === "sync" ? { waitFor: (keys: string[]) => waitAll(executor, keys, 25_000) } : {}),
  });

  return {
    app,
    acceptor,
    executor,
    reporter,
    portClient,
    start() {
      executor.start();
      reporter.start();
    },
    async stop(graceMs = config.shutdownGraceMs) {
      shuttingDown = true;
      const result = await executor.stop(graceMs);
      await reporter.stop();
      return result;
    },
  };
}

/**
 * Waits for the handlers of `keys` in the synchronous ack mode, but no longer than `maxMs`: the records
 * are already durable, and connectors give up on a request after ~30 s and resend the whole batch.
 */
async function waitAll(executor: Executor, keys: string[], maxMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([Promise.all(keys.map((k) => executor.settled(k))), new Promise((r) => (timer = setTimeout(r, maxMs)))]);
  clearTimeout(timer);
}
