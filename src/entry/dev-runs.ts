import type { Logger } from "../log.ts";
import type { Feed } from "../observe/events.ts";
import type { PortCall } from "../port/calls.ts";

/**
 * `portside dev`'s view of each run as it happens, from the service's event feed: received (and by which
 * way in), each log line and entity write as it is recorded for Port (redacted as Port is told it), and the
 * status with its summary. Logged as `dev.run_received`, `dev.run_log`, `dev.run_entity` and `dev.run_ended`:
 * lines for people on a terminal (log-pretty.ts), JSON otherwise. Returns the way to stop.
 */
export function showRuns(feed: Feed, logger: Logger): () => void {
  // What the lines of a run repeat, kept until it ends (a bounded memory: the oldest runs go first).
  const actions = new Map<string, string | null>();
  const seconds = new Map<string, number>();
  const remember = <T>(map: Map<string, T>, runId: string, value: T) => {
    map.set(runId, value);
    if (map.size > KEPT_RUNS) map.delete(map.keys().next().value as string);
  };
  const stops = [
    feed.on("runAccepted", ({ runId, action, source }) => {
      remember(actions, runId, action);
      logger.info("dev.run_received", { runId, action, source });
    }),
    feed.on("runEnded", (run) => {
      remember(seconds, run.runId, run.seconds);
      if (!actions.get(run.runId)) remember(actions, run.runId, run.action);
    }),
    feed.on("runReports", ({ runId, calls }) => {
      const action = actions.get(runId) ?? null;
      for (const call of calls) {
        if (call.kind === "log") logger.info("dev.run_log", { runId, action, message: call.message });
        else if (call.kind === "update" && call.patch.status !== undefined) {
          logger.info("dev.run_ended", { runId, action, status: call.patch.status, summary: call.patch.summary ?? null, seconds: seconds.get(runId) });
          actions.delete(runId);
          seconds.delete(runId);
        } else for (const entity of entitiesOf(call)) logger.info("dev.run_entity", { runId, action, entity });
      }
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}

const KEPT_RUNS = 10_000;

/** The entities a call writes, as `blueprint/identifier` (and what it does to them, when not an upsert). */
function entitiesOf(call: PortCall): string[] {
  switch (call.kind) {
    case "entity":
      return [`${call.blueprint}/${call.entity.identifier}`];
    case "entityBulk":
      return call.entities.map((entity) => `${call.blueprint}/${entity.identifier}`);
    case "entityUpdate":
      return [`${call.blueprint}/${call.identifier} (updated)`];
    case "entityDelete":
      return [`${call.blueprint}/${call.identifier} (deleted)`];
    default:
      return [];
  }
}
