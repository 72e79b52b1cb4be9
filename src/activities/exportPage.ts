import { ApplicationFailure, Context } from '@temporalio/activity';
import { CredentialsError } from '../aws/credentials';
import { decideExport } from '../domain/diff';
import { partitionKeyOf } from '../domain/partitionKey';
import type { Projection } from '../domain/projection';
import type { Store, StoredProfile } from '../store/store';
import { KinesisTerminalError } from '../kinesis/errors';
import type { RejectedRecord } from '../kinesis/batcher';
import type { OutgoingRecord } from '../kinesis/outgoingRecord';
import type { Activation } from '../domain/activation';
import type { DestinationSettings } from '../domain/destination';
import type { KinesisRecordWriter, WriteSession, WriteStats } from '../kinesis/recordWriter';
import type { ExportCounts, ExportPageInput, ExportPageResult, ExportProgress } from './types';
import type { ActivationMetrics } from '../observability/metrics';
import { reportPage } from './pageReport';

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
const MAX_UNACKNOWLEDGED = 8 * EXPORT_CHUNK_SIZE;
const HEARTBEAT_INTERVAL_MS = 1000;

/**
 * Where export pages send records: the worker's KinesisWriters. The store-and-diff benchmark
 * (bench/diffLedger.ts) passes writers that acknowledge at once, to measure this path without Kinesis.
 */
export interface RecordWriters {
  forDestination(destinationId: string, settings: DestinationSettings): Pick<KinesisRecordWriter, 'open'>;
}

/** Profiles decided together: done when none of its records awaits acknowledgement. */
export interface Chunk {
  pending: number;
  counts: ExportCounts;
}

/** A chunk of a page read by change sequence, not yet checkpointed. */
interface SeqChunk extends Chunk {
  lastSeq: number;
}

/** What an outgoing record needs once acknowledged: the ledger entry and its chunk. */
export interface InFlight {
  projection: Projection;
  chunk: Chunk;
}

/** Where and how a chunk is decided. */
export interface ChunkTarget {
  destinationId: string;
  settings: DestinationSettings;
  activation: Activation;
  /** Send every member even when nothing mapped changed (a forced re-export). */
  force?: boolean;
}

/**
 * Exports one page of changed profiles: read from the store chunk by chunk, diff against the
 * ledger, build seed-format records and put them to Kinesis, the next chunk being read while
 * the earlier ones are sent. The ledger is written for acknowledged records only, so a retry
 * never loses a record and the diff keeps it from resending what was acknowledged. Progress is
 * heartbeated as the longest run of finished chunks; a retried attempt resumes after it, and a
 * terminal failure carries it as details so the workflow keeps what was done.
 */
export async function exportPage(store: Store, writers: RecordWriters, input: ExportPageInput, metrics?: ActivationMetrics): Promise<ExportPageResult> {
  const ctx = Context.current();
  const { destinationId, settings } = input;
  // Replaced, never changed: the SDK sends heartbeat details some time after they are given.
  let checkpoint: ExportProgress = (ctx.info.heartbeatDetails as ExportProgress | undefined) ?? {
    afterSeq: input.afterSeq,
    counts: { decided: 0, exported: 0, skipped: 0, deadLettered: 0 },
  };
  const chunks: SeqChunk[] = [];
  const inFlight = new Map<OutgoingRecord, InFlight>();

  let heartbeatAt = 0;
  const heartbeat = (): void => {
    heartbeatAt = performance.now();
    ctx.heartbeat(checkpoint);
  };
  const advance = (): void => {
    for (let head = chunks[0]; head !== undefined && head.pending === 0; head = chunks[0]) {
      chunks.shift();
      checkpoint = { afterSeq: head.lastSeq, counts: addCounts(checkpoint.counts, head.counts) };
    }
    // Each heartbeat is encoded and handed to the SDK's core, which sends only the latest now and
    // then: one a second is plenty, and the last one is given again before the attempt ends.
    if (performance.now() - heartbeatAt >= HEARTBEAT_INTERVAL_MS) heartbeat();
  };

  const writeLedger = ledgerWriter(store, destinationId, inFlight);
  const onAcked = async (acked: OutgoingRecord[]): Promise<void> => {
    await writeLedger(acked);
    advance();
  };

  let session: WriteSession;
  try {
    session = writers.forDestination(destinationId, settings).open(onAcked, { signal: ctx.cancellationSignal });
  } catch (err) {
    throw terminalFailure(err, checkpoint);
  }

  let afterSeq = checkpoint.afterSeq;
  let decided = checkpoint.counts.decided;
  let stats: WriteStats;
  try {
    while (decided < input.pageSize) {
      const limit = Math.min(EXPORT_CHUNK_SIZE, input.pageSize - decided);
      const rows = await store.readProfilesSince(afterSeq, limit);
      const last = rows[rows.length - 1];
      if (last === undefined) break;
      afterSeq = last.seq;
      decided += rows.length;

      const chunk: SeqChunk = { lastSeq: last.seq, pending: 0, counts: { decided: rows.length, exported: 0, skipped: 0, deadLettered: 0 } };
      chunks.push(chunk);
      const records = await decideChunk(store, input, rows, chunk, inFlight);
      await deadLetter(store, destinationId, session.add(records), chunk, inFlight);
      advance();
      if (rows.length < limit) break;
      await session.whenAtMost(MAX_UNACKNOWLEDGED);
      // Let answers from Kinesis in before the next chunk holds the event loop again.
      await new Promise((resolve) => setImmediate(resolve));
    }
    stats = await session.end();
  } catch (err) {
    // Calls in flight finish and reach the ledger before the attempt ends.
    session.cancel(err);
    await session.end().catch(() => undefined);
    heartbeat();
    throw terminalFailure(err, checkpoint);
  }

  reportPage(metrics, 'export', destinationId, checkpoint.counts, { afterSeq: input.afterSeq, lastSeq: checkpoint.afterSeq, putCalls: stats.calls, throttled: stats.throttledEntries, stream: settings.stream });
  return {
    lastSeq: checkpoint.afterSeq,
    more: decided >= input.pageSize,
    remaining: await store.countProfilesSince(checkpoint.afterSeq),
    ...checkpoint.counts,
    putCalls: stats.calls,
    throttled: stats.throttledEntries,
  };
}

