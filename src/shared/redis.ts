import { Redis, type RedisOptions } from "ioredis";

/**
 * A Redis connection for the ledger and the shared token store. ioredis reconnects by itself; what it
 * reports while Redis is away goes to `onError` (a structured log line, at most one per interval), never
 * to ioredis's own "Unhandled error event" printout with a stack.
 */
export interface RedisConnectionOptions extends RedisOptions {
  /** Connection errors, throttled: `count` is how many arrived since the last call. */
  onError?: (error: Error, count: number) => void;
  /** Least time between two `onError` calls (default 10 s). */
  errorIntervalMs?: number;
}

export function connectRedis(url: string, options: RedisConnectionOptions = {}): Redis {
  const { onError, errorIntervalMs = 10_000, ...redisOptions } = options;
  const redis = new Redis(url, redisOptions);
  let lastAt = 0;
  let count = 0;
  redis.on("error", (error: Error) => {
    count++;
    const now = Date.now();
    if (now - lastAt < errorIntervalMs) return;
    lastAt = now;
    onError?.(error, count);
    count = 0;
  });
  return redis;
}

/** Where a store's Redis comes from: a URL it connects to (and closes), or a client the caller owns. */
export type RedisSource = { url: string; onConnectionError?: (error: Error, count: number) => void } | { client: Redis };

/** The store's connection for `source`, and whether the store owns it (opened it, so closes it). */
export function redisOf(source: RedisSource, options: RedisOptions = {}): { redis: Redis; owned: boolean } {
  if (!("url" in source)) return { redis: source.client, owned: false };
  return { redis: connectRedis(source.url, { ...options, ...(source.onConnectionError ? { onError: source.onConnectionError } : {}) }), owned: true };
}
