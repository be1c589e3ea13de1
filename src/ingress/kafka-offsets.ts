import type { Admin, Consumer } from "kafkajs";
import type { Logger } from "../log.ts";

/**
 * Where the built-in consumer starts a partition for which its group has no committed offset. Left to
 * kafkajs, such a partition starts at the end of the topic (at its beginning with KAFKA_FROM_BEGINNING)
 * without a word — also when the topic was deleted and created again under a running group, whose offsets
 * the broker deletes with the topic: whatever was produced to the new topic before the consumer came back
 * was skipped. So at every assignment, before its partitions are read (src/ingress/kafka.ts pauses them
 * meanwhile), and again after a fetch failed (a topic deleted answers "unknown topic" until it is created
 * again, and kafkajs then reads the new topic from the old position without joining again):
 *
 *   - the group's committed offsets of the assigned partitions are read;
 *   - a partition without one starts at the **beginning** when the group is known to have read its topic
 *     (another partition of the topic has a committed offset, or this process saw one), else where
 *     KAFKA_FROM_BEGINNING says (a new group: the end by default, so old runs are not executed); one warning
 *     line names the partitions, where they start and why;
 *   - a committed offset past the partition's end (the topic recreated before the broker dropped the group's
 *     offsets of the old one) is a reset too: read from the beginning, with a warning;
 *   - that start is committed, so a restart before any record arrives starts there too.
 *
 * What this process knows is lost with it: a topic recreated while no member of the group ran is started
 * per KAFKA_FROM_BEGINNING, as a new group's.
 */
export interface StartPositions {
  /**
   * Settles where each assigned partition (by topic) is read from: the offset each will be read from next
   * (`topic/partition` → offset), and the partitions given a start here (sought to it).
   */
  settle(consumer: Consumer, admin: Admin, assigned: Record<string, number[]>): Promise<{ next: Map<string, bigint>; moved: Set<string> }>;
}

export function createStartPositions(deps: { groupId: string; fromBeginning: boolean; logger: Logger }): StartPositions {
  const { groupId, logger } = deps;
  /** Topics the group is known to have read (committed offsets seen by this process). */
  const known = new Set<string>();
  return {
    async settle(consumer, admin, assigned) {
      const next = new Map<string, bigint>();
      const moved = new Set<string>();
      const topics = Object.keys(assigned).filter((topic) => (assigned[topic]?.length ?? 0) > 0);
      if (topics.length === 0) return { next, moved };
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics })) {
        const committed = new Map(partitions.filter((p) => BigInt(p.offset) >= 0n).map((p) => [p.partition, BigInt(p.offset)]));
        if (committed.size > 0) known.add(topic);
        const marks = new Map((await admin.fetchTopicOffsets(topic)).map((m) => [m.partition, { low: m.low, high: m.high }]));
        const missing: number[] = [];
        const beyond: Array<{ partition: number; committed: bigint; high: string }> = [];
        for (const partition of assigned[topic] ?? []) {
          const offset = committed.get(partition);
          const high = marks.get(partition)?.high ?? "0";
          if (offset === undefined) missing.push(partition);
          // Past the end: the offset of a topic deleted and created again before the broker dropped it.
          else if (offset > BigInt(high)) beyond.push({ partition, committed: offset, high });
          else next.set(`${topic}/${partition}`, offset);
        }
        const low = (partition: number) => marks.get(partition)?.low ?? "0";
        for (const { partition, committed: offset, high } of beyond) {
          logger.warn("kafka.offsets_reset", {
            groupId,
            partition: `${topic}/${partition}`,
            from: offset.toString(),
            to: low(partition),
            message: `the committed offset ${offset} of ${topic}/${partition} is past its end (${high}): the topic was deleted and created again, or its records were deleted. It is read from its beginning; what the ledger already has is not run again.`,
          });
        }
        const starts = beyond.map(({ partition }) => ({ topic, partition, offset: low(partition) }));
        if (missing.length > 0) {
          missing.sort((a, b) => a - b);
          const wasKnown = known.has(topic);
          const beginning = wasKnown || deps.fromBeginning;
          const from = missing.map((partition) => ({ topic, partition, offset: beginning ? low(partition) : (marks.get(partition)?.high ?? "0") }));
          logger.warn("kafka.no_committed_offset", {
            groupId,
            topic,
            partitions: missing,
            startsAt: beginning ? "beginning" : "end",
            offsets: from.map((s) => s.offset),
            message: wasKnown
              ? `consumer group ${groupId} has no committed offset for partitions ${missing.join(", ")} of ${topic} though it read this topic before: the topic was deleted and created again, or the group's offsets were deleted or expired. They are read from their beginning; what the ledger already has is not run again.`
              : `consumer group ${groupId} has no committed offset for partitions ${missing.join(", ")} of ${topic}: ${
                  beginning
                    ? "they are read from their beginning (KAFKA_FROM_BEGINNING=true)"
                    : "they are read from their end (KAFKA_FROM_BEGINNING=false), so records already there are not read"
                }.`,
          });
          starts.push(...from);
        }
        if (starts.length === 0) continue;
        await consumer.commitOffsets(starts);
        for (const start of starts) {
          consumer.seek(start);
          next.set(`${topic}/${start.partition}`, BigInt(start.offset));
          moved.add(`${topic}/${start.partition}`);
        }
        known.add(topic);
      }
      return { next, moved };
    },
  };
}
