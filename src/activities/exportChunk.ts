import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Activation } from '../domain/activation';
import type { DestinationSettings } from '../domain/destination';
import { decideExport } from '../domain/diff';
import { partitionKeyOf } from '../domain/partitionKey';
import type { Projection } from '../domain/projection';
import { KinesisTerminalError } from '../kinesis/errors';
import type { OutgoingRecord } from '../kinesis/outgoingRecord';
import type { KinesisRecordWriter } from '../kinesis/recordWriter';
import type { LedgerEntry, Store, StoredProfile } from '../store/store';
import type { ExportCounts } from './types';

/** Profiles diffed and sent together: the unit a retry repeats (and so the most it can resend). */
export const EXPORT_CHUNK_SIZE = 2000;

/** A destination's record writer, as export pages use it. */
export type RecordWriter = Pick<KinesisRecordWriter, 'write'>;

/**
 * Where export pages send records: the worker's KinesisWriters. The store-and-diff benchmark
 * (bench/diffLedger.ts) passes writers that acknowledge at once, to measure this path without Kinesis.
 */
export interface RecordWriters {
  forDestination(destinationId: string, settings: DestinationSettings): RecordWriter;
}

export interface ChunkTarget {
  destinationId: string;
  settings: DestinationSettings;
  activation: Activation;
  /** Send every member even when nothing mapped changed (a forced re-export). */
  force?: boolean;
}

export function emptyCounts(): ExportCounts {
  return { decided: 0, exported: 0, skipped: 0, deadLettered: 0, putCalls: 0, throttled: 0 };
}

/**
 * Diffs a chunk of profiles against the ledger, builds seed-format records, puts them to Kinesis
 * and writes the ledger for acknowledged records only, adding to `counts` as it goes. Because the
 * ledger follows acknowledgement, a retry never loses a record, and the diff keeps it from
 * resending what was acknowledged before a crash.
 */
export async function exportChunk(
  store: Store,
  target: ChunkTarget,
  chunk: StoredProfile[],
  writer: RecordWriter,
  counts: ExportCounts,
): Promise<void> {
  const { destinationId, settings, activation } = target;
  const ledger = await store.readLedger(destinationId, chunk.map((row) => row.profileId));
  const projections = new Map<string, Projection>();
  const records: OutgoingRecord[] = [];
  for (const row of chunk) {
    const previous = ledger.get(row.profileId) ?? null;
    const decision = decideExport(row.snapshot, previous, activation, settings.exportOptions, { force: target.force ?? false });
    if (decision.kind === 'skip') {
      counts.skipped++;
      continue;
    }
    projections.set(row.profileId, decision.projection);
    records.push({
      profileId: row.profileId,
      partitionKey: partitionKeyOf(settings.partitionKey, row.profileId, row.snapshot),
      data: Buffer.from(JSON.stringify(decision.record)),
    });
  }
  counts.decided += chunk.length;

  try {
    const stats = await writer.write(records, async (acked) => {
      const entries: LedgerEntry[] = acked.map((r) => ({ profileId: r.profileId, projection: projections.get(r.profileId) as Projection }));
      await store.writeLedger(destinationId, entries);
      counts.exported += acked.length;
    }, { signal: Context.current().cancellationSignal });
    counts.putCalls += stats.calls;
    counts.throttled += stats.throttledEntries;
    if (stats.deadLettered.length > 0) {
      await store.addDeadLetters(
        stats.deadLettered.map(({ record, reason }) => ({
          destinationId,
          profileId: record.profileId,
          reason,
          record: Buffer.from(record.data).toString('utf8'),
        })),
      );
      counts.deadLettered += stats.deadLettered.length;
    }
  } catch (err) {
    if (err instanceof KinesisTerminalError) {
      throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true });
    }
    throw err;
  }
}
