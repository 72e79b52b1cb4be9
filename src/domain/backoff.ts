/**
 * Capped exponential backoff, the one schedule behind both retries: the Kinesis writer's resends
 * (with full jitter, AWS architecture blog: spreads retries of many senders) and the destination
 * actor's automatic retry after an error (deterministic: workflow code uses the ceiling alone).
 */
export interface BackoffOptions {
  /** Upper bound of the first delay, in milliseconds. */
  baseMs: number;
  /** Cap on the upper bound, in milliseconds. */
  maxMs: number;
  /** Uniform in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

/**
 * The bound on the delay before retry number `attempt` (1 for the first, below 1 counting as
 * the first): min(maxMs, baseMs * 2^(attempt-1)).
 */
export function backoffCeiling(attempt: number, options: Pick<BackoffOptions, 'baseMs' | 'maxMs'>): number {
  // Past 2^30 the cap has long been reached; bounding the exponent keeps the arithmetic finite.
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  return Math.min(options.maxMs, options.baseMs * 2 ** exponent);
}

/** The delay before retry number `attempt` (1 for the first retry): uniform in [0, backoffCeiling(attempt)). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  if (!(options.baseMs >= 0 && options.maxMs >= options.baseMs)) {
    throw new RangeError(`backoff needs 0 <= baseMs <= maxMs, got baseMs=${options.baseMs} maxMs=${options.maxMs}`);
  }
  const random = options.random ?? Math.random;
  return Math.floor(random() * backoffCeiling(attempt, options));
}
