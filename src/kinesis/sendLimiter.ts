/** How the call carrying a permit's records went. */
export type CallOutcome =
  /** Every entry accepted. */
  | 'success'
  /** At least one entry or the call was throttled: the stream is short of capacity. */
  | 'throttled'
  /** Failed for another reason (5xx, network, timeout). */
  | 'failed'
  /** Never sent (the write stopped first): says nothing about the endpoint. */
  | 'cancelled';

export interface Permit {
  /**
   * Reports the outcome of the call and how many of its records the service accepted; only the
   * first report of a permit counts.
   */
  release(outcome: CallOutcome, accepted?: number): void;
}

/**
 * Decides when a PutRecords call may go, as Flink's RateLimitingStrategy does for its sink: the
 * writer asks before each call and reports how it went, and knows nothing of the policy.
 */
export interface SendLimiter {
  /** Resolves when a call carrying `records` may start; rejects with the signal's reason if aborted while waiting. */
  acquire(records: number, signal?: AbortSignal): Promise<Permit>;
  /** The most records one call should carry. */
  readonly maxPermits: number;
  /** Records per second allowed now (Infinity: no limit on the rate). */
  readonly rate: number;
}

/** The reason a limiter rejects a wait with when the signal aborts it. */
export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('aborted', { cause: reason });
}

/**
 * A limiter that waits for each of `limiters` in turn (the last one closest to the call, so a
 * limiter that times calls sees no time spent waiting on the others) and reports to all of them.
 */
export function combineLimiters(...limiters: readonly SendLimiter[]): SendLimiter {
  return {
    async acquire(records, signal) {
      const permits: Permit[] = [];
      try {
        for (const limiter of limiters) permits.push(await limiter.acquire(records, signal));
      } catch (error) {
        for (const permit of permits) permit.release('cancelled');
        throw error;
      }
      return { release: (outcome, accepted) => permits.forEach((permit) => permit.release(outcome, accepted)) };
    },
    get maxPermits() {
      return Math.min(...limiters.map((l) => l.maxPermits));
    },
    get rate() {
      return Math.min(...limiters.map((l) => l.rate));
    },
  };
}
