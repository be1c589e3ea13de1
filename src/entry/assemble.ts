import type { Context } from "hono";
import { type Config, ConfigError, redactUrl } from "../config.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { createMemoryLedger } from "../ledger/memory.ts";
import { errorLine, type Logger } from "../log.ts";
import type { RateStore } from "../port/rate-store.ts";
import type { SharedTokenStore } from "../port/token.ts";
import { createFeed } from "../observe/events.ts";
import { createService, type Service } from "../service.ts";
import type { RetryPolicy } from "../shared/retry.ts";
import { createEventBridgeTargets } from "../targets/eventbridge/index.ts";
import { HandlerModuleError, type Registry } from "../targets/registry.ts";
import { within } from "../shared/time.ts";
import type { RecentWarnings } from "../observe/recent-warnings.ts";
import { describeError } from "../shared/errors.ts";
import { executionAgentTargets } from "./execution-agent.ts";

/**
 * What every entry does the same way once its configuration is read: open the ledger, share Port's token
 * and rate budget through Redis when the ledger is there, and build the one service over them. The Bun and
 * Deno start-up (`start.ts`) and the Lambda entry (`lambda.ts`) differ only in what surrounds this.
 */

/** A start-up failure: one line saying what to fix. */
export class StartError extends Error {
  override name = "StartError";
}

export interface LedgerOpener {
  /** The runtime's name, for the warning when it has no SQLite. */
  name: string;
  /** Opens the SQLite ledger; absent where the runtime has none (a memory ledger stands in, with a warning). */
  openSqlite?: (path: string) => Promise<Ledger>;
}

export async function openLedger(config: Config, runtime: LedgerOpener, logger: Logger): Promise<Ledger> {
  const setting = config.ledger;
  switch (setting.type) {
    case "memory":
      return createMemoryLedger();
    case "sqlite": {
      if (!runtime.openSqlite) {
        logger.warn("portside.memory_ledger", {
          message: `${runtime.name} has no SQLite ledger here: using an in-memory ledger (NOT durable). Use LEDGER=redis://… for durability.`,
        });
        return createMemoryLedger();
      }
      try {
        return await runtime.openSqlite(setting.path);
      } catch (error) {
        throw new StartError(`LEDGER: could not open the SQLite ledger at ${setting.path}: ${describe(error)}`);
      }
    }
    case "redis": {
      const { createRedisLedger } = await import("../ledger/redis.ts");
      const shown = redactUrl(setting.url.reveal());
      const ledger = createRedisLedger({ url: setting.url.reveal(), onConnectionError: redisErrorLogger(logger, "ledger") });
      // Reachable now, or the start fails with one line (instead of the first request failing later).
      try {
        await within(ledger.counts(), 10_000, "no answer within 10 s");
      } catch (error) {
        await ledger.close().catch(() => undefined);
        throw new StartError(`LEDGER: the Redis ledger at ${shown} is not reachable (${describe(error)}); start Redis or fix LEDGER`);
      }
      return ledger;
    }
  }
}

export interface AssembleOptions {
  config: Config;
  ledger: Ledger;
  registry: Registry;
  logger: Logger;
  /** Port's base URL and credentials (the emulator's in open mode). */
  port: { baseUrl: string; clientId: string; clientSecret: string };
  /** Port is the in-process emulator: nothing is shared through Redis (each process has its own). */
  emulated?: boolean;
  owner?: string;
  /** The outbox's backoff between attempts at a report (default: up to 5 minutes). */
  outboxRetry?: RetryPolicy;
  /** What the logger taps for the console (see createLogger's `tap`). */
  warnings?: RecentWarnings;
  /** The address a request came from (the runtime's server says). */
  remoteAddress?: (c: Context) => string | undefined;
}

export interface Assembled {
  service: Service;
  /** The ledger's retention, the same for every entry (see `createRetention`). */
  retention: Retention;
  /** Closes what `assemble` opened beside the ledger (the shared token and rate stores). */
  close(): Promise<void>;
}

