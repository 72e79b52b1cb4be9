import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff';
import type { BackoffOptions } from './backoff';
import { DEFAULT_LIMITS, fitsInBatch, packBatches, validateLimits } from './batcher';
import type { BatchLimits, RejectedRecord } from './batcher';
import { classifyEntryError, classifyError, terminalError } from './errors';
import { recordSize } from './outgoingRecord';
import type { OutgoingRecord } from './outgoingRecord';
import { AimdRateLimiter } from './rateLimiter';
import type { CallOutcome, Permit } from './rateLimiter';

export interface RecordWriterOptions {
  /** PutRecords calls in flight at once. */
  concurrency?: number;
  limits?: BatchLimits;
  backoff?: BackoffOptions;
  /** Shared by every writer of one destination; a private one when absent. */
  limiter?: AimdRateLimiter;
  /**
   * Attempts of a record whose calls fail as a whole (5xx, network, throttled call) before the
   * error is rethrown for the activity's retry policy. Entries that fail inside a successful
   * response are resent without limit: the service accepted the call, only capacity is short.
   */
  maxCallAttempts?: number;
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

export const DEFAULT_CONCURRENCY = 4;
const DEFAULT_MAX_CALL_ATTEMPTS = 8;
/**
 * Cap on the backoff of entries that failed inside a successful response. The limiter already
 * slowed the send rate, and a shard's capacity is metered per second: waiting longer than that
 * finds no more capacity, it only leaves the stream idle at the end of a write.
 */
const ENTRY_RETRY_MAX_MS = 1000;

/**
 * Writes records to one stream with PutRecords: several batches in flight, only failed entries
 * resent (with backoff), send rate adapted by an AIMD limiter, terminal errors stop everything.
 * Records of one profile are never in flight together and are acknowledged in input order.
 */
export class KinesisRecordWriter {
  private readonly settings: Required<RecordWriterOptions>;

  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
    options: RecordWriterOptions = {},
  ) {
    this.settings = {
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      limits: options.limits ?? DEFAULT_LIMITS,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      limiter: options.limiter ?? new AimdRateLimiter(),
      maxCallAttempts: options.maxCallAttempts ?? DEFAULT_MAX_CALL_ATTEMPTS,
    };
    if (!(Number.isInteger(this.settings.concurrency) && this.settings.concurrency >= 1)) {
      throw new RangeError(`concurrency must be a positive integer, got ${this.settings.concurrency}`);
    }
    validateLimits(this.settings.limits);
    if (!(this.settings.maxCallAttempts >= 1))
      throw new RangeError(`maxCallAttempts must be >= 1, got ${this.settings.maxCallAttempts}`);
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
    return new WriteRun(this.client, this.streamName, this.settings, onAcked, options.signal);
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
  /** Position among the sendable input records: lower goes first. */
  index: number;
  size: number;
  /** Times this entry came back failed inside a successful response. */
  entryFailures: number;
  /** Times a call carrying this entry failed as a whole. */
  callFailures: number;
}

/** The state of one write: which entries wait, which profiles are busy, what failed. */
class WriteRun implements WriteSession {
  /** Added entries not yet taken, from `cursor` on (the taken prefix is dropped now and then). */
  private fresh: Entry[] = [];
  private cursor = 0;
  private added = 0;
  private ended = false;
  /** Entries to (re)send before fresh ones of higher index, sorted by index. */
  private readonly ready: Entry[] = [];
  /** Later records of a busy profile, in order, waiting for the earlier one's acknowledgement. */
  private readonly blocked = new Map<string, Entry[]>();
  /** Profiles with a record admitted and not yet acknowledged (in flight, backing off or ready). */
  private readonly busy = new Set<string>();
  /** Added sendable entries not yet acknowledged. */
  private outstanding = 0;
  private readonly roomWaiters: { limit: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private readonly backoffTimers = new Set<NodeJS.Timeout>();
  private failure: { error: unknown } | undefined;
  /** Cancels limiter waits when the run fails. */
  private readonly stopping = new AbortController();
  private wakeUp: () => void = () => undefined;
  private readonly stats: WriteStats;
  private readonly senders: Promise<void>;
  private readonly onAbort = (): void => this.fail(this.signal?.reason ?? new Error('write aborted'));

  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
    private readonly settings: Required<RecordWriterOptions>,
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
    this.senders = Promise.all(Array.from({ length: this.settings.concurrency }, () => this.sender())).then(
      () => undefined,
    );
  }

