import type { LedgerCounts } from "../ledger/ledger.ts";
import type { Budget } from "../port/rate-headers.ts";
import type { RecentWarning, RecentWarnings } from "./recent-warnings.ts";
import type { PortAuthState } from "../port/auth-check.ts";

/**
 * How this portside is doing, in one typed snapshot read by everything that shows it: the /metrics
 * gauges, /readyz and /healthz, /admin/stats and the console's health panel. One place reads the sources,
 * so they all say the same.
 */

/** How far a consumer is behind on one partition it holds: messages between its position and the end. */
export interface PartitionLag {
  topic: string;
  partition: number;
  messages: number;
}

/** The ways in that run on their own (not per request). */
export type IngressName = "kafka" | "polling";

/** What an ingress that runs on its own tells the service. */
export interface IngressStatus {
  /** Consuming (or with nothing to consume): /readyz. */
  ready(): boolean;
  /** False when it failed in a way only a restart of the process may cure: /healthz. */
  live(): boolean;
  /** For /admin/stats. */
  state(): unknown;
  /** Lag per partition held while consuming, for the metrics. */
  lag(): PartitionLag[];
}

/** Stands for a configured ingress until the entry attaches it. */
export const notStarted: IngressStatus = { ready: () => false, live: () => true, state: () => ({ status: "not_started" }), lag: () => [] };

export interface StatusSources {
  ledgerKind: string;
  ledgerCounts(): Promise<LedgerCounts>;
  /** Port's rate budget as last answered (undefined before the first answer). */
  rateBudget(): Budget | undefined;
  ingresses: ReadonlyMap<IngressName, IngressStatus>;
  warnings: RecentWarnings;
  shuttingDown(): boolean;
  clock: () => number;
  /** Whether Port has issued a token (checked at start; see port/auth-check.ts), and why not when it has not. */
  portAuth?: { state(): PortAuthState; notReady(): string | null };
}

export interface StatusSnapshot {
  ledger: { kind: string; counts: LedgerCounts };
  rateBudget: Budget | undefined;
  ingresses: Array<{ name: IngressName; ready: boolean; live: boolean; state: unknown; lag: PartitionLag[] }>;
  recentWarnings: RecentWarning[];
  /** Port's token: `unchecked` where the start asks for none. */
  portAuth: PortAuthState;
  now: number;
}

/** Why not, when not: "shutting down", "<ingress> not ready", "port auth: …", "ledger unavailable". */
export type Verdict = { ok: true } | { ok: false; reason: string };

export interface Status {
  /** Everything at once (throws when the ledger does not answer). */
  snapshot(): Promise<StatusSnapshot>;
  /** Ready for traffic: not shutting down, every running ingress ready, a token from Port (when checked), the ledger answering. */
  readiness(): Promise<Verdict>;
  /** Alive: no running ingress failed in a way only a restart may cure. */
  liveness(): Verdict;
  /** The lag of every running ingress (the gauges read it apart from the ledger). */
  lag(): PartitionLag[];
}

export function createStatus(sources: StatusSources): Status {
  const ingressList = () => [...sources.ingresses];
  return {
    async snapshot() {
      return {
        ledger: { kind: sources.ledgerKind, counts: await sources.ledgerCounts() },
        rateBudget: sources.rateBudget(),
        ingresses: ingressList().map(([name, i]) => ({ name, ready: i.ready(), live: i.live(), state: i.state(), lag: i.lag() })),
        recentWarnings: sources.warnings.list(),
        portAuth: sources.portAuth?.state() ?? { status: "unchecked" },
        now: sources.clock(),
      };
    },
    async readiness() {
      if (sources.shuttingDown()) return { ok: false, reason: "shutting down" };
      for (const [name, ingress] of ingressList()) if (!ingress.ready()) return { ok: false, reason: `${name} not ready` };
      const auth = sources.portAuth?.notReady() ?? null;
      if (auth !== null) return { ok: false, reason: auth };
      try {
        await sources.ledgerCounts();
        return { ok: true };
      } catch {
        return { ok: false, reason: "ledger unavailable" };
      }
    },
    liveness() {
      for (const [name, ingress] of ingressList()) if (!ingress.live()) return { ok: false, reason: `${name} has not recovered; restart portside` };
      return { ok: true };
    },
    lag: () => ingressList().flatMap(([, ingress]) => ingress.lag()),
  };
}
