import { Context } from '@temporalio/activity';
import type { ActivationMetrics } from '../observability/metrics';
import type { Store } from '../store/store';
import { ledgerViewOf, pageStart, runPage } from './pagePipeline';
import type { CandidateSource, PageCheckpoint, RecordWriters } from './pagePipeline';
import { reportPage } from './pageReport';
import type { ChangePageCheckpoint, ExportPageInput, ExportPageResult, Recorded } from './types';

/**
 * Exports one page of changed profiles, by change sequence (see runPage). Its checkpoint is a
 * ChangePageCheckpoint: heartbeated, resumed by a retried attempt, and carried by a terminal failure.
 */
export async function exportPage(
  store: Store,
  writers: RecordWriters,
  input: ExportPageInput,
  metrics?: ActivationMetrics,
): Promise<ExportPageResult> {
  const resumed = Context.current().info.heartbeatDetails as Recorded<ChangePageCheckpoint> | undefined;
  const recorded: Recorded<ExportPageInput> = input;
  const cursor = recorded.cursor ?? recorded.afterSeq ?? 0;
  const start: PageCheckpoint<number> = resumed
    ? { cursor: resumed.cursor ?? resumed.afterSeq ?? cursor, read: resumed.counts.decided, counts: resumed.counts }
    : pageStart(cursor);
  const view = ledgerViewOf(input);
  const source: CandidateSource<number> = {
    async read(from, limit) {
      // Read first: every change up to the head is visible to the read that follows (both stores
      // commit seqs in order), and the read returns only those that concern this destination.
      const head = await store.head();
      const candidates = await store.readExportCandidates(view, { cursor: from, limit });
      metrics?.profilesRead.inc({ destination: input.destinationId }, candidates.length);
      const last = candidates[candidates.length - 1]?.seq;
      // A short chunk read every concerned change up to the head: the cursor moves past the
      // changes that concern other destinations too, so they are never looked at again.
      const through = candidates.length < limit ? Math.max(head, last ?? from) : last;
      return { candidates, read: candidates.length, cursor: through === from ? undefined : through };
    },
  };
  const { checkpoint, more, put } = await runPage(store, writers, input, source, start, (p): ChangePageCheckpoint => ({
    cursor: p.cursor,
    counts: p.counts,
  }));
  reportPage(metrics, 'export', input, checkpoint.counts, put, { fromCursor: cursor, toCursor: checkpoint.cursor });
  return {
    cursor: checkpoint.cursor,
    more,
    remaining: await store.countChangesAfter(checkpoint.cursor),
    ...checkpoint.counts,
    ...put,
  };
}