/** Diffs a chunk against the ledger and builds the records to send; skips are counted in the chunk. */
export async function decideChunk(store: Store, target: ChunkTarget, rows: StoredProfile[], chunk: Chunk, inFlight: Map<OutgoingRecord, InFlight>): Promise<OutgoingRecord[]> {
  const { settings, activation, destinationId } = target;
  const ledger = await store.readLedger(destinationId, rows.map((row) => row.profileId));
  const records: OutgoingRecord[] = [];
  for (const row of rows) {
    const previous = ledger.get(row.profileId) ?? null;
    const decision = decideExport(row.snapshot, previous, activation, settings.exportOptions, { force: target.force ?? false });
    if (decision.kind === 'skip') {
      chunk.counts.skipped += 1;
      continue;
    }
    const record: OutgoingRecord = {
      profileId: row.profileId,
      partitionKey: partitionKeyOf(settings.partitionKey, row.profileId, row.snapshot),
      data: Buffer.from(JSON.stringify(decision.record)),
    };
    records.push(record);
    inFlight.set(record, { projection: decision.projection, chunk });
  }
  chunk.pending = records.length;
  return records;
}

/**
 * The write session's acknowledgement handler: writes the ledger for acknowledged records (never
 * before, so nothing unacknowledged is ever taken as sent) and counts them in their chunks.
 */
export function ledgerWriter(store: Store, destinationId: string, inFlight: Map<OutgoingRecord, InFlight>): (acked: OutgoingRecord[]) => Promise<void> {
  return async (acked) => {
    const sent = acked.map((record) => inFlight.get(record) as InFlight);
    await store.writeLedger(destinationId, acked.map((record, i) => ({ profileId: record.profileId, projection: (sent[i] as InFlight).projection })));
    for (const [i, record] of acked.entries()) {
      const { chunk } = sent[i] as InFlight;
      inFlight.delete(record);
      chunk.pending -= 1;
      chunk.counts.exported += 1;
    }
  };
}

/** Records the writer refused (too large, invalid) go to the dead-letter table and are counted; they hold nothing back. */
export async function deadLetter(store: Store, destinationId: string, rejected: RejectedRecord[], chunk: Chunk, inFlight: Map<OutgoingRecord, InFlight>): Promise<void> {
  if (rejected.length === 0) return;
  await store.addDeadLetters(
    rejected.map(({ record, reason }) => ({ destinationId, profileId: record.profileId, reason, record: Buffer.from(record.data).toString('utf8') })),
  );
  for (const { record } of rejected) inFlight.delete(record);
  chunk.pending -= rejected.length;
  chunk.counts.deadLettered += rejected.length;
}

function addCounts(a: ExportCounts, b: ExportCounts): ExportCounts {
  return { decided: a.decided + b.decided, exported: a.exported + b.exported, skipped: a.skipped + b.skipped, deadLettered: a.deadLettered + b.deadLettered };
}

/**
 * Configuration errors no retry fixes become non-retryable failures carrying the progress made
 * (if any), so the destination stops with their message and keeps what was done; others are retried.
 */
export function terminalFailure(err: unknown, progress?: ExportProgress): unknown {
  if (err instanceof KinesisTerminalError || err instanceof CredentialsError) {
    const type = err instanceof KinesisTerminalError ? err.code : err.name;
    return ApplicationFailure.create({ type, message: err.message, nonRetryable: true, ...(progress ? { details: [progress] } : {}) });
  }
  return err;
}