  add(records: readonly OutgoingRecord[]): RejectedRecord[] {
    if (this.failure) throw this.failure.error;
    if (this.ended) throw new Error('records added to a write that has ended');
    const { batches, oversize } = packBatches(records, this.settings.limits);
    this.stats.deadLettered.push(...oversize);
    if (this.cursor > 0 && this.cursor >= this.fresh.length / 2) {
      this.fresh = this.fresh.slice(this.cursor);
      this.cursor = 0;
    }
    for (const record of batches.flat()) {
      this.fresh.push({ record, index: this.added++, size: recordSize(record), entryFailures: 0, callFailures: 0 });
      this.outstanding += 1;
    }
    this.notify();
    return oversize;
  }

  async whenAtMost(limit: number): Promise<void> {
    if (this.failure) throw this.failure.error;
    if (this.outstanding <= limit) return;
    await new Promise<void>((resolve, reject) => this.roomWaiters.push({ limit, resolve, reject }));
  }

  cancel(reason: unknown): void {
    this.fail(reason);
  }

  async end(): Promise<WriteStats> {
    this.ended = true;
    this.notify();
    try {
      await this.senders;
    } finally {
      this.signal?.removeEventListener('abort', this.onAbort);
    }
    this.stats.rateLimit = this.settings.limiter.rate;
    if (this.failure) throw this.failure.error;
    return this.stats;
  }

