import { ApplicationFailure, Context } from '@temporalio/activity';
import { storeDownFailure } from './storeDown';
import { CredentialsError } from '../aws/credentials';
import { changeKeySpecOf } from '../domain/changeKey';
import { decideOwed } from '../domain/deadLetterRule';
import { messageIdOf, withMessageId } from '../domain/messageId';
import { partitionKeyOf } from '../domain/partitionKey';
import type { Activation } from '../domain/activation';
import type { DestinationSettings } from '../domain/destination';
import type { Projection } from '../domain/projection';
import type { RejectedRecord } from '../kinesis/batcher';
import { KinesisTerminalError } from '../kinesis/errors';
import type { OutgoingRecord } from '../kinesis/outgoingRecord';
import type { KinesisRecordWriter, WriteSession } from '../kinesis/recordWriter';
import type { ExportCandidate, LedgerView, Store } from '../store/store';
import { addCounts } from '../domain/exportCounts';
import type { ExportCounts, PutReport } from './types';

/**
 * Profiles read, decided and checkpointed together: a retried attempt resumes after the last
 * whole chunk. Small, because reading and deciding a chunk holds the event loop, and meanwhile
 * no answer from Kinesis is handled and no call goes out.
 */
export const EXPORT_CHUNK_SIZE = 500;
/**
 * Records the writer may hold unacknowledged before the next chunk is read: enough that it
 * never runs dry while that chunk is read and built, few enough to bound memory.
 */
export const MAX_UNACKNOWLEDGED = 8 * EXPORT_CHUNK_SIZE;
/**
 * A page stops reading new chunks after this long (it then finishes what it sent): the actor
 * takes turns between change pages and re-export pages, so this bounds how long one waits for
 * the other, also on a slow or throttled stream, while pages stay large on a fast one.
 */
const PAGE_TIME_BUDGET_MS = 3000;
/** How often a page heartbeats its checkpoint, also while Kinesis throttles it and nothing moves. */
const HEARTBEAT_INTERVAL_MS = 1000;

/**
 * Where pages send records: the worker's KinesisConnections. The store-and-diff benchmark
 * (bench/diffLedger.ts) passes writers that acknowledge at once, to measure this path without Kinesis.
 */
export interface RecordWriters {
  forDestination(destinationId: string, settings: DestinationSettings): Pick<KinesisRecordWriter, 'open'>;
}

/** The writes of a page that sent nothing. */
const NOTHING_WRITTEN: PutReport = { putCalls: 0, throttled: 0 };

/** Where and how a page is decided. */
export interface PageTarget {
  destinationId: string;
  settings: DestinationSettings;
  activation: Activation;
  /** Profiles the page pages over at most. */
  pageSize: number;
  /** Send every member even when nothing mapped changed (a forced re-export). */
  force?: boolean;
  /** Send what dead letters owe (a dead-letter replay; see domain/deadLetterRule). */
  replay?: boolean;
}

/** A page's checkpoint: every candidate up to `cursor` was decided, with these counts, and `read` were paged over. */
export interface PageCheckpoint<C> {
  cursor: C;
  read: number;
  counts: ExportCounts;
}

/** A page's checkpoint before its first candidate: at the workflow's cursor. */
export function pageStart<C>(cursor: C): PageCheckpoint<C> {
  return { cursor, read: 0, counts: noCounts(0) };
}

/** Counts of `decided` profiles, none of them decided on yet. */
function noCounts(decided: number): ExportCounts {
  return { decided, exported: 0, skipped: 0, deadLettered: 0, excludedByReason: {}, deadLetteredByReason: {} };
}

/** Where a page's candidates come from, chunk after chunk, in the order of its cursor. */
export interface CandidateSource<C> {
  /**
   * At most `limit` profiles after `cursor`: those to decide, how many were paged over (some
   * may be left out), and the cursor after the last one paged over (undefined when none).
   */
  read(cursor: C, limit: number): Promise<{ candidates: ExportCandidate[]; read: number; cursor: C | undefined }>;
}

/** What a page's checkpoint looks like to Temporal: heartbeat details, and the details of a terminal failure. */
export type CheckpointDetails<C> = (checkpoint: PageCheckpoint<C>) => unknown;

/** A chunk read and decided, not yet checkpointed: done when none of its records awaits acknowledgement. */
interface Chunk<C> {
  cursor: C;
  read: number;
  pending: number;
  counts: ExportCounts;
}

/** What an outgoing record needs once acknowledged: its ledger entry, its chunk, whether it settles a dead letter. */
interface InFlight<C> {
  projection: Projection;
  changeKey: string | null;
  chunk: Chunk<C>;
  owed: boolean;
}

