import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { LedgerCounts, WorkKind } from "./ledger/ledger.ts";
import type { AcceptSummary } from "./pipeline/accept.ts";

/**
 * portside's Prometheus metrics (`GET /metrics`, text exposition format), one registry per service. The
 * pipeline reports what happens as it happens (records in, runs ended, Port calls, ledger commits,
 * EventBridge entries); what is a state (outbox depth, Port's budget, consumer lag) is read when scraped.
 * Labels carry only bounded values: routes, kinds, statuses, Port endpoint names, and action identifiers
 * that have a handler or route (any other action is `other`), never a value from a record.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Registers the gauges read at scrape time (once, by the service that owns these metrics). */
  observe(sources: MetricsSources): void;
  /** The exposition text; the ledger's counts are read once for all the gauges that show them. */
  scrape(): Promise<string>;
  /** One `ingest` call's outcome, per way in (`sink/runs`, `kafka/<topic>`, `lambda/<topic>`, `replay`). */
  ingested(source: string, kind: WorkKind, summary: AcceptSummary): void;
  ledgerCommitted(seconds: number): void;
  runEnded(action: string, status: string, seconds: number): void;
  portCall(endpoint: string, status: number | undefined): void;
  eventBridgeEntries(outcome: "published" | "retried" | "parked", count: number): void;
}

/** How far a consumer is behind on one partition it holds: messages between its position and the end. */
export interface PartitionLag {
  topic: string;
  partition: number;
  messages: number;
}

/** What is read at scrape time. */
export interface MetricsSources {
  ledgerCounts(): Promise<LedgerCounts>;
  /** Port's rate budget as last answered (undefined before the first answer). */
  rateBudget(): { limit: number; remaining: number } | undefined;
  /** Messages behind per partition the built-in Kafka consumer holds, while it consumes (else none). */
  kafkaLag(): PartitionLag[];
  /** Actions with a handler or route: their own label value; every other action is `other`. */
  knownActions: readonly string[];
  clock: () => number;
}

