import { uuid4 } from '@temporalio/workflow';
import type { Recorded, ReexportPageResult } from '../activities/types';
import type { Activation } from '../domain/activation';
import type { ActiveReexport, ReexportProgress, ReexportState, ReexportTrigger } from './messages';

/**
 * Members per re-export page, and so per activity. Within a page, chunks are read while earlier
 * ones are sent, and a retried page resumes after its last heartbeated chunk; between pages the
 * writer drains and a workflow task runs, so pages are large. The cursor moves in the workflow
 * after each page: a crash repeats at most one page.
 */
export const REEXPORT_PAGE_SIZE = 20_000;

/** Finished re-exports kept for `status` (and for clients waiting on one). */
const RECENT_KEPT = 5;

export function emptyReexportState(): ReexportState {
  return { active: null, pendingBackfill: null, recent: [] };
}

/**
 * The destination's re-exports, one at a time: the running one with its cursor, a back-fill
 * waiting for it, and the last few finished. Plain JSON state, carried across continue-as-new;
 * the actor runs the pages, interleaved with its change exports, so no profile is ever in
 * flight twice.
 */
export class Reexports {
  constructor(readonly state: ReexportState) {
    const active: Recorded<ActiveReexport> | null = state.active;
    if (active && active.cursor === undefined) {
      active.cursor = active.afterProfileId ?? null;
      delete active.afterProfileId;
    }
  }

  get active(): ActiveReexport | null {
    return this.state.active;
  }

  /** Why a new re-export cannot start now, or null when it can. */
  busyReason(activation: Activation | null): string | null {
    if (activation === null) return 'the destination has no activation yet: activate segments first';
    const running = this.state.active?.progress;
    if (!running) return null;
    const total = running.estimatedTotal === null ? '' : ` of ~${running.estimatedTotal}`;
    return (
      `a re-export of this destination is running already ` +
      `(${running.trigger} re-export ${running.id}, ${running.profilesRead}${total} members read); ` +
      'wait for it to finish'
    );
  }

  start(
    trigger: ReexportTrigger,
    force: boolean,
    segmentIds: string[],
    upToSeq: number | null,
    waiters: string[] = [],
  ): ReexportProgress {
    const progress: ReexportProgress = {
      id: uuid4(),
      trigger,
      force,
      segmentIds,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      pagesDone: 0,
      profilesRead: 0,
      profilesExported: 0,
      profilesSkipped: 0,
      deadLettered: 0,
      estimatedTotal: null,
      estimatedRemaining: null,
    };
    this.state.active = { progress, cursor: null, upToSeq, waiters };
    return progress;
  }

  /**
   * Back-fills newly mapped segments: members changed up to `upToSeq` (later changes reach the
   * change stream, which decides them under the new mapping). Waits for a running re-export.
   */
  queueBackfill(segmentIds: string[], upToSeq: number): void {
    if (this.state.active === null) {
      this.start('activation', false, segmentIds, upToSeq);
      return;
    }
    const pending = this.state.pendingBackfill;
    // The higher bound: members changed in between were decided without the earlier segments.
    this.state.pendingBackfill = pending
      ? {
          segmentIds: [...new Set([...pending.segmentIds, ...segmentIds])],
          upToSeq: Math.max(pending.upToSeq, upToSeq),
        }
      : { segmentIds, upToSeq };
  }

  /** The running re-export's segments that are still mapped. */
  segmentsToPage(activation: Activation): string[] {
    const mapped = new Set(activation.segments.map((s) => s.id));
    return (this.state.active?.progress.segmentIds ?? []).filter((id) => mapped.has(id));
  }

  recordEstimate(total: number): void {
    const progress = this.requireActive().progress;
    progress.estimatedTotal = total;
    progress.estimatedRemaining = Math.max(0, total - progress.profilesRead);
  }

  recordPage(page: Recorded<ReexportPageResult>): void {
    const active = this.requireActive();
    const p = active.progress;
    active.cursor = page.cursor ?? page.lastProfileId ?? null;
    p.pagesDone++;
    p.profilesRead += page.read;
    p.profilesExported += page.exported;
    p.profilesSkipped += page.skipped;
    p.deadLettered += page.deadLettered;
    if (p.estimatedTotal !== null) p.estimatedRemaining = Math.max(0, p.estimatedTotal - p.profilesRead);
  }

  /** Ends the running re-export and starts a waiting back-fill; returns the finished one. */
  finish(): ActiveReexport {
    const finished = this.requireActive();
    finished.progress.finishedAt = new Date().toISOString();
    finished.progress.estimatedRemaining = 0;
    this.state.recent = [finished.progress, ...this.state.recent].slice(0, RECENT_KEPT);
    this.state.active = null;
    const pending = this.state.pendingBackfill;
    this.state.pendingBackfill = null;
    if (pending) this.start('activation', false, pending.segmentIds, pending.upToSeq);
    return finished;
  }

  private requireActive(): ActiveReexport {
    const active = this.state.active;
    if (active === null) throw new Error('no re-export is running');
    return active;
  }
}
