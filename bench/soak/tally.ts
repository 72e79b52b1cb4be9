/**
 * The soak's accounting, kept apart from its processes so it can be read alone. Change k (from
 * 0, in the order written) is version floor(k / profiles) + 1 of profile k % profiles: every
 * change is a mapped change. Several changes of one profile waiting together may go out as one
 * record of the newest (coalescing, DESIGN §4), so a change counts as delivered when its own
 * record or a record of a later change of the same profile was read back; lost when neither was.
 */
export interface ChangeId {
  profile: number;
  version: number;
}

export interface SoakFigures {
  /** Changes the ingest acknowledged (stored). */
  acknowledged: number;
  /** Acknowledged changes whose own record was read back. */
  readBack: number;
  /** Acknowledged changes not read back themselves, but through a later change of their profile. */
  coalesced: number;
  /** Acknowledged changes neither read back nor superseded by a read-back change: must be 0. */
  lost: number;
  /** Records read back beyond the first of their change. */
  duplicated: number;
  /** Records of changes never written (must be 0). */
  unexpected: number;
  /** Milliseconds from a change's line written to its record's arrival in the stream (first arrival). */
  latencyMs: { p50: number; p99: number; max: number };
}

export class SoakTally {
  private readonly writtenAt: Float64Array;
  private readonly firstArrival: Float64Array;
  private readonly reads: Uint16Array;
  private written = 0;
  private unexpected = 0;

  constructor(
    readonly profiles: number,
    readonly capacity: number,
  ) {
    this.writtenAt = new Float64Array(capacity);
    this.firstArrival = new Float64Array(capacity);
    this.reads = new Uint16Array(capacity);
  }

  get writtenCount(): number {
    return this.written;
  }

  /** The next change to write, and notes when it was written. */
  nextChange(atMs: number): ChangeId {
    const k = this.written;
    if (k >= this.capacity) throw new Error(`the soak wrote more than the ${this.capacity} changes it can hold`);
    this.writtenAt[k] = atMs;
    this.written++;
    return { profile: k % this.profiles, version: Math.floor(k / this.profiles) + 1 };
  }

  /** A record read back from the stream, with its arrival time. */
  recordRead(change: ChangeId, arrivalMs: number): void {
    const k = (change.version - 1) * this.profiles + change.profile;
    if (!(k >= 0 && k < this.written && change.profile < this.profiles)) {
      this.unexpected++;
      return;
    }
    if (this.reads[k] === 0) this.firstArrival[k] = arrivalMs;
    this.reads[k] = Math.min(65_535, (this.reads[k] ?? 0) + 1);
  }

  figures(acknowledged: number): SoakFigures {
    let readBack = 0;
    let coalesced = 0;
    let lost = 0;
    let duplicated = 0;
    const latencies = new Float64Array(this.written);
    let n = 0;
    for (let k = 0; k < this.written; k++) {
      const reads = this.reads[k] ?? 0;
      duplicated += Math.max(0, reads - 1);
      if (reads > 0) latencies[n++] = (this.firstArrival[k] ?? 0) - (this.writtenAt[k] ?? 0);
    }
    // Per profile, newest change first: a change is covered once a later one was read back.
    for (let profile = 0; profile < this.profiles; profile++) {
      let laterRead = false;
      const last = Math.floor((acknowledged - 1 - profile) / this.profiles);
      for (let v = last; v >= 0; v--) {
        const k = v * this.profiles + profile;
        if ((this.reads[k] ?? 0) > 0) {
          readBack++;
          laterRead = true;
        } else if (laterRead) coalesced++;
        else lost++;
      }
    }
    const sorted = latencies.subarray(0, n).sort();
    const at = (q: number): number => Math.round(sorted[Math.min(n - 1, Math.floor(q * n))] ?? NaN);
    return {
      acknowledged,
      readBack,
      coalesced,
      lost,
      duplicated,
      unexpected: this.unexpected,
      latencyMs: { p50: at(0.5), p99: at(0.99), max: Math.round(sorted[n - 1] ?? NaN) },
    };
  }
}

/** Least-squares slope of `values` over `at`, per unit of `at` (NaN with fewer than two points). */
export function slope(at: readonly number[], values: readonly number[]): number {
  const n = Math.min(at.length, values.length);
  if (n < 2) return NaN;
  const mean = (xs: readonly number[]): number => xs.slice(0, n).reduce((a, b) => a + b, 0) / n;
  const mx = mean(at);
  const my = mean(values);
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const dx = (at[i] ?? 0) - mx;
    num += dx * ((values[i] ?? 0) - my);
    den += dx * dx;
  }
  return den === 0 ? NaN : num / den;
}
