import { assemble, cannotStartMessages, logCannotStart, openLedger, StartError } from "./assemble.ts";
import { loadConfig } from "../config.ts";
import { createLambdaIngress, type LambdaKafkaHandler } from "../ingress/lambda.ts";
import { createLogger } from "../log.ts";
import { retryPolicies } from "../shared/retry.ts";
import { checkHandlerModule, createRegistry, emptyRegistry, type Registry } from "../targets/registry.ts";
import { checkRoutes, mergeRoutes } from "../targets/routes.ts";

/**
 * The AWS Lambda entry: what the built function (`npm run build:lambda`) exports as `handler`. The handler
 * module and the routes file are bundled in at build time; everything else comes from the function's
 * environment, as for the service (ORG_ID, PORT_CLIENT_ID/SECRET, LEDGER, KAFKA_*_TOPIC, EVENTBRIDGE_*),
 * read once per instance on its first invocation. Nothing here needs Bun: Lambda's Node.js runtime runs it.
 *
 * A configuration that cannot start is thrown on every invocation (one line saying what to fix), so the
 * event source keeps the batch until the function is fixed instead of losing it.
 */
export interface LambdaBundle {
  /** The handler module's namespace (its default export is checked as HANDLERS is on the service). */
  handlers?: { default?: unknown };
  handlersSource?: string;
  /** A parsed routes file (ROUTES). */
  routes?: unknown;
  routesSource?: string;
  /** Defaults to the process environment. */
  env?: Record<string, string | undefined>;
}

/**
 * Reports that cannot be delivered are tried again at most every 10 s while an invocation lasts (the
 * service's backoff grows to minutes, which would outlast an invocation and its retry).
 */

export function createLambdaHandler(bundle: LambdaBundle = {}): LambdaKafkaHandler {
  let ready: Promise<LambdaKafkaHandler> | undefined;
  return async (event, context) => {
    ready ??= boot(bundle).catch((error) => {
      ready = undefined;
      throw cannotStart(error);
    });
    return (await ready)(event, context);
  };
}

async function boot(bundle: LambdaBundle): Promise<LambdaKafkaHandler> {
  const env = bundle.env ?? (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
  const config = loadConfig(env, { entry: "lambda" });
  const logger = createLogger({ level: config.logLevel });
  const registry = bundledRegistry(bundle);
  const ledger = await openLedger(config, { name: "AWS Lambda" }, logger);
  if (config.ledger.type === "memory")
    logger.warn("lambda.memory_ledger", {
      message:
        "LEDGER is memory: a batch the event source delivers again is deduplicated only when the same warm instance takes it; set LEDGER=redis://… so runs are never executed twice",
    });
  const credentials = config.portCredentials;
  if (!credentials) throw new StartError("PORT_CLIENT_ID: is not set, so portside cannot report to Port");
  const { service, retention } = await assemble({
    config,
    ledger,
    registry,
    logger,
    port: { baseUrl: config.portApiUrl, clientId: credentials.clientId, clientSecret: credentials.clientSecret.reveal() },
    outboxRetry: retryPolicies.lambdaOutbox,
  });
  logger.info("portside.lambda_ready", { ledger: config.ledger.type, handlers: registry.source, actions: registry.actions, topics: config.topics });
  return createLambdaIngress({ service, topics: config.topics, logger, retention });
}

function bundledRegistry(bundle: LambdaBundle): Registry {
  const source = bundle.handlersSource ?? "the bundled handler module";
  let registry = bundle.handlers ? createRegistry(checkHandlerModule(bundle.handlers.default, source), source) : emptyRegistry();
  if (bundle.routes !== undefined) registry = mergeRoutes(registry, checkRoutes(bundle.routes, bundle.routesSource ?? "the bundled routes file"));
  return registry;
}

function cannotStart(error: unknown): Error {
  const lines = cannotStartMessages(error);
  for (const line of lines) logCannotStart(line);
  return new Error(lines.join("\n"));
}