export async function assemble(options: AssembleOptions): Promise<Assembled> {
  const { config, ledger, logger } = options;
  // Replicas on one Redis share the Port token there (one token fetch per deployment, not per replica) and
  // Port's rate budget (one organisation, one budget: a 429 at one replica pauses all of them).
  let tokenStore: (SharedTokenStore & { close(): Promise<void> }) | undefined;
  let rateStore: (RateStore & { close(): Promise<void> }) | undefined;
  if (config.ledger.type === "redis" && !options.emulated) {
    const { createRedisTokenStore } = await import("../port/token-store-redis.ts");
    const { createRedisRateStore } = await import("../port/rate-store-redis.ts");
    tokenStore = createRedisTokenStore({ url: config.ledger.url.reveal(), prefix: "portside", onConnectionError: redisErrorLogger(logger, "token_store") });
    rateStore = createRedisRateStore({ url: config.ledger.url.reveal(), prefix: "portside", onConnectionError: redisErrorLogger(logger, "rate_store") });
  }
  // EventBridge counts what it publishes into the service's feed.
  const feed = createFeed();
  // In Port's agent's place: runs meant for the agent that no handler takes are forwarded as it forwards them.
  const agent = config.executionAgent ? await executionAgentTargets(config.executionAgent, { ledger, logger }) : null;
  const service = createService({
    config,
    ledger,
    registry: options.registry,
    logger,
    port: options.port,
    feed,
    ...(options.emulated ? { emulated: true } : {}),
    ...(options.owner ? { owner: options.owner } : {}),
    ...(options.outboxRetry ? { outboxRetry: options.outboxRetry } : {}),
    ...(options.warnings ? { warnings: options.warnings } : {}),
    ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
    targets: {
      ...createEventBridgeTargets(config, { ledger, logger, onEntries: (outcome, count) => feed.emit("eventBridgeEntries", { outcome, count }) }),
      ...agent?.targets,
    },
    ...(tokenStore ? { tokenStore } : {}),
    ...(rateStore ? { rateStore } : {}),
  });
  return {
    service,
    retention: createRetention({ ledger, config, logger }),
    async close() {
      await tokenStore?.close();
      await rateStore?.close();
      await agent?.close();
    },
  };
}

/** How often the ledger is purged: the service's timer, and at most this often on AWS Lambda. */
export const PURGE_EVERY_MS = 15 * 60_000;

export interface Retention {
  /** Purges now; never throws (a failure is logged, and the next purge tries again). */
  purge(): Promise<void>;
  /** Purges when the last purge began `PURGE_EVERY_MS` ago or more (or never ran), and none is running. */
  purgeIfDue(): Promise<void>;
}

/**
 * What the ledger forgets, for every entry (the service's timer in start.ts, each Lambda invocation):
 * finished work and settled reports after RETENTION_HOURS (the dedupe window), dead letters after
 * DEAD_LETTER_RETENTION_HOURS. Nothing else in the ledger grows without bound.
 */
export function createRetention(deps: { ledger: Ledger; config: Config; logger: Logger; clock?: () => number }): Retention {
  const clock = deps.clock ?? Date.now;
  let lastAt: number | undefined;
  let running: Promise<void> | undefined;
  const purge = async () => {
    const now = clock();
    lastAt = now;
    try {
      const purged = await deps.ledger.purge(now - deps.config.retentionMs);
      const deadLetters = await deps.ledger.purgeDeadLetters(now - deps.config.deadLetterRetentionMs);
      if (purged.work + purged.reports + deadLetters > 0) deps.logger.info("ledger.purged", { ...purged, deadLetters });
    } catch (error) {
      deps.logger.error("ledger.purge_failed", { error });
    }
  };
  const once = () => {
    running ??= purge().finally(() => {
      running = undefined;
    });
    return running;
  };
  return {
    purge: once,
    async purgeIfDue() {
      if (running) return running;
      if (lastAt !== undefined && clock() - lastAt < PURGE_EVERY_MS) return;
      return once();
    },
  };
}

/** Logs Redis connection trouble as structured lines, at most one per interval (see shared/redis.ts). */
export function redisErrorLogger(logger: Logger, connection: string) {
  return (error: Error, count: number) => logger.error("redis.connection_error", { connection, errors: count, error: describe(error) });
}

/** The one line a start-up failure ends with (Bun, Deno and the Lambda entry alike): what to fix, never a stack. */
export function cannotStartMessage(error: unknown): string {
  const known = error instanceof StartError || error instanceof ConfigError || error instanceof HandlerModuleError;
  return `portside cannot start: ${known ? (error as Error).message : `unexpected error: ${describe(error)}`}`;
}

/** The lines a start-up failure ends with: one per variable when the configuration was refused (all at once), else the one line. */
export function cannotStartMessages(error: unknown): string[] {
  if (error instanceof ConfigError) return error.all.map((refusal) => `portside cannot start: ${refusal.message}`);
  return [cannotStartMessage(error)];
}

export function logCannotStart(message: string): void {
  errorLine(JSON.stringify({ t: new Date().toISOString(), level: "error", event: "portside.cannot_start", message }));
}

/** An error's message only (never its stack; for URLs, the redacted form). */
export function describe(error: unknown): string {
  const message = describeError(error);
  return redactUrl(message.split("\n")[0] ?? message);
}
