import { Context } from '@temporalio/activity';
import type { Store } from '../store/store';
import { emptyCounts, exportChunk } from './exportChunk';
import type { RecordWriters } from './exportChunk';
import type { ReexportPageInput, ReexportPageResult } from './types';

/** How often a page tells Temporal the worker is alive, also while Kinesis throttles it. */
const LIVENESS_INTERVAL_MS = 2000;

/**
 * Re-exports one page of segment members (by profile id, after the workflow's cursor) as one
 * chunk. The cursor lives in the workflow, so a retried page repeats at most this page: in diff
 * mode the ledger skips what was acknowledged, and a forced page resends at most its own records.
 */
export async function reexportPage(store: Store, writers: RecordWriters, input: ReexportPageInput): Promise<ReexportPageResult> {
  const ctx = Context.current();
  const alive = setInterval(() => ctx.heartbeat(), LIVENESS_INTERVAL_MS);
  try {
    ctx.heartbeat();
    const rows = await store.readSegmentMembers(input.segmentIds, input.afterProfileId, input.pageSize);
    const upToSeq = input.upToSeq;
    const inScope = upToSeq === null ? rows : rows.filter((row) => row.seq <= upToSeq);
    const counts = emptyCounts();
    if (inScope.length > 0) {
      await exportChunk(store, input, inScope, writers.forDestination(input.destinationId, input.settings), counts);
    }
    return {
      lastProfileId: rows[rows.length - 1]?.profileId ?? input.afterProfileId,
      read: rows.length,
      more: rows.length >= input.pageSize,
      ...counts,
    };
  } finally {
    clearInterval(alive);
  }
}
