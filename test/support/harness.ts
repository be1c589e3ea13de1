import { loadConfig, type Config } from "../../src/config.ts";
import { createPortEmulator, type PortEmulator } from "../../src/emulator/port-emulator.ts";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { createService, type Service } from "../../src/service.ts";
import type { HandlerModule } from "../../src/targets/define.ts";
import { createRegistry } from "../../src/targets/registry.ts";

/**
 * An in-process portside wired to the Port emulator: requests go through `app.request()` and Port calls
 * through the emulator's `app.request()`, so no sockets are needed. Used by the pipeline tests.
 */
export const ORG = "org_sYG4DOJZNGy8bYnt";
export const SINK_TOKEN = "test-sink-token-0123456789";

export interface Harness {
  service: Service;
  emulator: PortEmulator;
  ledger: Ledger;
  config: Config;
  logs: string[];
  post(path: string, body: string, init?: { token?: string | null; headers?: Record<string, string> }): Promise<Response>;
  /** Waits until every run id has a terminal status at the emulator (or throws naming the ones missing). */
  waitForTerminal(runIds: string[], timeoutMs?: number): Promise<void>;
  /** Waits until `check` holds. */
  waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  handlers?: HandlerModule;
  env?: Record<string, string>;
  ledger?: Ledger;
  start?: boolean;
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const config = loadConfig({ ORG_ID: ORG, SINK_TOKEN, PORT_CLIENT_ID: "emulator-client-id", PORT_CLIENT_SECRET: "emulator-client-secret", LEDGER: "memory", ...options.env });
  const emulator = createPortEmulator({});
  const ledger = options.ledger ?? createMemoryLedger();
  const logs: string[] = [];
  const logger: Logger = createLogger({ level: "debug", sink: (line) => logs.push(line) });
  const service = createService({
    config,
    ledger,
    registry: createRegistry(options.handlers ?? {}, "test-handlers.ts"),
    logger,
    port: { baseUrl: "http://port.emulator", clientId: "emulator-client-id", clientSecret: "emulator-client-secret" },
    fetch: async (input, init) => emulator.app.request(input instanceof Request ? input : String(input), init),
    executorPollMs: 20,
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
    post(path, body, init = {}) {
      const token = init.token === undefined ? SINK_TOKEN : init.token;
      const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers };
      return Promise.resolve(service.app.request(path, { method: "POST", body, headers }));
    },
    waitForTerminal(runIds, timeoutMs = 10_000) {
      return waitUntil(() => runIds.every((id) => emulator.state.terminalStatus(id) !== undefined), `terminal status of ${runIds.filter((id) => !emulator.state.terminalStatus(id)).join(", ")}`, timeoutMs);
    },
    waitUntil,
    async stop() {
      await service.stop(1_000);
      await ledger.close();
    },
  };
}

/** A legacy-shape run message for ORG (or another org), with the given id and action. */
export function runMessage(runId: string, action = "deploy", extra: { orgId?: string; entity?: string | null; inputs?: Record<string, unknown> } = {}) {
  return {
    action,
    resourceType: "run",
    status: "TRIGGERED",
    trigger: { by: { orgId: extra.orgId ?? ORG, userId: "auth0|5f1c", user: { email: "lee@example.com", firstName: "Lee", lastName: "Ops", id: "auth0|5f1c" } }, origin: "UI", at: "2026-08-02T08:12:44.010Z" },
    context: { entity: extra.entity ?? null, blueprint: "microservice", runId },
    payload: { entity: extra.entity ? { identifier: extra.entity, blueprint: "microservice", properties: {} } : null, action: { invocationMethod: { type: "KAFKA" }, trigger: extra.entity ? "DAY-2" : "CREATE" }, properties: extra.inputs ?? { version: "1.0.0" } },
  };
}
