/**
 * A token bucket that keeps this process under the account's PutEvents quota (requests per second per
 * account and region, as low as 400 in some regions). Going over costs throttled entries and retries;
 * waiting a little here is cheaper. Callers are served first come, first served.
 */

export interface TokenBucketOptions {
  ratePerSecond: number;
  /** How many calls may go at once after a quiet spell (default: one second's worth). */
  burst?: number;
  clock: () => number;
  sleep: (ms: number) => Promise<void>;
}

export interface TokenBucket {
  /** Resolves when one call may be made. */
  take(): Promise<void>;
}

export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const rate = options.ratePerSecond / 1000; // tokens per ms
  const capacity = Math.max(1, options.burst ?? options.ratePerSecond);
  let tokens = capacity;
  let last = options.clock();
  // A chain, so concurrent callers wait their turn instead of all waking at once.
  let queue: Promise<void> = Promise.resolve();

  const refill = () => {
    const now = options.clock();
    tokens = Math.min(capacity, tokens + Math.max(0, now - last) * rate);
    last = now;
  };

  const takeOne = async () => {
    refill();
    while (tokens < 1) {
      await options.sleep(Math.ceil((1 - tokens) / rate));
      refill();
    }
    tokens -= 1;
  };

  return {
    take() {
      const turn = queue.then(takeOne);
      queue = turn.catch(() => {});
      return turn;
    },
  };
}
