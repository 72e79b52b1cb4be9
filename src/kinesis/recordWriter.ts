import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { batchFiller, DEFAULT_LIMITS, rejectReason, validateLimits } from './batcher';
import type { BatchLimits, RejectedRecord } from './batcher';
import { recordSize } from './outgoingRecord';
import type { OutgoingRecord } from './outgoingRecord';
import { ProfileQueue } from './profileQueue';
import { putRecords } from './putRecordsCall';
import { ConcurrencyLimiter } from './concurrencyLimiter';
import { AimdRateLimiter } from './rateLimiter';
import { RetryPolicy } from './retryPolicy';
import type { RetryOptions } from './retryPolicy';
import { combineLimiters } from './sendLimiter';
import type { Permit, SendLimiter } from './sendLimiter';

export interface RecordWriterOptions extends RetryOptions {
  /** The most PutRecords calls in flight at once; the limiter may allow fewer. */
  concurrency?: number;
  limits?: BatchLimits;
  /** Says when calls go; by default `adaptiveLimiter(concurrency)`, private to the writer. */
  limiter?: SendLimiter;
}

export interface WriteStats {
  /** PutRecords calls made, failed ones included. */
  calls: number;
  /** Records acknowledged by Kinesis. */
  recordsSent: number;
  /** Resends of entries, after a failed entry or a failed call. */
  retriedEntries: number;
  /** Entries that came back with ProvisionedThroughputExceededException. */
  throttledEntries: number;
  /** Records that can never be sent, with the reason; the rest were not held back by them. */
  deadLettered: RejectedRecord[];
  /** The limiter's rate when the write ended, in records per second. */
  rateLimit: number;
  /** Per-record ErrorCodes seen, by code (unexpected codes show up here). */
  entryErrors: Record<string, number>;
}

/** The most PutRecords calls a writer keeps in flight. */
export const DEFAULT_CONCURRENCY = 8;

/**
 * The send rate adapted to throttling (AIMD, records per second) and the calls in flight adapted
 * to the endpoint's latency, at most `maxCalls`.
 */
export function adaptiveLimiter(maxCalls = DEFAULT_CONCURRENCY): SendLimiter {
  return combineLimiters(new AimdRateLimiter(), new ConcurrencyLimiter({ maxLimit: maxCalls }));
}

interface WriterSettings {
  concurrency: number;
  limits: BatchLimits;
  limiter: SendLimiter;
  retry: RetryPolicy;
}

/**
 * Writes records to one stream with PutRecords, in Flink's sink's shape: a per-profile ordered
 * queue (ProfileQueue) feeds batches filled by the one packing rule (batchFiller) to several
 * calls in flight; a limiter (SendLimiter) says when a call may go; a RetryPolicy says when
 * failed records go again (only failed entries are resent) and when a failure is final.
 * Records of one profile are never in flight together and are acknowledged in input order.
 */
export class KinesisRecordWriter {
  private readonly settings: WriterSettings;
  private openSessions = 0;

  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
    options: RecordWriterOptions = {},
  ) {
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    }
    this.settings = {
      concurrency,
      limits: options.limits ?? DEFAULT_LIMITS,
      limiter: options.limiter ?? adaptiveLimiter(concurrency),
      retry: new RetryPolicy(options),
    };
    validateLimits(this.settings.limits);
  }

  /** The limiter deciding when this writer's calls go. */
  get limiter(): SendLimiter {
    return this.settings.limiter;
  }

  /** No session is open: nothing is queued, in flight or backing off. */
  get idle(): boolean {
    return this.openSessions === 0;
  }

  /**
   * Sends every sendable record and resolves once all were acknowledged and passed to `onAcked`
   * (see `open`); the records that can never be sent are in the stats' `deadLettered`.
   */
  write(
    records: readonly OutgoingRecord[],
    onAcked: (records: OutgoingRecord[]) => Promise<void>,
    options: { signal?: AbortSignal } = {},
  ): Promise<WriteStats> {
    const session = this.open(onAcked, options);
    session.add(records);
    return session.end();
  }

  /**
   * Starts a write that takes records as the caller produces them, so producing the next records
   * overlaps with sending the earlier ones. Each acknowledged group is passed to `onAcked` (the
   * caller writes its ledger there; calls may overlap, but never for the same profile). The
   * session fails with a KinesisTerminalError on a terminal error, with the last error when a
   * call kept failing, with onAcked's error, or with the signal's reason; calls already in flight
   * are finished and acknowledged first (except on abort; an activity passes its cancellation
   * signal). The per-profile guarantees hold within one session: callers run one session at a
   * time per destination.
   */
  open(onAcked: (records: OutgoingRecord[]) => Promise<void>, options: { signal?: AbortSignal } = {}): WriteSession {
    const run = new WriteRun(this.client, this.streamName, this.settings, onAcked, options.signal);
    this.openSessions += 1;
    const closed = (): void => {
      this.openSessions -= 1;
    };
    void run.settled.then(closed, closed);
    return run;
  }
}

