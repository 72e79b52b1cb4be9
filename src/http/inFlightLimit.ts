/** One admitted request: its slot frees once its connection is done and the work it started settled. */
export interface Admission {
  /** Keeps the slot until `work` settles, even if the client went away meanwhile (the work goes on). */
  hold<T>(work: Promise<T>): Promise<T>;
  /** The response is finished or its connection closed. */
  closed(): void;
}

/**
 * Bounds on requests in progress: how many, and how many body bytes they may bring. Past either a
 * request is turned away at once instead of queued, so a burst costs the caller a retry, not the
 * service its memory (bodies are read after admission). Two bounds, because one count cannot serve
 * both kinds of sender: a thousand one-change requests a second each waiting ~100 ms for their
 * group's write are ~100-200 in progress yet a few hundred KiB, while a few bodies at the size
 * limit are the memory. A slot counts until the request's work is done, not only until its client
 * left: a store write started for a client that hung up still occupies the store.
 */
export class InFlightLimit {
  private active = 0;
  private bytes = 0;

  /** `maxBytes`: the body bytes reserved by admitted requests at most; one request alone is always admitted. */
  constructor(
    readonly max: number,
    readonly maxBytes: number,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`the request bound must be a positive integer, got ${max}`);
    if (!Number.isInteger(maxBytes) || maxBytes < 1)
      throw new Error(`the body byte bound must be a positive integer, got ${maxBytes}`);
  }

  get inFlight(): number {
    return this.active;
  }

  get bytesInFlight(): number {
    return this.bytes;
  }

  /**
   * A slot reserving `bodyBytes` (what the body may be: its declared length, or the body limit when
   * it is not declared), or why not: every slot is taken, or the bytes would pass the bound.
   */
  tryAdmit(bodyBytes = 0): Admission | string {
    if (this.active >= this.max) return `${this.max} requests in progress`;
    if (this.active > 0 && this.bytes + bodyBytes > this.maxBytes)
      return `${this.bytes} bytes of request bodies in progress (bound ${this.maxBytes})`;
    this.active++;
    this.bytes += bodyBytes;
    let pending = 1; // the connection; each held work adds one
    let released = false;
    const done = (): void => {
      pending--;
      if (pending === 0 && !released) {
        released = true;
        this.active--;
        this.bytes -= bodyBytes;
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

/**
 * The body bytes a request may bring, known from its headers before the body is read (HTTP/1.1
 * has a body only with one of these two): its Content-Length, or the body limit when it is sent
 * chunked; at most the limit, past which it is refused with 413 anyway.
 */
export function bodyBytesOf(
  headers: { 'content-length'?: string; 'transfer-encoding'?: string },
  bodyLimit: number,
): number {
  if (headers['transfer-encoding'] !== undefined) return bodyLimit;
  const declared = Number(headers['content-length'] ?? 0);
  return Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, bodyLimit) : bodyLimit;
}
