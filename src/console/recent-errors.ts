import type { LogFields, Logger } from "../log.ts";

/**
 * The last warnings and errors this process logged, for the console's health panel: the event name, when,
 * and the fields a log line already carries (which never hold a record's values).
 */
export interface RecentError {
  at: number;
  level: "warn" | "error";
  event: string;
  fields: LogFields;
}

export function withRecentErrors(logger: Logger, capacity = 20, clock: () => number = Date.now): { logger: Logger; recent(): RecentError[] } {
  const recent: RecentError[] = [];
  const keep = (level: "warn" | "error", event: string, fields: LogFields) => {
    recent.push({ at: clock(), level, event, fields });
    if (recent.length > capacity) recent.shift();
  };
  const wrap = (inner: Logger, bound: LogFields): Logger => ({
    debug: (e, f) => inner.debug(e, f),
    info: (e, f) => inner.info(e, f),
    warn: (e, f) => {
      keep("warn", e, { ...bound, ...f });
      inner.warn(e, f);
    },
    error: (e, f) => {
      keep("error", e, { ...bound, ...f });
      inner.error(e, f);
    },
    child: (fields) => wrap(inner.child(fields), { ...bound, ...fields }),
  });
  return { logger: wrap(logger, {}), recent: () => [...recent].reverse() };
}
