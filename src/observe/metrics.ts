import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { RECORD_OUTCOMES } from "../pipeline/accept.ts";
import type { Feed } from "./events.ts";
import type { Status, StatusSnapshot } from "./status.ts";

/**
 * portside's Prometheus metrics (`GET /metrics`, text exposition format), one registry per service. What
 * happens (records in, runs ended, Port calls, ledger commits, EventBridge entries) is counted from the
 * event feed; what is a state (outbox depth, work, Port's budget, consumer lag) is read from one status
 * snapshot per scrape. Labels carry only bounded values: routes, kinds, statuses, Port endpoint names, and
 * action identifiers that have a handler or route (any other action is `other`), never a value from a record.
 */
export interface Metrics {
  /** The exposition format's content type. */
  readonly contentType: string;
  /** Counts what the feed says happens. */
  listen(feed: Feed, knownActions: readonly string[]): void;
  /** Registers the gauges, read from `status` at scrape time (once, by the service that owns these metrics). */
  observe(status: Status): void;
  /** The exposition text; the status is read once for all the gauges. */
  scrape(): Promise<string>;
}

const PREFIX = "portside_";

/** A gauge read from the status snapshot: one row per gauge, labels and values from the snapshot. */
interface GaugeRow {
  name: string;
  help: string;
  labelNames?: readonly string[];
  /** The series to set, each with its labels (none: the gauge is absent this scrape). */
  read(s: StatusSnapshot): Array<[Record<string, string>, number]>;
}

const one = (value: number): Array<[Record<string, string>, number]> => [[{}, value]];

/** Every gauge, as data. */
const GAUGES: readonly GaugeRow[] = [
  { name: "outbox_reports", help: "Reports to Port not yet delivered (the outbox depth).", read: (s) => one(s.ledger.counts.pendingReports) },
  {
    name: "outbox_oldest_report_age_seconds",
    help: "How long the reports to Port that have waited longest have waited, held back ones included (0 when none).",
    read: ({ ledger, now }) => one(ledger.counts.oldestHeldReportAt === null ? 0 : Math.max(0, (now - ledger.counts.oldestHeldReportAt) / 1000)),
  },
  {
    name: "work_items",
    help: "Accepted work in the ledger, by state.",
    labelNames: ["state"],
    read: ({ ledger: { counts } }) => [
      [{ state: "pending" }, counts.pendingWork],
      [{ state: "running" }, counts.runningWork],
      [{ state: "done" }, counts.doneWork],
    ],
  },
  { name: "dead_letters", help: "Records parked in the ledger.", read: (s) => one(s.ledger.counts.deadLetters) },
  {
    name: "port_rate_budget_remaining",
    help: "Calls left in Port's current rate-limit window, as Port last said (absent before its first answer).",
    read: (s) => (s.rateBudget ? one(s.rateBudget.remaining) : []),
  },
  {
    name: "port_rate_budget_limit",
    help: "Calls Port allows per rate-limit window, as Port last said.",
    read: (s) => (s.rateBudget ? one(s.rateBudget.limit) : []),
  },
  {
    name: "kafka_consumer_lag",
    help: "Messages behind the end of each partition the built-in consumer holds, as of its last fetch; none while it is not consuming.",
    labelNames: ["topic", "partition"],
    read: (s) =>
      s.ingresses.flatMap((i) =>
        i.lag.map(({ topic, partition, messages }): [Record<string, string>, number] => [{ topic, partition: String(partition) }, messages]),
      ),
  },
];

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  /** The snapshot of the scrape under way, shared by its gauges. */
  let scraping: Promise<StatusSnapshot> | undefined;

  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter({ name: `${PREFIX}${name}`, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []) =>
    new Histogram({ name: `${PREFIX}${name}`, help, buckets, labelNames, registers });

  const records = counter("records_total", `Records received by a way in, by what became of them (${RECORD_OUTCOMES.join(", ")}).`, [
    "route",
    "kind",
    "outcome",
  ]);
  const parked = counter("records_parked_total", "Records parked as dead letters, by class of reason (unreadable, invalid, other_org, signature, internal).", [
    "route",
    "reason",
  ]);
  const ignored = counter("records_ignored_total", "Records left alone (other consumers' runs and changes), by reason.", ["route", "reason"]);
  const commit = histogram(
    "ledger_commit_seconds",
    "Time to commit one batch of records to the ledger.",
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );
  const runs = counter("runs_finished_total", "Runs that ended, by action and the status reported to Port (DEFERRED: left to the target to report).", [
    "action",
    "status",
  ]);
  const handlerSeconds = histogram(
    "handler_duration_seconds",
    "How long a run's handler (or target) took, by action.",
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900],
    ["action"],
  );
  const portCalls = counter("port_calls_total", "Calls to Port's API, by endpoint and HTTP status (0: no answer).", ["endpoint", "status"]);
  const refused = counter(
    "reports_refused_total",
    "Reports to Port it refused for good (not retried: the run's status, logs or entities it will never have), by endpoint and HTTP status (207: part of a bulk write; 0: none).",
    ["endpoint", "status"],
  );
  const eventBridge = counter("eventbridge_entries_total", "EventBridge entries published, sent again after a throttle or failure, or given up on (parked).", [
    "outcome",
  ]);

  return {
    contentType: registry.contentType,
    async scrape() {
      try {
        return await registry.metrics();
      } finally {
        scraping = undefined;
      }
    },
    listen(feed, knownActions) {
      const known = new Set(knownActions);
      const action = (name: string) => (known.has(name) ? name : "other");
      feed.on("ingested", ({ source, kind, summary }) => {
        for (const outcome of RECORD_OUTCOMES) records.inc({ route: source, kind, outcome }, summary[outcome]);
        for (const [reason, n] of Object.entries(summary.ignoredBy)) ignored.inc({ route: source, reason }, n ?? 0);
        for (const [reason, n] of Object.entries(summary.parkedBy)) parked.inc({ route: source, reason }, n ?? 0);
      });
      feed.on("committed", ({ seconds }) => commit.observe(seconds));
      feed.on("runEnded", (run) => {
        runs.inc({ action: action(run.action), status: run.status });
        handlerSeconds.observe({ action: action(run.action) }, run.seconds);
      });
      feed.on("portCall", ({ endpoint, status }) => portCalls.inc({ endpoint, status: String(status ?? 0) }));
      feed.on("reportRefused", ({ endpoint, status }) => refused.inc({ endpoint, status: String(status) }));
      feed.on("eventBridgeEntries", ({ outcome, count }) => {
        if (count > 0) eventBridge.inc({ outcome }, count);
      });
    },
    observe(status) {
      const snapshot = () => (scraping ??= status.snapshot());
      for (const row of GAUGES) {
        new Gauge({
          name: `${PREFIX}${row.name}`,
          help: row.help,
          labelNames: row.labelNames ?? [],
          registers,
          async collect() {
            this.reset();
            for (const [labels, value] of row.read(await snapshot())) this.set(labels, value);
          },
        });
      }
    },
  };
}
