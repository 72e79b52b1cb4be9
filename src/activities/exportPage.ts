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
  // The page decides the changes up to the head as of its start. A profile it sent and that is
  // rewritten meanwhile has its latest change above that head, so the next page decides it, once
  // this one's records are acknowledged and in the ledger. Read here instead, it would meet the
  // ledger without the record still in flight, and the read would leave out an exit from a
  // segment it never saw the profile in.
  const stopAt = await store.head();
  let beyond = false;
  const source: CandidateSource<number> = {
    async read(from, limit) {
      const rows = await store.readExportCandidates(view, { cursor: from, limit });
      const candidates = rows.filter((c) => c.seq <= stopAt);
      beyond ||= candidates.length < rows.length;
      metrics?.profilesRead.inc({ destination: input.destinationId }, candidates.length);
      // A short chunk read every concerned change up to the head (read before it): the cursor
      // moves past the changes that concern other destinations too, so they are never looked at again.
      const through = candidates.length < limit ? Math.max(stopAt, from) : (candidates[limit - 1]?.seq ?? from);
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
    // Changes past the page's head wait for the next page.
    more: more || beyond,
    remaining: await store.countChangesAfter(checkpoint.cursor),
    ...checkpoint.counts,
    ...put,
  };
}
