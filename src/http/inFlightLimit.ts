/** One admitted request: its slot frees once its connection is done and the work it started settled. */
export interface Admission {
  /** Keeps the slot until `work` settles, even if the client went away meanwhile (the work goes on). */
  hold<T>(work: Promise<T>): Promise<T>;
  /** The response is finished or its connection closed. */
  closed(): void;
}

/**
 * A bound on requests in progress. Past it a request is turned away at once instead of queued,
 * so a burst costs the caller a retry, not the service its memory (bodies are read after
 * admission). A slot counts until the request's work is done, not only until its client left:
 * a store write started for a client that hung up still occupies the store.
 */
export class InFlightLimit {
  private active = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`the request bound must be a positive integer, got ${max}`);
  }

  get inFlight(): number {
    return this.active;
  }

  /** A slot, or undefined when every slot is taken. */
  tryAdmit(): Admission | undefined {
    if (this.active >= this.max) return undefined;
    this.active++;
    let pending = 1; // the connection; each held work adds one
    let released = false;
    const done = (): void => {
      pending--;
      if (pending === 0 && !released) {
        released = true;
        this.active--;
      }
    };
    let connectionDone = false;
    return {
      hold: <T>(work: Promise<T>): Promise<T> => {
        pending++;
        return work.finally(done);
      },
      closed: () => {
        if (connectionDone) return;
        connectionDone = true;
        done();
      },
    };
  }
}