/** An open write: records go in with `add`, and `end` waits until all are acknowledged. */
export interface WriteSession {
  /**
   * Queues records behind the ones added before and returns those that can never be sent (also
   * counted in the stats' `deadLettered`). Throws the session's error once it has failed.
   */
  add(records: readonly OutgoingRecord[]): RejectedRecord[];
  /** Resolves once at most `limit` added records are unacknowledged; rejects once the session failed. */
  whenAtMost(limit: number): Promise<void>;
  /** Fails the session (for the caller's own error): nothing more is sent. */
  cancel(reason: unknown): void;
  /** Nothing more will be added: resolves with the stats once every record was acknowledged. */
  end(): Promise<WriteStats>;
}

interface Entry {
  record: OutgoingRecord;
  size: number;
  /** Times this entry came back failed inside a successful response. */
  entryFailures: number;
  /** Times a call carrying this entry failed as a whole. */
  callFailures: number;
}

/** The state of one write: the queue, the calls in flight, what failed. */
class WriteRun implements WriteSession {
  private readonly queue = new ProfileQueue<Entry>((entry) => entry.record.profileId);
  private ended = false;
  private readonly roomWaiters: { limit: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private readonly backoffTimers = new Set<NodeJS.Timeout>();
  private failure: { error: unknown } | undefined;
  /** Cancels limiter waits when the run fails. */
  private readonly stopping = new AbortController();
  private wakeUp: () => void = () => undefined;
  private readonly stats: WriteStats;
  /** Resolves once the senders stopped: every call has finished, and the session has ended or failed. */
  readonly settled: Promise<void>;
  private readonly onAbort = (): void => this.fail(this.signal?.reason ?? new Error('write aborted'));

  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
    private readonly settings: WriterSettings,
    private readonly onAcked: (records: OutgoingRecord[]) => Promise<void>,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.stats = {
      calls: 0,
      recordsSent: 0,
      retriedEntries: 0,
      throttledEntries: 0,
      deadLettered: [],
      rateLimit: settings.limiter.rate,
      entryErrors: {},
    };
    if (this.signal?.aborted) this.onAbort();
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.settled = Promise.all(Array.from({ length: this.settings.concurrency }, () => this.sender())).then(
      () => undefined,
    );
  }

  add(records: readonly OutgoingRecord[]): RejectedRecord[] {
    if (this.failure) throw this.failure.error;
    if (this.ended) throw new Error('records added to a write that has ended');
    const rejected: RejectedRecord[] = [];
    for (const record of records) {
      const reason = rejectReason(record, this.settings.limits);
      if (reason !== undefined) rejected.push({ record, ...reason });
      else this.queue.add({ record, size: recordSize(record), entryFailures: 0, callFailures: 0 });
    }
    this.stats.deadLettered.push(...rejected);
    this.notify();
    return rejected;
  }

  async whenAtMost(limit: number): Promise<void> {
    if (this.failure) throw this.failure.error;
    if (this.queue.outstanding <= limit) return;
    await new Promise<void>((resolve, reject) => this.roomWaiters.push({ limit, resolve, reject }));
  }

  cancel(reason: unknown): void {
    this.fail(reason);
  }

  async end(): Promise<WriteStats> {
    this.ended = true;
    this.notify();
    try {
      await this.settled;
    } finally {
      this.signal?.removeEventListener('abort', this.onAbort);
    }
    this.stats.rateLimit = this.settings.limiter.rate;
    if (this.failure) throw this.failure.error;
    return this.stats;
  }

