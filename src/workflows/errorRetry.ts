import { backoffCeiling } from '../domain/backoff';
import type { ErrorRetry } from './messages';

/**
 * A destination stopped by an error (a terminal Kinesis error, missing credentials, a failed
 * permission check) tries again by itself on this capped exponential schedule: one attempt of
 * the step that failed, whose first calls fail fast while the cause remains, so a broken
 * destination costs a few calls per retry, not a storm.
 */
export const DEFAULT_ERROR_RETRY: ErrorRetry = { initialMs: 10_000, maxMs: 10 * 60_000 };

/** The wait before the automatic retry that follows `failedAttempts` failures in a row. */
export function errorRetryDelay(failedAttempts: number, retry: ErrorRetry): number {
  return backoffCeiling(failedAttempts, { baseMs: retry.initialMs, maxMs: retry.maxMs });
}
