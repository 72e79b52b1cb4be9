/**
 * AIMD rate limiter for one Kinesis destination, after Flink's congestion-control strategy.
 *
 * It limits RECORDS PER SECOND (a token bucket whose refill rate AIMD adjusts), not records in
 * flight: Kinesis throttles each shard per second (1,000 records, 1 MiB), so a limit on records
 * in flight would allow a different send rate for every round-trip time, and on a fast link
 * even a small in-flight limit overruns a one-shard stream. Calls in flight are limited apart
 * (ConcurrencyLimiter, which the writer combines with this one).
 *
 * It starts fast (a stream that never throttles is never slowed down) and learns the stream's
 * capacity from the first throttle, dropping to the rate the stream accepted in the last second.
 * Later decreases halve, but never below that accepted rate: halving blindly from just above
 * capacity would leave half the shards' capacity unused while the additive increase climbs back.
 */

import { systemClock } from './clock';
import type { Clock } from './clock';
import { abortReason } from './sendLimiter';
import type { Permit, SendLimiter } from './sendLimiter';

export interface AimdRateLimiterOptions {
  /** Records per second at the start. */
  initialRate?: number;
  minRate?: number;
  maxRate?: number;
  /** Records per second added after each call in which every entry was accepted. */
  increasePerCall?: number;
  /**
   * Factor applied to the rate when a call had throttled entries, unless the stream accepted
   * more than that in the last second (then the rate drops to what it accepted).
   */
  decreaseFactor?: number;
  /** Bucket size, in seconds of the current rate: how far a send may burst after a pause. */
  burstSeconds?: number;
  clock?: Clock;
}

interface Waiter {
  count: number;
  resolve(permit: Permit): void;
}

/** The window over which accepted records are counted: Kinesis meters shards per second. */
const ACCEPTED_WINDOW_MS = 1000;

const DEFAULTS = {
  // As fast as a plain loop until the stream first throttles.
  initialRate: 100_000,
  minRate: 10,
  maxRate: 100_000,
  increasePerCall: 100,
  decreaseFactor: 0.5,
  burstSeconds: 1,
};

export class AimdRateLimiter implements SendLimiter {
  private currentRate: number;
  private tokens: number;
  private refilledAt: number;
  /** Bumped on every decrease: calls sent before it must not shrink the rate a second time. */
  private epoch = 0;
  private readonly queue: Waiter[] = [];
  /** Records accepted by the service, with when: the last second of it. */
  private readonly accepted: { at: number; count: number }[] = [];
  private timer: unknown;
  private readonly settings: Required<Omit<AimdRateLimiterOptions, 'clock'>>;
  private readonly clock: Clock;

  constructor(options: AimdRateLimiterOptions = {}) {
    const { clock, ...rest } = options;
    this.settings = { ...DEFAULTS, ...stripUndefined(rest) };
    const { minRate, maxRate, initialRate, decreaseFactor, increasePerCall, burstSeconds } = this.settings;
    if (!(minRate > 0 && minRate <= initialRate && initialRate <= maxRate)) {
      throw new RangeError(
        `rate limiter needs 0 < minRate <= initialRate <= maxRate, got ${minRate}, ${initialRate}, ${maxRate}`,
      );
    }
    if (!(decreaseFactor > 0 && decreaseFactor < 1))
      throw new RangeError(`decreaseFactor must be in (0, 1), got ${decreaseFactor}`);
    if (!(increasePerCall >= 0)) throw new RangeError(`increasePerCall must be >= 0, got ${increasePerCall}`);
    if (!(burstSeconds > 0)) throw new RangeError(`burstSeconds must be > 0, got ${burstSeconds}`);
    this.clock = clock ?? systemClock;
    this.currentRate = initialRate;
    this.tokens = this.capacity;
    this.refilledAt = this.clock.now();
  }

  /** The current limit, in records per second. */
  get rate(): number {
    return this.currentRate;
  }

  /** The most records one permit should ask for: a batch never needs more than one full bucket. */
  get maxPermits(): number {
    return Math.max(1, Math.floor(this.capacity));
  }

  /**
   * Resolves when `count` records may be sent. Waiters are served in order; a request larger
   * than the bucket is granted when the bucket is full and leaves it in debt, so the average
   * rate holds. Rejects with the signal's reason if aborted while waiting.
   */
  acquire(count: number, signal?: AbortSignal): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = {
        count,
        resolve: (permit) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(permit);
        },
      };
      const onAbort = (): void => {
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
        reject(abortReason(signal));
        this.pump();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  private get capacity(): number {
    return Math.max(1, this.currentRate * this.settings.burstSeconds);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilledAt) * this.currentRate) / 1000);
    this.refilledAt = now;
  }

  /** Grants what the bucket allows, then sleeps (one timer) until the next waiter can be served. */
  private pump(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.refill();
    let head = this.queue[0];
    while (head !== undefined && this.tokens >= Math.min(head.count, this.capacity)) {
      this.queue.shift();
      this.tokens -= head.count;
      head.resolve(this.permit());
      head = this.queue[0];
    }
    if (head === undefined) return;
    const missing = Math.min(head.count, this.capacity) - this.tokens;
    const waitMs = Math.max(1, Math.ceil((missing * 1000) / this.currentRate));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, waitMs);
  }

  private permit(): Permit {
    const epoch = this.epoch;
    let released = false;
    return {
      release: (outcome, accepted = 0) => {
        if (released) return;
        released = true;
        this.noteAccepted(accepted);
        if (outcome === 'success')
          this.adjust(Math.min(this.settings.maxRate, this.currentRate + this.settings.increasePerCall));
        // Concurrent calls sent at the old rate all come back throttled; decreasing once per
        // epoch keeps one burst from collapsing the rate to the minimum.
        else if (outcome === 'throttled' && epoch === this.epoch) {
          const accepted = Math.min(this.acceptedLastSecond(), this.currentRate);
          // Until the first throttle the rate was a guess and the sender went as fast as it could,
          // so what the stream accepted meanwhile is its capacity: go there at once.
          const floor = this.epoch === 0 && accepted > 0 ? 0 : this.currentRate * this.settings.decreaseFactor;
          this.epoch += 1;
          this.adjust(Math.max(this.settings.minRate, floor, accepted));
        }
      },
    };
  }

  /** Keeps the last second of acceptances (older ones are dropped as time moves on). */
  private noteAccepted(count: number): void {
    const now = this.clock.now();
    while (this.accepted[0] !== undefined && this.accepted[0].at <= now - ACCEPTED_WINDOW_MS) this.accepted.shift();
    if (count > 0) this.accepted.push({ at: now, count });
  }

  private acceptedLastSecond(): number {
    return this.accepted.reduce((sum, a) => sum + a.count, 0);
  }

  private adjust(rate: number): void {
    this.refill();
    this.currentRate = rate;
    this.tokens = Math.min(this.tokens, this.capacity);
    // The waiter at the head may now be served sooner or later than its timer says.
    if (this.queue.length > 0) this.pump();
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
