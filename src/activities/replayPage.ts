import { Context } from '@temporalio/activity';
import { changeKeySpecOf } from '../domain/changeKey';
import type { ActivationMetrics } from '../observability/metrics';
import type { Store } from '../store/store';
import { pageStart, runPage } from './pagePipeline';
import type { CandidateSource, PageCheckpoint, RecordWriters } from './pagePipeline';
import { reportPage } from './pageReport';
import type { ReplayPageCheckpoint, ReplayPageInput, ReplayPageResult } from './types';

/**
 * Replays dead letters: the profiles they name, by profile id after the cursor, are decided again
 * from their current snapshots against the ledger and the current settings, and sent through the
 * export path (see runPage and domain/deadLetterRule): a delivered record removes its letter, one
 * refused again replaces it, and a profile owing nothing any more (the consumer has its state, or
 * it is no longer stored) loses its letter. A retried attempt resumes after its last acknowledged chunk.
 */
export async function replayPage(
  store: Store,
  writers: RecordWriters,
  input: ReplayPageInput,
  metrics?: ActivationMetrics,
): Promise<ReplayPageResult> {
  const { destinationId } = input;
  const resumed = Context.current().info.heartbeatDetails as ReplayPageCheckpoint | undefined;
  const start: PageCheckpoint<string | null> = resumed
    ? { cursor: resumed.cursor, read: resumed.read, counts: resumed.counts }
    : pageStart(input.cursor);
  const lettered = new Set((await store.listDeadLetters(destinationId)).map((l) => l.profileId));
  const wanted = input.profileIds === null ? [...lettered] : input.profileIds.filter((id) => lettered.has(id));
  const profileIds = [...new Set(wanted)].sort();
  if (profileIds.length === 0) return { cursor: start.cursor, more: false, ...start.counts, putCalls: 0, throttled: 0 };
  const spec = changeKeySpecOf(input.activation);
  const source: CandidateSource<string | null> = {
    async read(cursor, limit) {
      const ids = profileIds.filter((id) => cursor === null || id > cursor).slice(0, limit);
      const candidates = await store.readProfileCandidates(destinationId, spec, ids);
      const stored = new Set(candidates.map((c) => c.profileId));
      await store.removeDeadLetters(
        destinationId,
        ids.filter((id) => !stored.has(id)),
      );
      return { candidates, read: ids.length, cursor: ids[ids.length - 1] };
    },
  };
  const target = { ...input, replay: true, pageSize: profileIds.length };
  const { checkpoint, more, put } = await runPage(store, writers, target, source, start, (p): ReplayPageCheckpoint => ({
    cursor: p.cursor,
    read: p.read,
    counts: p.counts,
  }));
  reportPage(metrics, 'dead-letter replay', target, checkpoint.counts, put, { read: checkpoint.read });
  return {
    cursor: checkpoint.cursor,
    // Stopped by its time budget only: every letter read is all there was.
    more: more && checkpoint.read < profileIds.length,
    ...checkpoint.counts,
    ...put,
  };
}
