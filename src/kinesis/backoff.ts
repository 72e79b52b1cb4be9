/** Exponential backoff with full jitter (AWS architecture blog): spreads retries of many senders. */
export interface BackoffOptions {
  /** Upper bound of the first delay, in milliseconds. */
  baseMs: number;
  /** Cap on the upper bound, in milliseconds. */
  maxMs: number;
  /** Uniform in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ baseMs: 100, maxMs: 10_000 });

/**
 * The capped exponential schedule: the bound on the delay before retry number `attempt` (1 for
 * the first), min(maxMs, baseMs * 2^(attempt-1)). Deterministic, so workflow code can use it too.
 */
export function backoffCeiling(attempt: number, options: Pick<BackoffOptions, 'baseMs' | 'maxMs'>): number {
  if (!(options.baseMs >= 0 && options.maxMs >= options.baseMs)) {
    throw new RangeError(`backoff needs 0 <= baseMs <= maxMs, got baseMs=${options.baseMs} maxMs=${options.maxMs}`);
  }
  // Past 2^30 the cap has long been reached; bounding the exponent keeps the arithmetic finite.
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  return Math.min(options.maxMs, options.baseMs * 2 ** exponent);
}

/** The delay before retry number `attempt` (1 for the first retry): uniform in [0, backoffCeiling(attempt)). */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const random = options.random ?? Math.random;
  return Math.floor(random() * backoffCeiling(attempt, options));
}
