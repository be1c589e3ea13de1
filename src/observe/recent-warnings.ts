import type { LogFields, LogLevel } from "../log.ts";

/**
 * The last warnings and errors this process logged, for the console's health panel: when, the event name,
 * and the fields the line carried (which never hold a record's values). It is a tap on the logger, so every
 * logger made with it feeds it — the service's, the Kafka ingress's, EventBridge's, the Redis clients' and
 * start-up's alike — whatever LOG_LEVEL lets through to the output.
 */
export interface RecentWarning {
  at: number;
  level: "warn" | "error";
  event: string;
  fields: LogFields;
}

export interface RecentWarnings {
  /** Give to `createLogger({ tap })`. */
  tap(level: LogLevel, event: string, fields: LogFields): void;
  /** Newest first. */
  list(): RecentWarning[];
}

export function createRecentWarnings(capacity = 20, clock: () => number = Date.now): RecentWarnings {
  const kept: RecentWarning[] = [];
  return {
    tap(level, event, fields) {
      if (level !== "warn" && level !== "error") return;
      kept.push({ at: clock(), level, event, fields });
      if (kept.length > capacity) kept.shift();
    },
    list: () => [...kept].reverse(),
  };
}
