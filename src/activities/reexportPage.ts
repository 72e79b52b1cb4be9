import { Context } from '@temporalio/activity';
import type { OutgoingRecord } from '../kinesis/outgoingRecord';
import type { WriteSession } from '../kinesis/recordWriter';
import type { ActivationMetrics } from '../observability/metrics';
import type { Store } from '../store/store';
import { deadLetter, decideChunk, ledgerWriter, terminalFailure } from './exportPage';
import type { Chunk, InFlight, RecordWriters } from './exportPage';
import { reportPage } from './pageReport';
import type { ReexportPageInput, ReexportPageResult } from './types';

/** How often a page tells Temporal the worker is alive, also while Kinesis throttles it. */
const LIVENESS_INTERVAL_MS = 2000;

/**
 * Re-exports one page of segment members (by profile id, after the workflow's cursor) as one
 * chunk. The cursor lives in the workflow, so a retried page repeats at most this page: in diff
 * mode the ledger skips what was acknowledged, and a forced page resends at most its own records.
 */
export async function reexportPage(store: Store, writers: RecordWriters, input: ReexportPageInput, metrics?: ActivationMetrics): Promise<ReexportPageResult> {
  const ctx = Context.current();
  const alive = setInterval(() => ctx.heartbeat(), LIVENESS_INTERVAL_MS);
  try {
    ctx.heartbeat();
    const rows = await store.readSegmentMembers(input.segmentIds, input.afterProfileId, input.pageSize);
    const upToSeq = input.upToSeq;
    const inScope = upToSeq === null ? rows : rows.filter((row) => row.seq <= upToSeq);
    const chunk: Chunk = { pending: 0, counts: { decided: inScope.length, exported: 0, skipped: 0, deadLettered: 0 } };
    if (inScope.length > 0) {
      const inFlight = new Map<OutgoingRecord, InFlight>();
      let session: WriteSession;
      try {
        session = writers.forDestination(input.destinationId, input.settings).open(ledgerWriter(store, input.destinationId, inFlight), { signal: ctx.cancellationSignal });
      } catch (err) {
        throw terminalFailure(err);
      }
      try {
        const records = await decideChunk(store, input, inScope, chunk, inFlight);
        await deadLetter(store, input.destinationId, session.add(records), chunk, inFlight);
        await session.end();
      } catch (err) {
        // Calls in flight finish and reach the ledger before the attempt ends.
        session.cancel(err);
        await session.end().catch(() => undefined);
        throw terminalFailure(err);
      }
    }
    reportPage(metrics, 're-export', input.destinationId, chunk.counts, { read: rows.length, force: String(input.force ?? false), stream: input.settings.stream });
    return {
      lastProfileId: rows[rows.length - 1]?.profileId ?? input.afterProfileId,
      read: rows.length,
      more: rows.length >= input.pageSize,
      ...chunk.counts,
    };
  } finally {
    clearInterval(alive);
  }
}
