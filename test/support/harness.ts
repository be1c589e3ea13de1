import { loadConfig, type Config } from "../../src/config.ts";
import type { PortEmulator } from "../../src/emulator/port-emulator.ts";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import type { ExternalTargetRunner } from "../../src/targets/external.ts";
import { createFeed, type Feed } from "../../src/observe/events.ts";
import { createRecentWarnings } from "../../src/observe/recent-warnings.ts";
import { createService, type Service } from "../../src/service.ts";
import { type AnyHandlerModule, createRegistry } from "../../src/targets/registry.ts";
import { mergeRoutes, type Routes } from "../../src/targets/routes.ts";
import { inProcessPort } from "../../src/testing/emulated-port.ts";
import { legacyRunMessage } from "../../src/testing/run-message.ts";
import { runIdsIn } from "./run-ids.ts";

/**
 * An in-process portside wired to the Port emulator: requests go through `app.request()` and Port calls
 * through the emulator's `app.request()`, so no sockets are needed. Used by the pipeline tests.
 */
export const ORG = "org_sYG4DOJZNGy8bYnt";
export const SINK_TOKEN = "test-sink-token-0123456789";
export const ADMIN_TOKEN = "test-admin-token-0123456789";

export interface Harness {
  service: Service;
  emulator: PortEmulator;
  ledger: Ledger;
  config: Config;
  logs: string[];
  /** The runners for non-code targets (`options.targets`), e.g. to close one and simulate a crash. */
  targets: Record<string, ExternalTargetRunner>;
  /**
   * Posts to the sink. Every run id the body names is declared at the emulator first (as Port has a run
   * before it publishes its message), unless `declareRuns: false`.
   */
  post(
    path: string,
    body: string | Uint8Array<ArrayBuffer>,
    init?: { token?: string | null; headers?: Record<string, string>; declareRuns?: boolean },
  ): Promise<Response>;
  /** A request to /admin with the admin token. */
  admin(path: string, method?: string): Promise<Response>;
  /** Waits until every run id has a terminal status (a node run: COMPLETED) at the emulator (or throws naming the ones missing). */
  waitForTerminal(runIds: string[], timeoutMs?: number): Promise<void>;
  /** Waits until `check` holds. */
  waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  handlers?: AnyHandlerModule;
  env?: Record<string, string>;
  ledger?: Ledger;
  start?: boolean;
  /** Runners for non-code targets (e.g. EventBridge), built from this harness's config, ledger and logger. */
  targets?: (deps: { config: Config; ledger: Ledger; logger: Logger; feed: Feed }) => Record<string, ExternalTargetRunner>;
  /** A routes file merged with `handlers`, as ROUTES does in main.ts. */
  routes?: Routes;
  leaseMs?: number;
  /** A fixed owner name, so a second harness on the same ledger can play "the same process restarted". */
  owner?: string;
  /** The Port emulator to report to: a restarted process reports to the same Port (and its runs). Default: a new one. */
  emulator?: PortEmulator;
  /** The service's clock (default: the real one). */
  clock?: () => number;
}

/** Backoff small enough for tests that make Port fail many times in a row. */
export const fastRetry = { initialMs: 5, maxMs: 100, factor: 2, maxAttempts: 3 };

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const config = loadConfig({
    ORG_ID: ORG,
    SINK_TOKEN,
    ADMIN_TOKEN,
    PORT_CLIENT_ID: "emulator-client-id",
    PORT_CLIENT_SECRET: "emulator-client-secret",
    LEDGER: "memory",
    ...options.env,
  });
  // The emulator accepts whatever credentials the configuration names (a test may set a longer secret).
  const { emulator, port, fetch: portFetch } = inProcessPort(config, options.emulator);
  const ledger = options.ledger ?? createMemoryLedger();
  const logs: string[] = [];
  const warnings = createRecentWarnings();
  const logger: Logger = createLogger({ level: "debug", sink: (line) => logs.push(line), tap: warnings.tap });
  const feed = createFeed();
  const targets = options.targets?.({ config, ledger, logger, feed }) ?? {};
  const registry = createRegistry(options.handlers ?? {}, "test-handlers.ts");
  const service = createService({
    config,
    ledger,
    feed,
    registry: options.routes ? mergeRoutes(registry, options.routes) : registry,
    targets,
    ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
    logger,
    warnings,
    port,
    fetch: portFetch,
    executorPollMs: 20,
    portRetry: fastRetry,
    outboxRetry: { ...fastRetry, maxAttempts: Infinity },
    ...(options.owner ? { owner: options.owner } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  if (options.start !== false) service.start();

  const waitUntil = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  return {
    service,
    emulator,
    ledger,
    config,
    logs,
    targets,
    post(path, body, init = {}) {
      const token = init.token === undefined ? SINK_TOKEN : init.token;
      const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers };
      if (init.declareRuns !== false) for (const id of runIdsIn(body, config.locator?.runIdPath)) emulator.state.declareRun(id);
      return Promise.resolve(service.app.request(path, { method: "POST", body, headers }));
    },
    admin(path, method = "GET") {
      return Promise.resolve(service.app.request(`/admin${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
    },
    waitForTerminal(runIds, timeoutMs = 10_000) {
      return waitUntil(
        () => runIds.every((id) => emulator.state.ended(id)),
        `terminal status of ${runIds.filter((id) => !emulator.state.ended(id)).join(", ")}`,
        timeoutMs,
      );
    },
    waitUntil,
    async stop() {
      await service.stop(1_000);
      for (const runner of Object.values(targets)) (runner as { close?: () => void }).close?.();
      await ledger.close();
    },
  };
}

/** A legacy-shape run message for ORG (or another org), with the given id and action. */
export function runMessage(runId: string, action = "deploy", extra: { orgId?: string; entity?: string | null; inputs?: Record<string, unknown> } = {}) {
  return legacyRunMessage({
    runId,
    action,
    orgId: extra.orgId ?? ORG,
    entity: extra.entity ?? null,
    blueprint: "microservice",
    inputs: extra.inputs ?? { version: "1.0.0" },
    user: { email: "lee@example.com", firstName: "Lee", lastName: "Ops", id: "auth0|5f1c" },
    triggeredAt: "2026-08-02T08:12:44.010Z",
  });
}