const PREFIX = "portside_";

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  let known = new Set<string>();
  let ledgerCounts: () => Promise<LedgerCounts> = () => Promise.reject(new Error("metrics not observed yet"));
  /** The counts of the scrape under way, shared by its gauges. */
  let scraping: Promise<LedgerCounts> | undefined;
  const counts = () => (scraping ??= ledgerCounts());
  const action = (name: string) => (known.has(name) ? name : "other");

  const records = new Counter({
    name: `${PREFIX}records_total`,
    help: "Records received by a way in, by what became of them (accepted, duplicate, parked, ignored).",
    labelNames: ["route", "kind", "outcome"] as const,
    registers,
  });
  const parked = new Counter({
    name: `${PREFIX}records_parked_total`,
    help: "Records parked as dead letters, by class of reason (unreadable, invalid, other_org, signature, internal).",
    labelNames: ["route", "reason"] as const,
    registers,
  });
  const ignored = new Counter({
    name: `${PREFIX}records_ignored_total`,
    help: "Records left alone (other consumers' runs and changes), by reason.",
    labelNames: ["route", "reason"] as const,
    registers,
  });
  const commit = new Histogram({
    name: `${PREFIX}ledger_commit_seconds`,
    help: "Time to commit one batch of records to the ledger.",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const runs = new Counter({
    name: `${PREFIX}runs_finished_total`,
    help: "Runs that ended, by action and the status reported to Port (DEFERRED: left to the target to report).",
    labelNames: ["action", "status"] as const,
    registers,
  });
  const handlerSeconds = new Histogram({
    name: `${PREFIX}handler_duration_seconds`,
    help: "How long a run's handler (or target) took, by action.",
    labelNames: ["action"] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900],
    registers,
  });
  const portCalls = new Counter({
    name: `${PREFIX}port_calls_total`,
    help: "Calls to Port's API, by endpoint and HTTP status (0: no answer).",
    labelNames: ["endpoint", "status"] as const,
    registers,
  });
  const eventBridge = new Counter({
    name: `${PREFIX}eventbridge_entries_total`,
    help: "EventBridge entries published, sent again after a throttle or failure, or given up on (parked).",
    labelNames: ["outcome"] as const,
    registers,
  });

  return {
    registry,
    async scrape() {
      try {
        return await registry.metrics();
      } finally {
        scraping = undefined;
      }
    },
    observe(sources) {
      known = new Set(sources.knownActions);
      ledgerCounts = sources.ledgerCounts;
      new Gauge({
        name: `${PREFIX}outbox_reports`,
        help: "Reports to Port not yet delivered (the outbox depth).",
        registers,
        async collect() {
          this.set((await counts()).pendingReports);
        },
      });
      new Gauge({
        name: `${PREFIX}outbox_oldest_report_age_seconds`,
        help: "How long the reports to Port that have waited longest have waited, held back ones included (0 when none).",
        registers,
        async collect() {
          const at = (await counts()).oldestHeldReportAt;
          this.set(at === null ? 0 : Math.max(0, (sources.clock() - at) / 1000));
        },
      });
      new Gauge({
        name: `${PREFIX}work_items`,
        help: "Accepted work in the ledger, by state.",
        labelNames: ["state"] as const,
        registers,
        async collect() {
          const c = await counts();
          this.set({ state: "pending" }, c.pendingWork);
          this.set({ state: "running" }, c.runningWork);
          this.set({ state: "done" }, c.doneWork);
        },
      });
      new Gauge({
        name: `${PREFIX}dead_letters`,
        help: "Records parked in the ledger.",
        registers,
        async collect() {
          this.set((await counts()).deadLetters);
        },
      });
      new Gauge({
        name: `${PREFIX}port_rate_budget_remaining`,
        help: "Calls left in Port's current rate-limit window, as Port last said (absent before its first answer).",
        registers,
        collect() {
          const budget = sources.rateBudget();
          if (budget) this.set(budget.remaining);
        },
      });
      new Gauge({
        name: `${PREFIX}port_rate_budget_limit`,
        help: "Calls Port allows per rate-limit window, as Port last said.",
        registers,
        collect() {
          const budget = sources.rateBudget();
          if (budget) this.set(budget.limit);
        },
      });
      new Gauge({
        name: `${PREFIX}kafka_consumer_lag`,
        help: "Messages behind the end of each partition the built-in consumer holds, as of its last fetch; none while it is not consuming.",
        labelNames: ["topic", "partition"] as const,
        registers,
        collect() {
          this.reset();
          for (const { topic, partition, messages } of sources.kafkaLag()) this.set({ topic, partition: String(partition) }, messages);
        },
      });
    },
    ingested(source, kind, summary) {
      const labels = { route: source, kind };
      records.inc({ ...labels, outcome: "accepted" }, summary.accepted);
      records.inc({ ...labels, outcome: "duplicate" }, summary.duplicate);
      records.inc({ ...labels, outcome: "parked" }, summary.parked);
      records.inc({ ...labels, outcome: "ignored" }, summary.ignored);
      for (const [reason, n] of Object.entries(summary.ignoredBy)) ignored.inc({ route: source, reason }, n ?? 0);
      for (const [reason, n] of Object.entries(summary.parkedBy)) parked.inc({ route: source, reason }, n ?? 0);
    },
    ledgerCommitted: (seconds) => commit.observe(seconds),
    runEnded(name, status, seconds) {
      runs.inc({ action: action(name), status });
      handlerSeconds.observe({ action: action(name) }, seconds);
    },
    portCall: (endpoint, status) => portCalls.inc({ endpoint, status: String(status ?? 0) }),
    eventBridgeEntries: (outcome, count) => {
      if (count > 0) eventBridge.inc({ outcome }, count);
    },
  };
}