/**
 * Exports one page: reads candidates chunk by chunk, diffs them against the ledger, builds
 * seed-format records and puts them to Kinesis, the next chunk being read and decided while the
 * earlier ones are sent, until `pageSize` profiles were paged over or the time budget is spent
 * (`more` then says the next page may find more). The ledger is written for acknowledged
 * records only, so a retry never loses a record and the diff keeps it from resending what was
 * acknowledged. The checkpoint is
 * the longest run of finished chunks, heartbeated; a retried attempt starts from it, and a
 * terminal failure carries it as details so the workflow keeps what was done.
 */
export async function runPage<C>(
  store: Store,
  writers: RecordWriters,
  target: PageTarget,
  source: CandidateSource<C>,
  start: PageCheckpoint<C>,
  details: CheckpointDetails<C>,
): Promise<{ checkpoint: PageCheckpoint<C>; more: boolean; put: PutReport }> {
  const ctx = Context.current();
  const { destinationId, settings, pageSize } = target;
  // Replaced, never changed: the SDK sends heartbeat details some time after they are given.
  let checkpoint = start;
  const chunks: Chunk<C>[] = [];
  const inFlight = new Map<OutgoingRecord, InFlight<C>>();
  const heartbeat = (): void => ctx.heartbeat(details(checkpoint));
  const advance = (): void => {
    for (let head = chunks[0]; head !== undefined && head.pending === 0; head = chunks[0]) {
      chunks.shift();
      checkpoint = {
        cursor: head.cursor,
        read: checkpoint.read + head.read,
        counts: addCounts(checkpoint.counts, head.counts),
      };
    }
  };

  // Opened for the first records: a page with nothing to send (no change concerns the
  // destination, or nothing mapped changed) costs no Kinesis client and no connection.
  let session: WriteSession | undefined;
  const openSession = (): WriteSession =>
    (session ??= writers.forDestination(destinationId, settings).open(
      async (acked) => {
        await writeLedger(store, destinationId, acked, inFlight);
        advance();
      },
      { signal: ctx.cancellationSignal },
    ));

  // Each heartbeat is encoded and handed to the SDK's core, which sends only the latest now and
  // then: one a second is plenty, and the last one is given again before the attempt ends.
  heartbeat();
  const heartbeats = setInterval(heartbeat, HEARTBEAT_INTERVAL_MS);
  const deadline = performance.now() + PAGE_TIME_BUDGET_MS;
  let cursor = checkpoint.cursor;
  let read = checkpoint.read;
  let exhausted = false;
  // The next chunk is asked for before the current one is decided: a store that reads off the
  // event loop (PostgreSQL, on its server) reads while this one decides.
  type Ahead = { limit: number; page: ReturnType<CandidateSource<C>['read']> };
  const readAhead = (): Ahead => {
    const limit = Math.min(EXPORT_CHUNK_SIZE, pageSize - read);
    const page = source.read(cursor, limit);
    // Handled where it is awaited; this keeps a read left behind by a failure from going unhandled.
    page.catch(() => undefined);
    return { limit, page };
  };
  let ahead: Ahead | undefined = read < pageSize ? readAhead() : undefined;
  try {
    while (ahead !== undefined) {
      const { limit } = ahead;
      const page = await ahead.page;
      ahead = undefined;
      exhausted = page.read < limit;
      if (page.cursor === undefined) break;
      cursor = page.cursor;
      read += page.read;
      if (!exhausted && read < pageSize && performance.now() < deadline) ahead = readAhead();
      const chunk: Chunk<C> = {
        cursor: page.cursor,
        read: page.read,
        pending: 0,
        counts: noCounts(page.candidates.length),
      };
      chunks.push(chunk);
      const owed = await store.deadLetteredProjections(
        destinationId,
        page.candidates.map((c) => c.profileId),
      );
      const { records, settled } = decideChunk(target, page.candidates, owed, chunk, inFlight);
      await store.removeDeadLetters(destinationId, settled);
      if (records.length > 0) await deadLetter(store, destinationId, openSession().add(records), chunk, inFlight);
      advance();
      if (ahead === undefined) break;
      await session?.whenAtMost(MAX_UNACKNOWLEDGED);
      // Let answers from Kinesis in before the next chunk holds the event loop again.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const stats = session ? await session.end() : undefined;
    const put = stats ? { putCalls: stats.calls, throttled: stats.throttledEntries } : NOTHING_WRITTEN;
    const counts = { ...checkpoint.counts, failedByErrorCode: { ...stats?.entryErrors } };
    return { checkpoint: { ...checkpoint, counts }, more: !exhausted, put };
  } catch (err) {
    // Calls in flight finish and reach the ledger before the attempt ends.
    session?.cancel(err);
    await session?.end().catch(() => undefined);
    throw terminalFailure(err, details(checkpoint));
  } finally {
    clearInterval(heartbeats);
    heartbeat();
  }
}

/**
 * How a page reads its candidates: with the destination's ledger and change key, only changes
 * under its mapped segments, skipping unchanged profiles unless forced.
 */
export function ledgerViewOf(target: PageTarget): LedgerView {
  return {
    destinationId: target.destinationId,
    segmentIds: target.activation.segments.map((s) => s.id),
    changeKey: changeKeySpecOf(target.activation, target.settings.consent),
    skipUnchanged: !target.force,
  };
}

/**
 * Diffs a chunk against the ledger (and the dead letters its profiles have, `owed`) and builds
 * the records to send; skips are counted in the chunk. A candidate the store left unparsed (its
 * change key equals the ledger's) is a skip, as the diff would decide. `settled`: profiles whose
 * dead letter is obsolete, the consumer having their current state already.
 */
function decideChunk<C>(
  target: PageTarget,
  candidates: ExportCandidate[],
  owed: Map<string, Projection | null>,
  chunk: Chunk<C>,
  inFlight: Map<OutgoingRecord, InFlight<C>>,
): { records: OutgoingRecord[]; settled: string[] } {
  const { destinationId, settings, activation } = target;
  const flags = {
    force: target.force ?? false,
    replay: target.replay ?? false,
    ...(settings.consent ? { consent: settings.consent } : {}),
  };
  const records: OutgoingRecord[] = [];
  const settled: string[] = [];
  const excluded = chunk.counts.excludedByReason ?? {};
  for (const { seq, profileId, snapshot, previous, changeKey } of candidates) {
    const letter = owed.get(profileId);
    const decision =
      snapshot && decideOwed(snapshot, previous, letter ?? null, activation, settings.exportOptions, flags);
    if (decision?.kind === 'exclude') {
      excluded[decision.reason] = (excluded[decision.reason] ?? 0) + 1;
      continue;
    }
    if (!snapshot || !decision || decision.kind !== 'export') {
      if ((!snapshot || decision?.kind === 'skip') && letter !== undefined) settled.push(profileId);
      chunk.counts.skipped += 1;
      continue;
    }
    const body = settings.exportOptions.includeMessageId
      ? withMessageId(decision.record, messageIdOf(destinationId, profileId, seq))
      : decision.record;
    const record: OutgoingRecord = {
      profileId,
      partitionKey: partitionKeyOf(settings.partitionKey, profileId, snapshot),
      data: Buffer.from(JSON.stringify(body)),
    };
    records.push(record);
    inFlight.set(record, { projection: decision.projection, changeKey, chunk, owed: letter !== undefined });
  }
  chunk.pending = records.length;
  return { records, settled };
}

/**
 * The write session's acknowledgement handler: writes the ledger for acknowledged records (never
 * before, so nothing unacknowledged is ever taken as sent), removes the dead letters they
 * settle, and counts them in their chunks.
 */
async function writeLedger<C>(
  store: Store,
  destinationId: string,
  acked: OutgoingRecord[],
  inFlight: Map<OutgoingRecord, InFlight<C>>,
): Promise<void> {
  const sent = acked.map((record) => inFlight.get(record) as InFlight<C>);
  await store.writeLedger(
    destinationId,
    acked.map((record, i) => {
      const { projection, changeKey } = sent[i] as InFlight<C>;
      return { profileId: record.profileId, projection, changeKey };
    }),
  );
  await store.removeDeadLetters(
    destinationId,
    acked.filter((_, i) => (sent[i] as InFlight<C>).owed).map((record) => record.profileId),
  );
  for (const [i, record] of acked.entries()) {
    const { chunk } = sent[i] as InFlight<C>;
    inFlight.delete(record);
    chunk.pending -= 1;
    chunk.counts.exported += 1;
  }
}

/**
 * Records the writer refused (too large, invalid) go to the dead-letter table, with the projection
 * they owe, and are counted; they hold nothing back.
 */
async function deadLetter<C>(
  store: Store,
  destinationId: string,
  rejected: RejectedRecord[],
  chunk: Chunk<C>,
  inFlight: Map<OutgoingRecord, InFlight<C>>,
): Promise<void> {
  if (rejected.length === 0) return;
  await store.addDeadLetters(
    rejected.map(({ record, reason }) => ({
      destinationId,
      profileId: record.profileId,
      reason,
      record: Buffer.from(record.data).toString('utf8'),
      projection: (inFlight.get(record) as InFlight<C>).projection,
    })),
  );
  const byReason = chunk.counts.deadLetteredByReason ?? {};
  for (const { record, code } of rejected) {
    inFlight.delete(record);
    byReason[code] = (byReason[code] ?? 0) + 1;
  }
  chunk.pending -= rejected.length;
  chunk.counts.deadLettered += rejected.length;
}

/**
 * Configuration errors no retry fixes, and a store that stayed unreachable, become non-retryable
 * failures carrying the progress made, so the destination stops with their message and keeps
 * what was done; others are retried.
 */
function terminalFailure(err: unknown, progress: unknown): unknown {
  if (err instanceof KinesisTerminalError || err instanceof CredentialsError) {
    const type = err instanceof KinesisTerminalError ? err.code : err.name;
    return ApplicationFailure.create({ type, message: err.message, nonRetryable: true, details: [progress] });
  }
  return storeDownFailure(err, progress);
}
