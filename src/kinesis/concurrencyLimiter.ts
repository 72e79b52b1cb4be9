/**
 * Adaptive limit on the PutRecords calls in flight for one destination, following the endpoint's
 * latency (after the gradient and Vegas limits of Netflix's concurrency-limits).
 *
 * Each answered call is a latency sample, per record of the call and filed under how many calls
 * were in flight when it started. By Little's law n calls in flight deliver n / (latency per
 * record) records per millisecond, so the samples say what each concurrency delivers. The limit
 * climbs one call at a time while the next one up delivers more, and steps down when one call
 * fewer delivers as much: an endpoint that serves calls one after the other (or slows down under
 * load, as kinesis-mock does) ends near one call, one that serves them side by side gets more.
 * Figures older than `staleAfterSamples` are forgotten, so the limit follows an endpoint that
 * changes. A call that fails as a whole (5xx, network, timeout) halves the limit: an endpoint
 * in trouble gets less load at once. Throttled calls are no latency sample: throttling is the
 * rate limiter's signal (the stream's capacity), not the endpoint's.
 */
import { systemClock } from './clock';
import type { Clock } from './clock';
import { abortReason } from './sendLimiter';
import type { Permit, SendLimiter } from './sendLimiter';

export interface ConcurrencyLimiterOptions {
  initialLimit?: number;
  minLimit?: number;
  maxLimit?: number;
  /** Samples taken at the current limit before it moves again. */
  samplesPerStep?: number;
  /** How much more a concurrency must deliver than the one below it to be worth its extra calls. */
  minGain?: number;
  /** Calls carrying fewer records say little about the endpoint and are no sample. */
  minSampleRecords?: number;
  /** Samples (of any concurrency) after which a concurrency's figure is measured again. */
  staleAfterSamples?: number;
  clock?: Clock;
}

const DEFAULTS = {
  // One call, then up while a call more delivers more (as TCP's slow start): an endpoint that
  // slows down under load never gets the calls it serves worse (starting at 4, kinesis-mock spent a
  // short export shedding them), and one that serves calls side by side reaches 8 within about 21
  // calls, a fraction of a second against Kinesis.
  initialLimit: 1,
  minLimit: 1,
  maxLimit: 8,
  samplesPerStep: 3,
  minGain: 0.05,
  minSampleRecords: 100,
  staleAfterSamples: 60,
};

/** Weight of the newest sample in a concurrency's moving average of latency per record. */
const SMOOTHING = 0.4;

interface Level {
  /** Moving average of milliseconds per record of calls started at this concurrency. */
  msPerRecord: number;
  samples: number;
  /** The sample count (of all levels) when this level was last sampled. */
  sampledAt: number;
}

export class ConcurrencyLimiter implements SendLimiter {
  private currentLimit: number;
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly levels = new Map<number, Level>();
  private totalSamples = 0;
  /** Samples at the current limit since it last moved. */
  private stepSamples = 0;
  private readonly settings: Required<Omit<ConcurrencyLimiterOptions, 'clock'>>;
  private readonly clock: Clock;

  readonly maxPermits = Infinity;
  readonly rate = Infinity;

  constructor(options: ConcurrencyLimiterOptions = {}) {
    const { clock, ...rest } = options;
    this.settings = { ...DEFAULTS, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
    const { minLimit, initialLimit, maxLimit, samplesPerStep, minGain } = this.settings;
    if (!(Number.isInteger(minLimit) && minLimit >= 1 && minLimit <= initialLimit && initialLimit <= maxLimit)) {
      throw new RangeError(
        'concurrency limiter needs whole numbers 1 <= minLimit <= initialLimit <= maxLimit, ' +
          `got ${minLimit}, ${initialLimit}, ${maxLimit}`,
      );
    }
    if (!(samplesPerStep >= 1)) throw new RangeError(`samplesPerStep must be >= 1, got ${samplesPerStep}`);
    if (!(minGain >= 0)) throw new RangeError(`minGain must be >= 0, got ${minGain}`);
    this.clock = clock ?? systemClock;
    this.currentLimit = initialLimit;
  }

  /** Calls allowed in flight now. */
  get limit(): number {
    return this.currentLimit;
  }

  /** Resolves when fewer calls than the limit are in flight; waiters are served in order. */
  acquire(records: number, signal?: AbortSignal): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Permit>((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.permit(records));
      };
      const onAbort = (): void => {
        const at = this.waiters.indexOf(grant);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(abortReason(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.currentLimit) {
      const next = this.waiters.shift();
      if (next === undefined) return;
      this.inFlight += 1;
      next();
    }
  }

  private permit(records: number): Permit {
    const startedAt = this.clock.now();
    const concurrency = this.inFlight;
    let released = false;
    return {
      release: (outcome) => {
        if (released) return;
        released = true;
        this.inFlight -= 1;
        if (outcome === 'failed') this.moveTo(Math.floor(this.currentLimit / 2));
        else if (outcome === 'success' && records >= this.settings.minSampleRecords)
          this.sample(concurrency, (this.clock.now() - startedAt) / records);
        this.pump();
      },
    };
  }

  private sample(concurrency: number, msPerRecord: number): void {
    this.totalSamples += 1;
    const level = this.levels.get(concurrency);
    if (level === undefined) this.levels.set(concurrency, { msPerRecord, samples: 1, sampledAt: this.totalSamples });
    else {
      level.msPerRecord += SMOOTHING * (msPerRecord - level.msPerRecord);
      level.samples += 1;
      level.sampledAt = this.totalSamples;
    }
    if (concurrency !== this.currentLimit) return;
    this.stepSamples += 1;
    if (this.stepSamples >= this.settings.samplesPerStep) this.step();
  }

  /** Records per millisecond that `concurrency` calls in flight deliver, when recently measured. */
  private delivery(concurrency: number): number | undefined {
    const level = this.levels.get(concurrency);
    if (level === undefined || this.totalSamples - level.sampledAt > this.settings.staleAfterSamples) return undefined;
    return concurrency / Math.max(level.msPerRecord, Number.MIN_VALUE);
  }

  private step(): void {
    const limit = this.currentLimit;
    const here = this.delivery(limit) as number;
    const gain = 1 + this.settings.minGain;
    const below = limit > this.settings.minLimit ? this.delivery(limit - 1) : undefined;
    const canGrow = limit < this.settings.maxLimit;
    const above = canGrow ? this.delivery(limit + 1) : undefined;
    if (canGrow && above !== undefined && above > here * gain) this.moveTo(limit + 1);
    // Down to measure one call fewer, or because it delivers as much; else up to measure one more.
    else if (limit > this.settings.minLimit && (below === undefined || here < below * gain)) this.moveTo(limit - 1);
    else if (canGrow && above === undefined) this.moveTo(limit + 1);
    else this.stepSamples = 0;
  }

  private moveTo(limit: number): void {
    this.currentLimit = Math.min(this.settings.maxLimit, Math.max(this.settings.minLimit, limit));
    this.stepSamples = 0;
  }
}
