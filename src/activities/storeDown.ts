import { ApplicationFailure } from '@temporalio/activity';
import { StoreUnavailableError } from '../store/storeUnavailable';

/** The failure type of an activity whose store stayed unreachable. */
const STORE_UNAVAILABLE = 'StoreUnavailable';

/**
 * A store that stayed unreachable for as long as the store waits becomes a non-retryable
 * failure naming it (with `progress`, if any, as details): the destination then shows `error`
 * with that line and tries again on its error schedule, instead of retrying the activity out of
 * sight for as long as the outage lasts. Any other error is returned as it is.
 */
export function storeDownFailure(err: unknown, progress?: unknown): unknown {
  if (!(err instanceof StoreUnavailableError)) return err;
  return ApplicationFailure.create({
    type: STORE_UNAVAILABLE,
    message: err.message,
    nonRetryable: true,
    details: progress === undefined ? [] : [progress],
  });
}

/** `activity` with an unreachable store reported as storeDownFailure says. */
export function reportingStoreDown<A extends unknown[], R>(activity: (...args: A) => Promise<R>) {
  return async (...args: A): Promise<R> => {
    try {
      return await activity(...args);
    } catch (err) {
      throw storeDownFailure(err);
    }
  };
}
