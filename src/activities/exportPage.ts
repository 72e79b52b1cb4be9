import { ApplicationFailure, Context } from '@temporalio/activity';
import { decideExport } from '../domain/diff';
import { partitionKeyOf } from '../domain/partitionKey';
import type { LedgerEntry, Store, StoredProfile } from '../store/store';
import type { DestinationSettings } from '../domain/destination';
import type { Projection } from '../domain/projection';
import { KinesisTerminalError } from '../kinesis/errors';
import type { OutgoingRecord } from '../kinesis/outgoingRecord';
import type { KinesisRecordWriter } from '../kinesis/recordWriter';
import type { ExportPageInput, ExportPageResult } from './types';

/** A destination's record writer, as export pages use it. */
export type RecordWriter = Pick<KinesisRecordWriter, 'write'>;

/**
 * Where export pages send records: the worker's KinesisWriters. The store-and-diff benchmark
 * (bench/diffLedger.ts) passes writers that acknowledge at once, to measure this path without Kinesis.
 */
export interface RecordWriters {
  forDestination(destinationId: string, settings: DestinationSettings): RecordWriter;
}

/** Profiles diffed and sent between two heartbeats; a retry resumes after the last whole chunk. */
export const EXPORT_CHUNK_SIZE = 2000;

/** Heartbeat details: where a retried attempt resumes, and what earlier attempts counted. */
interface ExportProgress {
  afterSeq: number;
  counts: Omit<ExportPageResult, 'lastSeq' | 'more' | 'remaining'>;
}

/**
 * Exports one page of changed profiles: read from the store, diff against the ledger, build
 * seed-format records, put them to Kinesis and write the ledger for acknowledged records only.
 * Because the ledger follows acknowledgement, a retry never loses a record, and the diff keeps
 * it from resending what was acknowledged before a crash.
 */
export async function exportPage(store: Store, writers: RecordWriters, input: ExportPageInput): Promise<ExportPageResult> {
  const ctx = Context.current();
  const resumed = ctx.info.heartbeatDetails as ExportProgress | undefined;
  const progress: ExportProgress = resumed ?? {
    afterSeq: input.afterSeq,
    counts: { decided: 0, exported: 0, skipped: 0, deadLettered: 0, putCalls: 0, throttled: 0 },
  };
  const { settings, destinationId } = input;
  const writer = writers.forDestination(destinationId, settings);

  // Read chunk by chunk rather than the whole page at once: only one chunk of snapshots is alive
  // at a time, so memory stays flat and most garbage dies young (cheap to collect). A profile
  // rewritten meanwhile comes again in a later chunk, with its new state, after its earlier
  // record was acknowledged: one profile is still never in flight twice.
  for (;;) {
    const wanted = Math.min(EXPORT_CHUNK_SIZE, input.pageSize - progress.counts.decided);
    if (wanted <= 0) break;
    const chunk = await store.readProfilesSince(progress.afterSeq, wanted);
    const last = chunk[chunk.length - 1];
    if (last === undefined) break;
    await exportChunk(store, destinationId, input, chunk, writer, progress);
    progress.afterSeq = last.seq;
    ctx.heartbeat(progress);
    if (chunk.length < wanted) break;
  }

  return {
    lastSeq: progress.afterSeq,
    more: progress.counts.decided >= input.pageSize,
    remaining: await store.countProfilesSince(progress.afterSeq),
    ...progress.counts,
  };
}

async function exportChunk(
  store: Store,
  destinationId: string,
  input: ExportPageInput,
  chunk: StoredProfile[],
  writer: RecordWriter,
  progress: ExportProgress,
): Promise<void> {
  const { settings, activation } = input;
  const ledger = await store.readLedger(destinationId, chunk.map((row) => row.profileId));
  const projections = new Map<string, Projection>();
  const records: OutgoingRecord[] = [];
  for (const row of chunk) {
    const decision = decideExport(row.snapshot, ledger.get(row.profileId) ?? null, activation, settings.exportOptions);
    if (decision.kind === 'skip') {
      progress.counts.skipped++;
      continue;
    }
    projections.set(row.profileId, decision.projection);
    records.push({
      profileId: row.profileId,
      partitionKey: partitionKeyOf(settings.partitionKey, row.profileId, row.snapshot),
      data: Buffer.from(JSON.stringify(decision.record)),
    });
  }
  progress.counts.decided += chunk.length;

  try {
    const stats = await writer.write(records, async (acked) => {
      const entries: LedgerEntry[] = acked.map((r) => ({ profileId: r.profileId, projection: projections.get(r.profileId) as Projection }));
      await store.writeLedger(destinationId, entries);
      progress.counts.exported += acked.length;
    }, { signal: Context.current().cancellationSignal });
    progress.counts.putCalls += stats.calls;
    progress.counts.throttled += stats.throttledEntries;
    if (stats.deadLettered.length > 0) {
      await store.addDeadLetters(
        stats.deadLettered.map(({ record, reason }) => ({
          destinationId,
          profileId: record.profileId,
          reason,
          record: Buffer.from(record.data).toString('utf8'),
        })),
      );
      progress.counts.deadLettered += stats.deadLettered.length;
    }
  } catch (err) {
    if (err instanceof KinesisTerminalError) {
      throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true });
    }
    throw err;
  }
}
