import RequestQueue from "kafkajs/src/network/requestQueue/index.js";

/**
 * kafkajs 2.2.4 (its last release) schedules the check of its request queue `throttledUntil - now` ms
 * ahead even when nothing is pending and nothing throttled; `throttledUntil` starts at -1, so the delay
 * is minus the epoch, which Node and Bun clamp to 1 ms with a TimeoutNegativeWarning on every idle
 * connection. In exactly that case there is nothing to check, so nothing is scheduled.
 *
 * Imported for its effect, once per process, by everything that uses kafkajs: portside's client
 * (./kafka.ts), the local stack and trigger, the benchmark's producer and the tests' Kafka.
 */
interface Queue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: unknown;
  scheduleCheckPendingRequests(): void;
}
const proto = (RequestQueue as { prototype: Queue }).prototype;
const schedule = proto.scheduleCheckPendingRequests;
if (typeof schedule === "function" && !(schedule as { fixed?: true }).fixed) {
  const fixed = function (this: Queue) {
    if (!this.throttleCheckTimeoutId && this.pending.length === 0 && this.throttledUntil <= Date.now()) return;
    schedule.call(this);
  };
  Object.assign(fixed, { fixed: true });
  proto.scheduleCheckPendingRequests = fixed;
}
