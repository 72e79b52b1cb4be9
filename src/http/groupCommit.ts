import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { isBlankLine } from '../domain/ndjson';

type Mode = 'replace' | 'merge';

/** What an ingest reports (the client's IngestResult has these and more). */
export interface IngestOutcome {
  accepted: number;
  rejected: { line: number; reason: string }[];
  /** Null, or why the destinations were not told of the stored changes. */
  unannounced: string | null;
}

/** Writes NDJSON as one client ingest call: stored and announced (or `unannounced`) when it resolves. */
export type IngestCall = (input: Readable, options: { mode: Mode }) => Promise<IngestOutcome>;

interface Member {
  body: Buffer;
  /** Lines in `body`, each ending with `\n`. */
  lines: number;
  /** Of those, lines the parser takes as blank (neither accepted nor rejected). */
  blank: number;
  resolve(outcome: IngestOutcome): void;
  reject(err: unknown): void;
}

const NEWLINE = 0x0a;
/** Waiting lines that make a write worth starting before the spacing is up (an HTTP client's usual batch). */
const FULL_BATCH_LINES = 500;

function memberOf(body: Buffer, settle: Pick<Member, 'resolve' | 'reject'>): Member {
  const text = body.length > 0 && body[body.length - 1] !== NEWLINE ? Buffer.concat([body, Buffer.of(NEWLINE)]) : body;
  let lines = 0;
  let blank = 0;
  for (let start = 0, end = text.indexOf(NEWLINE); end !== -1; start = end + 1, end = text.indexOf(NEWLINE, start)) {
    lines++;
    if (isBlankLine(text.subarray(start, end))) blank++;
  }
  return { body: text, lines, blank, ...settle };
}

/**
 * Group commit: the bodies of requests that arrive while a write is in flight, or within
 * `spacingMs` of the last write's start, go into the next write together, one client ingest call
 * for many requests, so a thousand one-line requests a second cost about ten store transactions
 * and announcements a second instead of a thousand. A request after a quiet spell is written at
 * once. Each request gets its own lines' outcome, numbered from its own
 * first line; a write that fails fails every request in it (none is acknowledged).
 */
export class GroupCommit {
  private readonly queues: Record<Mode, { waiting: Member[]; writing: boolean; lastStart: number }> = {
    replace: { waiting: [], writing: false, lastStart: -Infinity },
    merge: { waiting: [], writing: false, lastStart: -Infinity },
  };

  /**
   * `maxGroupBytes`: a write takes waiting bodies up to this size (at least one). `spacingMs`:
   * writes of a mode start at least this far apart unless 500 lines are waiting (a request waits
   * for the next write at most that long), so a steady stream of small requests makes a few writes and announcements a
   * second, as the client's own streaming ingest does (it commits every 100 ms), instead of one signal
   * per request flooding the destinations' workflows.
   */
  constructor(
    private readonly ingest: IngestCall,
    private readonly maxGroupBytes: number,
    private readonly spacingMs = 100,
  ) {}

  submit(mode: Mode, body: Buffer): Promise<IngestOutcome> {
    return new Promise((resolve, reject) => {
      const queue = this.queues[mode];
      queue.waiting.push(memberOf(body, { resolve, reject }));
      if (!queue.writing) void this.drain(mode);
    });
  }

  private async drain(mode: Mode): Promise<void> {
    const queue = this.queues[mode];
    queue.writing = true;
    try {
      while (queue.waiting.length > 0) {
        // By time or by count, as the client's streaming ingest commits: a full batch goes at once.
        const wait = queue.lastStart + this.spacingMs - performance.now();
        if (wait > 0 && queue.waiting.reduce((n, m) => n + m.lines, 0) < FULL_BATCH_LINES) await delay(wait);
        queue.lastStart = performance.now();
        let bytes = 0;
        let take = 0;
        while (
          take < queue.waiting.length &&
          (take === 0 || bytes + queue.waiting[take]!.body.length <= this.maxGroupBytes)
        )
          bytes += queue.waiting[take++]!.body.length;
        await this.write(mode, queue.waiting.splice(0, take));
      }
    } finally {
      queue.writing = false;
    }
  }

  private async write(mode: Mode, group: Member[]): Promise<void> {
    let outcome: IngestOutcome;
    try {
      outcome = await this.ingest(Readable.from(group.map((m) => m.body)), { mode });
    } catch (err) {
      for (const member of group) member.reject(err);
      return;
    }
    // Alone, a request's outcome is the call's.
    if (group.length === 1) return group[0]?.resolve(outcome);
    let offset = 0;
    for (const member of group) {
      const first = offset;
      offset += member.lines;
      const rejected = outcome.rejected
        .filter((r) => r.line > first && r.line <= offset)
        .map((r) => ({ line: r.line - first, reason: r.reason }));
      member.resolve({
        accepted: member.lines - member.blank - rejected.length,
        rejected,
        unannounced: outcome.unannounced,
      });
    }
  }
}