  /**
   * One of `concurrency` senders: takes the next batch, sends it, repeats until the write ended and nothing is left.
   */
  private async sender(): Promise<void> {
    while (!this.failure && !(this.ended && this.queue.outstanding === 0)) {
      const fits = batchFiller(this.settings.limits, this.settings.limiter.maxPermits);
      const batch = this.queue.take((entry) => fits(entry.size));
      if (batch.length === 0) {
        // Everything left is in flight or backing off, or nothing was added yet: wait for a change.
        await new Promise<void>((resolve) => {
          const previous = this.wakeUp;
          this.wakeUp = () => {
            previous();
            resolve();
          };
        });
        continue;
      }
      await this.send(batch);
    }
  }

  private notify(): void {
    const wake = this.wakeUp;
    this.wakeUp = () => undefined;
    wake();
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = { error };
    for (const timer of this.backoffTimers) clearTimeout(timer);
    this.backoffTimers.clear();
    this.stopping.abort(error);
    for (const waiter of this.roomWaiters.splice(0)) waiter.reject(error);
    this.notify();
  }

  private async send(batch: Entry[]): Promise<void> {
    let permit: Permit;
    try {
      permit = await this.settings.limiter.acquire(batch.length, this.stopping.signal);
    } catch {
      return; // the run failed while waiting; its error is already recorded
    }
    if (this.failure) {
      permit.release('cancelled');
      return;
    }
    this.stats.calls += 1;
    let codes: (string | undefined)[];
    try {
      // Only the caller's abort cuts calls short: after a terminal error, calls in flight
      // finish so their acknowledgements reach the ledger.
      codes = await putRecords(
        this.client,
        this.streamName,
        batch.map((entry) => entry.record),
        this.signal,
      );
    } catch (error) {
      this.callFailed(batch, error, permit);
      return;
    }

    const acked: Entry[] = [];
    const failed: Entry[] = [];
    let throttled = false;
    codes.forEach((code, i) => {
      const entry = batch[i] as Entry;
      if (code === undefined) {
        acked.push(entry);
        return;
      }
      failed.push(entry);
      this.stats.entryErrors[code] = (this.stats.entryErrors[code] ?? 0) + 1;
      if (this.settings.retry.isThrottle(code)) {
        throttled = true;
        this.stats.throttledEntries += 1;
      }
    });
    permit.release(failed.length === 0 ? 'success' : throttled ? 'throttled' : 'failed', acked.length);

    if (failed.length > 0) {
      for (const entry of failed) entry.entryFailures += 1;
      this.retryLater(failed, this.settings.retry.entryDelay(Math.max(...failed.map((e) => e.entryFailures))));
    }
    if (acked.length === 0) return;
    this.stats.recordsSent += acked.length;
    try {
      await this.onAcked(acked.map((e) => e.record));
    } catch (error) {
      this.fail(error);
      return;
    }
    for (const entry of acked) this.complete(entry);
  }

  private callFailed(batch: Entry[], error: unknown, permit: Permit): void {
    if (this.signal?.aborted) {
      permit.release('cancelled');
      this.fail(this.signal.reason ?? error);
      return;
    }
    for (const entry of batch) entry.callFailures += 1;
    const decision = this.settings.retry.afterCallFailure(error, Math.max(...batch.map((e) => e.callFailures)));
    permit.release(decision.throttled ? 'throttled' : 'failed');
    if (decision.retry) this.retryLater(batch, decision.delayMs);
    else this.fail(decision.error);
  }

  /** Gives entries back to the queue after a delay; their profiles stay busy meanwhile, so nothing overtakes them. */
  private retryLater(entries: Entry[], delayMs: number): void {
    if (this.failure) return;
    this.stats.retriedEntries += entries.length;
    const timer = setTimeout(() => {
      this.backoffTimers.delete(timer);
      this.queue.giveBack(entries);
      this.notify();
    }, delayMs);
    this.backoffTimers.add(timer);
  }

  /** An acknowledged entry frees its profile for the profile's next record, if any. */
  private complete(entry: Entry): void {
    this.queue.complete(entry);
    for (let i = this.roomWaiters.length - 1; i >= 0; i--) {
      const waiter = this.roomWaiters[i] as (typeof this.roomWaiters)[number];
      if (this.queue.outstanding <= waiter.limit) {
        this.roomWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
    this.notify();
  }
}