  /** One slot of `concurrency`: takes the next batch, sends it, repeats until the write ended and nothing is left. */
  private async sender(): Promise<void> {
    while (!this.failure && !(this.ended && this.outstanding === 0)) {
      const batch = this.takeBatch();
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

  /** Lowest-index entries that may go now, up to the call limits and one limiter bucket. */
  private takeBatch(): Entry[] {
    const { limits, limiter } = this.settings;
    const maxRecords = Math.min(limits.maxRecordsPerCall, limiter.maxPermits);
    const batch: Entry[] = [];
    let load = { records: 0, bytes: 0 };
    for (;;) {
      const next = this.peekNext();
      if (next === undefined || batch.length >= maxRecords || !fitsInBatch(load, next.entry.size, limits)) break;
      if (next.fromReady) this.ready.shift();
      else {
        this.cursor += 1;
        this.busy.add(next.entry.record.profileId);
      }
      batch.push(next.entry);
      load = { records: load.records + 1, bytes: load.bytes + next.entry.size };
    }
    return batch;
  }

  private peekNext(): { entry: Entry; fromReady: boolean } | undefined {
    let fresh = this.fresh[this.cursor];
    // A fresh record of a busy profile waits behind that profile's earlier record.
    while (fresh !== undefined && this.busy.has(fresh.record.profileId)) {
      const queue = this.blocked.get(fresh.record.profileId);
      if (queue) queue.push(fresh);
      else this.blocked.set(fresh.record.profileId, [fresh]);
      this.cursor += 1;
      fresh = this.fresh[this.cursor];
    }
    const ready = this.ready[0];
    if (ready !== undefined && (fresh === undefined || ready.index < fresh.index))
      return { entry: ready, fromReady: true };
    return fresh === undefined ? undefined : { entry: fresh, fromReady: false };
  }

  private async send(batch: Entry[]): Promise<void> {
    let permit: Permit;
    try {
      permit = await this.settings.limiter.acquire(batch.length, this.stopping.signal);
    } catch {
      return; // the run failed while waiting; its error is already recorded
    }
    if (this.failure) {
      permit.release('failed');
      return;
    }
    this.stats.calls += 1;
    let results: PutRecordsResultEntry[];
    try {
      const response = await this.client.send(
        new PutRecordsCommand({
          StreamName: this.streamName,
          Records: batch.map(({ record }) => ({ Data: record.data, PartitionKey: record.partitionKey })),
        }),
        // Only the caller's abort cuts calls short: after a terminal error, calls in flight
        // finish so their acknowledgements reach the ledger.
        this.signal ? { abortSignal: this.signal } : {},
      );
      results = response.Records ?? [];
      if (results.length !== batch.length) {
        throw Object.assign(new Error(`PutRecords answered ${results.length} results for ${batch.length} records`), {
          name: 'MalformedResponse',
        });
      }
    } catch (error) {
      this.callFailed(batch, error, permit.release.bind(permit));
      return;
    }

    const acked: Entry[] = [];
    const failed: Entry[] = [];
    let throttled = false;
    results.forEach((result, i) => {
      const entry = batch[i] as Entry;
      if (result.ErrorCode === undefined) {
        acked.push(entry);
        return;
      }
      failed.push(entry);
      this.stats.entryErrors[result.ErrorCode] = (this.stats.entryErrors[result.ErrorCode] ?? 0) + 1;
      if (classifyEntryError(result.ErrorCode).throttled) {
        throttled = true;
        this.stats.throttledEntries += 1;
      }
    });
    permit.release(failed.length === 0 ? 'success' : throttled ? 'throttled' : 'failed', acked.length);

    if (failed.length > 0) {
      for (const entry of failed) entry.entryFailures += 1;
      this.retryLater(failed, Math.max(...failed.map((e) => e.entryFailures)), ENTRY_RETRY_MAX_MS);
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

  private callFailed(batch: Entry[], error: unknown, release: (outcome: CallOutcome) => void): void {
    if (this.signal?.aborted) {
      release('failed');
      this.fail(this.signal.reason ?? error);
      return;
    }
    const classified = classifyError(error);
    release(classified.throttled ? 'throttled' : 'failed');
    if (classified.kind === 'terminal') {
      this.fail(terminalError(classified, 'PutRecords'));
      return;
    }
    for (const entry of batch) entry.callFailures += 1;
    const attempts = Math.max(...batch.map((e) => e.callFailures));
    if (attempts >= this.settings.maxCallAttempts) {
      this.fail(error);
      return;
    }
    this.retryLater(batch, attempts);
  }

  /** Puts entries back after a backoff; their profiles stay busy meanwhile, so nothing overtakes them. */
  private retryLater(entries: Entry[], attempt: number, capMs = Infinity): void {
    if (this.failure) return;
    this.stats.retriedEntries += entries.length;
    const { baseMs, maxMs } = this.settings.backoff;
    const delay = backoffDelay(attempt, { ...this.settings.backoff, maxMs: Math.max(baseMs, Math.min(maxMs, capMs)) });
    const timer = setTimeout(() => {
      this.backoffTimers.delete(timer);
      for (const entry of entries) this.insertReady(entry);
      this.notify();
    }, delay);
    this.backoffTimers.add(timer);
  }

  private insertReady(entry: Entry): void {
    let low = 0;
    let high = this.ready.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.ready[mid] as Entry).index < entry.index) low = mid + 1;
      else high = mid;
    }
    this.ready.splice(low, 0, entry);
  }

  /** An acknowledged entry frees its profile for the profile's next record, if any. */
  private complete(entry: Entry): void {
    this.outstanding -= 1;
    for (let i = this.roomWaiters.length - 1; i >= 0; i--) {
      const waiter = this.roomWaiters[i] as (typeof this.roomWaiters)[number];
      if (this.outstanding <= waiter.limit) {
        this.roomWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
    const profileId = entry.record.profileId;
    const queue = this.blocked.get(profileId);
    const next = queue?.shift();
    if (next === undefined) this.busy.delete(profileId);
    else {
      if (queue?.length === 0) this.blocked.delete(profileId);
      this.insertReady(next);
    }
    this.notify();
  }
}
