import { Context } from '@temporalio/activity';
import type { Store } from '../store/store';
import { EXPORT_CHUNK_SIZE, emptyCounts, exportChunk } from './exportChunk';
import type { RecordWriters } from './exportChunk';
import type { ExportCounts, ExportPageInput, ExportPageResult } from './types';

export type { RecordWriter, RecordWriters } from './exportChunk';

/** Heartbeat details: where a retried attempt resumes, and what earlier attempts counted. */
interface ExportProgress {
  afterSeq: number;
  counts: ExportCounts;
}

/**
 * Exports one page of changed profiles (by change sequence), chunk by chunk, heartbeating after
 * each whole chunk so a retried attempt resumes after the last one.
 */
export async function exportPage(store: Store, writers: RecordWriters, input: ExportPageInput): Promise<ExportPageResult> {
  const ctx = Context.current();
  const resumed = ctx.info.heartbeatDetails as ExportProgress | undefined;
  const progress: ExportProgress = resumed ?? { afterSeq: input.afterSeq, counts: emptyCounts() };
  const writer = writers.forDestination(input.destinationId, input.settings);

  const rows = await store.readProfilesSince(progress.afterSeq, input.pageSize - progress.counts.decided);
  const more = rows.length + progress.counts.decided >= input.pageSize;

  for (let start = 0; start < rows.length; start += EXPORT_CHUNK_SIZE) {
    const chunk = rows.slice(start, start + EXPORT_CHUNK_SIZE);
    await exportChunk(store, input, chunk, writer, progress.counts);
    progress.afterSeq = chunk[chunk.length - 1]?.seq ?? progress.afterSeq;
    ctx.heartbeat(progress);
  }

  return {
    lastSeq: progress.afterSeq,
    more,
    remaining: await store.countProfilesSince(progress.afterSeq),
    ...progress.counts,
  };
}
