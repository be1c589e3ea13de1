import type { Logger } from "../log.ts";
import { backoffMs, type RetryPolicy, retryPolicies } from "../shared/retry.ts";

/**
 * Keeps the built-in consumer coming back (src/ingress/kafka.ts says what the consumer does; this says when
 * it is down and what then):
 *
 *   - **A crash kafkajs does not restart from** (CRASH with `restart: false`; kafkajs has then disconnected
 *     that consumer for good): a new consumer is made after a backoff (1 s growing to 30 s, with jitter), and
 *     again after each one that fails before it joins its group, for as long as it takes.
 *   - **A crash kafkajs restarts from** is left to kafkajs; the consumer is down until it joins again.
 *   - **A stall**: joined, but nothing from the brokers (no fetch answered, no heartbeat, no batch done) for
 *     `stallAfterMs` (the session timeout: the broker gives up on the member as soon). It is down until
 *     something answers again.
 *   - **Down for `giveUpAfterMs`** (KAFKA_RECOVERY_TIMEOUT_MS): `live()` turns false, so /healthz answers 503
 *     and an orchestrator restarts portside (one line says so); the attempts go on meanwhile, and `live()`
 *     is true again once a consumer joins.
 */
export interface SupervisorDeps {
  groupId: string;
  logger: Logger;
  /** Closes the consumer that crashed and makes and starts a new one; throws when that could not start. */
  replace(): Promise<void>;
  stallAfterMs: number;
  giveUpAfterMs: number;
  /** Told when the consumer stalls and when it answers again. */
  onStalled(): void;
  onResumed(): void;
  backoff?: RetryPolicy;
  clock?: () => number;
}

export interface Supervisor {
  /** Starts watching for stalls (once the first consumer runs). */
  start(): void;
  /** The consumer joined its group (and holds its assignment): up. */
  joined(): void;
  /** kafkajs heard from the brokers: a fetch answered, a heartbeat, a batch processed. */
  progressed(): void;
  /** The consumer crashed; with `restart` false kafkajs will not bring it back, so a new one is made. */
  crashed(restart: boolean): void;
  /** False once the consumer has been down for `giveUpAfterMs`. */
  live(): boolean;
  /** Stops watching and making consumers; waits a little for an attempt under way. */
  stop(): Promise<void>;
}

/** The shortest wait before a new consumer, whatever the jitter drew: a crash loop must not spin. */
const MIN_DELAY_MS = 500;

export function createSupervisor(deps: SupervisorDeps): Supervisor {
  const { groupId, logger } = deps;
  const clock = deps.clock ?? Date.now;
  const backoff = deps.backoff ?? retryPolicies.kafkaConsumer;
  let phase: "starting" | "up" | "stalled" | "down" = "starting";
  /** When the consumer went down or stalled (undefined while up). */
  let downSince: number | undefined;
  /** Down for `giveUpAfterMs` and said so (see giveUp). */
  let gaveUp = false;
  let lastProgress = clock();
  let attempts = 0;
  let stopped = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let giveUpTimer: ReturnType<typeof setTimeout> | undefined;
  let watchTimer: ReturnType<typeof setInterval> | undefined;
  let attempt: Promise<void> | undefined;
  /** The attempt under way failed, or the consumer it made crashed before it returned. */
  let again = false;

  function goDown(): void {
    if (downSince !== undefined) return;
    downSince = clock();
    giveUpTimer = setTimeout(giveUp, deps.giveUpAfterMs);
  }

  /**
   * Down for `giveUpAfterMs`: `live()` is false from now on, and one line says why. Called by the timer, or by
   * `live()` when it is asked first (a timer fires late on a busy event loop): /healthz never answers 503
   * before the line that explains it.
   */
  function giveUp(): void {
    if (gaveUp || downSince === undefined) return;
    gaveUp = true;
    logger.error("kafka.recovery_failed", {
      groupId,
      downMs: clock() - downSince,
      attempts,
      message: `the Kafka consumer has not consumed for ${Math.round(deps.giveUpAfterMs / 1000)} s (KAFKA_RECOVERY_TIMEOUT_MS): /healthz answers 503 so that the orchestrator restarts portside; new consumers are still tried meanwhile`,
    });
  }

  /** Up again (or answering again): the next time down counts from zero. */
  function upAgain(): void {
    clearTimeout(giveUpTimer);
    downSince = undefined;
    gaveUp = false;
  }

  function comeUp(): void {
    if (downSince !== undefined && attempts > 0) logger.info("kafka.recovered", { groupId, downMs: clock() - downSince, attempts });
    upAgain();
    attempts = 0;
    phase = "up";
    lastProgress = clock();
  }

  function scheduleReplace(): void {
    if (stopped || retryTimer) return;
    // A consumer made by the attempt under way crashed before the attempt returned: next, once it has.
    if (attempt) {
      again = true;
      return;
    }
    attempts += 1;
    const delayMs = Math.max(MIN_DELAY_MS, backoffMs(backoff, attempts));
    logger.warn("kafka.recovering", {
      groupId,
      attempt: attempts,
      delayMs,
      message: `the Kafka consumer stopped and kafkajs will not restart it: a new one is made in ${delayMs} ms`,
    });
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      again = false;
      attempt = deps
        .replace()
        .catch((error) => {
          logger.error("kafka.recovery_attempt_failed", { groupId, attempt: attempts, error });
          again = true;
        })
        .finally(() => {
          attempt = undefined;
          // Counted as a crash of the new consumer: the next attempt waits longer.
          if (again && phase === "down") scheduleReplace();
        });
    }, delayMs);
  }

  return {
    start() {
      lastProgress = clock();
      const every = Math.max(100, Math.min(1_000, Math.floor(deps.stallAfterMs / 4)));
      watchTimer = setInterval(() => {
        if (phase !== "up" || clock() - lastProgress < deps.stallAfterMs) return;
        phase = "stalled";
        goDown();
        logger.warn("kafka.stalled", {
          groupId,
          silentMs: clock() - lastProgress,
          message: "no answer from the Kafka brokers for longer than the session timeout: not ready until they answer again",
        });
        deps.onStalled();
      }, every);
    },
    joined: comeUp,
    progressed() {
      lastProgress = clock();
      if (phase !== "stalled") return;
      logger.info("kafka.answering", { groupId, stalledMs: clock() - (downSince ?? clock()) });
      upAgain();
      phase = "up";
      deps.onResumed();
    },
    crashed(restart) {
      phase = "down";
      goDown();
      if (!restart) scheduleReplace();
    },
    live() {
      if (downSince !== undefined && clock() - downSince >= deps.giveUpAfterMs) giveUp();
      return !gaveUp;
    },
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      clearTimeout(giveUpTimer);
      clearInterval(watchTimer);
      // A new consumer joining a group the brokers do not answer for may take a minute: not that long.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([attempt, new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))]);
      clearTimeout(timer);
    },
  };
}
