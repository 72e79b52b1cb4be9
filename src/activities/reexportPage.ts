import { Context } from '@temporalio/activity';
import type { ActivationMetrics } from '../observability/metrics';
import type { Store } from '../store/store';
import { ledgerViewOf, pageStart, runPage } from './pagePipeline';
import type { CandidateSource, PageCheckpoint, RecordWriters } from './pagePipeline';
import { reportPage } from './pageReport';
import type { Recorded, ReexportPageCheckpoint, ReexportPageInput, ReexportPageResult } from './types';

/**
 * Re-exports one page of segment members, by profile id after the workflow's cursor (see
 * runPage). A retried attempt resumes after the last acknowledged chunk: in diff mode the ledger
 * would skip what was acknowledged anyway, and a forced page resends at most what was in flight.
 */
export async function reexportPage(
  store: Store,
  writers: RecordWriters,
  input: ReexportPageInput,
  metrics?: ActivationMetrics,
): Promise<ReexportPageResult> {
  const resumed = Context.current().info.heartbeatDetails as Recorded<ReexportPageCheckpoint> | undefined;
  const recorded: Recorded<ReexportPageInput> = input;
  const start: PageCheckpoint<string | null> = resumed
    ? { cursor: resumed.cursor ?? resumed.afterProfileId ?? null, read: resumed.read, counts: resumed.counts }
    : pageStart(recorded.cursor ?? recorded.afterProfileId ?? null);
  const view = ledgerViewOf(input);
  const { upToSeq } = input;
  const source: CandidateSource<string | null> = {
    async read(cursor, limit) {
      const members = await store.readExportCandidates(view, { segmentIds: input.segmentIds, cursor, limit });
      metrics?.profilesRead.inc({ destination: input.destinationId }, members.length);
      // A back-fill leaves members changed after upToSeq to the change stream.
      const candidates = upToSeq === null ? members : members.filter((m) => m.seq <= upToSeq);
      return { candidates, read: members.length, cursor: members[members.length - 1]?.profileId };
    },
  };
  const { checkpoint, more, put } = await runPage(
    store,
    writers,
    input,
    source,
    start,
    (p): ReexportPageCheckpoint => p,
  );
  reportPage(metrics, 're-export', input, checkpoint.counts, put, {
    read: checkpoint.read,
    force: String(input.force),
  });
  return { cursor: checkpoint.cursor, read: checkpoint.read, more, ...checkpoint.counts, ...put };
}
