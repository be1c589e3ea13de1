import Runner from "kafkajs/src/consumer/runner.js";
import { KafkaJSNonRetriableError } from "kafkajs";
import "../../src/shared/kafkajs-patch.ts";

/**
 * Failures kafkajs does not come back from by itself, made on purpose in its consumer runner for one
 * consumer group of this test process: the same path as a real one (kafkajs's `onCrash` disconnects the
 * consumer and emits CRASH with `restart: false`), at a moment the test chooses instead of after a lucky
 * interleaving of rebalances. Nothing else of kafkajs is changed; other groups are left alone.
 */
interface RunnerInternals {
  consumerGroup: { groupId: string };
  onCrash(error: Error): Promise<void>;
  start(): Promise<void>;
  processEachBatch(batch: unknown): Promise<void>;
}
const proto = (Runner as { prototype: RunnerInternals }).prototype;
const crashBatch = new Set<string>();
const failStart = new Set<string>();
const { processEachBatch, start } = proto;

proto.processEachBatch = function (this: RunnerInternals, batch: unknown) {
  // A TypeError is one kafkajs never retries: the runner crashes and the consumer is not restarted.
  if (crashBatch.delete(this.consumerGroup.groupId)) return Promise.reject(new TypeError("fault injected by the test: the batch's processing broke"));
  return processEachBatch.call(this, batch);
};
proto.start = function (this: RunnerInternals) {
  if (failStart.has(this.consumerGroup.groupId)) return this.onCrash(new KafkaJSNonRetriableError("fault injected by the test: the consumer could not join"));
  return start.call(this);
};

/** The next batch of `groupId` crashes its consumer (`kafka.crashed`, restart false). */
export const crashNextBatch = (groupId: string): void => void crashBatch.add(groupId);

/** Every consumer of `groupId` started from now on crashes before it joins, until `allowStarts`. */
export const failStarts = (groupId: string): void => void failStart.add(groupId);
export const allowStarts = (groupId: string): void => void failStart.delete(groupId);
