import { backoffDelay } from '../domain/backoff';
import type { BackoffOptions } from '../domain/backoff';
import { classifyEntryError, classifyError, terminalError } from './errors';

export interface RetryOptions {
  backoff?: BackoffOptions;
  /**
   * Attempts of a record whose calls fail as a whole (5xx, network, timeout, throttled call)
   * before the error is rethrown for the activity's retry policy. Entries that fail inside a
   * successful response are resent without limit: the service accepted the call, only capacity
   * is short.
   */
  maxCallAttempts?: number;
}

const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ baseMs: 100, maxMs: 10_000 });
const DEFAULT_MAX_CALL_ATTEMPTS = 8;
/**
 * Cap on the backoff of entries that failed inside a successful response. The limiter already
 * slowed the send rate, and a shard's capacity is metered per second: waiting longer than that
 * finds no more capacity, it only leaves the stream idle at the end of a write.
 */
const ENTRY_RETRY_MAX_MS = 1000;

/** What to do after a call failed as a whole. */
export type CallFailureDecision =
  { retry: true; delayMs: number; throttled: boolean } | { retry: false; error: unknown; throttled: boolean };

/** When failed records go again, and when a failure is final. Holds no state of its own. */
export class RetryPolicy {
  private readonly backoff: BackoffOptions;
  private readonly maxCallAttempts: number;

  constructor(options: RetryOptions = {}) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.maxCallAttempts = options.maxCallAttempts ?? DEFAULT_MAX_CALL_ATTEMPTS;
    backoffDelay(1, this.backoff); // validates the options before any call
    if (!(this.maxCallAttempts >= 1)) throw new RangeError(`maxCallAttempts must be >= 1, got ${this.maxCallAttempts}`);
  }

  /** Whether an entry's ErrorCode says the stream is short of capacity (a signal to slow down). */
  isThrottle(errorCode: string): boolean {
    return classifyEntryError(errorCode).throttled;
  }

  /** The wait before resending entries of which the most failed one failed `failures` times inside answers. */
  entryDelay(failures: number): number {
    const { baseMs, maxMs } = this.backoff;
    return backoffDelay(failures, { ...this.backoff, maxMs: Math.max(baseMs, Math.min(maxMs, ENTRY_RETRY_MAX_MS)) });
  }

  /** After the `attempts`-th failure of a call as a whole: retry after a backoff, or stop with the error. */
  afterCallFailure(error: unknown, attempts: number): CallFailureDecision {
    const classified = classifyError(error);
    const throttled = classified.throttled;
    if (classified.kind === 'terminal')
      return { retry: false, error: terminalError(classified, 'PutRecords'), throttled };
    if (attempts >= this.maxCallAttempts) return { retry: false, error, throttled };
    return { retry: true, delayMs: backoffDelay(attempts, this.backoff), throttled };
  }
}
