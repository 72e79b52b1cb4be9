import { log, patched, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type {
  ChangePageCheckpoint,
  ExportCounts,
  ExportPageResult,
  Recorded,
  ReexportPageResult,
} from '../activities/types';
import type { Activation } from '../domain/activation';
import type { DestinationSettings } from '../domain/destination';
import { addCounts } from '../domain/exportCounts';
import type { PermissionCheckResult } from '../domain/permissionCheck';
import { totalOf } from '../domain/reasonCounts';
import { recordSizeLimit } from '../domain/recordSizeLimit';
import { DESTINATION_NAME, DESTINATION_STATE } from '../searchAttributes';
import { DEFAULT_ERROR_RETRY, errorRetryDelay } from './errorRetry';
import type {
  ActorState,
  CarriedState,
  DestinationState,
  DestinationStatus,
  DestinationStopped,
  DestinationWorkflowInput,
  ErrorRetry,
  PageSummary,
  ReexportProgress,
  ReexportTrigger,
  Step,
} from './messages';
import { emptyReexportState, REEXPORT_PAGE_SIZE, Reexports } from './reexports';

/**
 * Continue-as-new at this history length even where the server does not suggest it (it suggests
 * at 4,096 events by default; it warns at 10,240 and fails a run at 51,200).
 */
const HISTORY_EVENTS_LIMIT = 10_000;

/** Pages the short history in `status` keeps. */
const RECENT_PAGES = 10;

/** Marks runs whose failed permission checks are retried as checks (earlier runs retried an export). */
const CHECK_RETRIES_PATCH = 'check-retries';

/** Marks runs that stay paused when a step fails meanwhile (earlier runs showed `error`). */
const PAUSE_OUTLASTS_FAILURE_PATCH = 'pause-outlasts-failure';

/** Marks runs that keep the DestinationName search attribute (and the memo's name) equal to the name. */
const DESTINATION_NAME_PATCH = 'destination-name';

/** Marks runs whose search attribute shows `exporting` for re-exports and backlogs only (see shownState). */
const SHOWN_EXPORTS_PATCH = 'shown-exports';

/** A permission check: the per-permission result (null when it could not run) and what failed (null: all passed). */
export interface CheckOutcome {
  result: PermissionCheckResult | null;
  failure: string | null;
}

/** What a step ran under: a page started under an older mapping (generation) moves no cursor. */
export interface StepStart {
  generation: number;
  activation: Activation | null;
}

/**
 * The destination's state and its transitions, and the one decision of what to run next. Plain
 * data besides the search attribute it keeps in step with the state; the workflow runs the steps
 * (activities) and reports their outcomes here, and handlers call it after validating input.
 */
export class DestinationActor {
  readonly destinationId: string;
  readonly reexportPageSize: number;
  readonly reexports: Reexports;
  settings: DestinationSettings;
  activation: Activation | null;
  /** The change cursor: every profile changed up to this sequence has been decided (`checkpoint` in status). */
  changeCursor: number;
  private state: ActorState;
  /** The highest change sequence announced (`profilesChanged`) or read by a page. */
  private announcedHead: number;
  /** A change page is due even at the announced head: the last one was full. */
  private moreChanges: boolean;
  private pending: number;
  private counts: ExportCounts;
  private recentPages: PageSummary[];
  private permissions: PermissionCheckResult | null;
  private readonly errorRetry: ErrorRetry;
  /** Bumped when the activation changes. */
  private generation = 0;
  private running: Step | null = null;
  private lastStep: Step = 'reexport';
  private shown: DestinationState | undefined;
  /** Handlers holding the steps (a dead-letter replay, a delete): no step starts while one does. */
  private holds = 0;
  /** Stopped for deletion: no step starts again, and the workflow ends once its handlers finished. */
  private stoppedForDeletion: DestinationStopped | null = null;

  constructor(input: DestinationWorkflowInput) {
    const carried = input.carried;
    this.destinationId = input.destinationId;
    this.settings = input.settings;
    this.errorRetry = input.errorRetry ?? DEFAULT_ERROR_RETRY;
    this.reexportPageSize = input.reexportPageSize ?? REEXPORT_PAGE_SIZE;
    this.activation = carried?.activation ?? null;
    this.changeCursor = carried?.changeCursor ?? carried?.checkpoint ?? 0;
    this.announcedHead = carried?.announcedHead ?? carried?.knownSeq ?? 0;
    this.moreChanges = carried?.moreChanges ?? carried?.rescan ?? false;
    this.pending = carried?.pending ?? 0;
    this.counts = carriedCounts(carried);
    this.recentPages = carried?.recentPages ?? [];
    this.permissions = carried?.permissions ?? null;
    this.reexports = new Reexports(carried?.reexports ?? emptyReexportState());
    this.state = carried?.state ?? this.stateOfEarlierRuns(carried);
  }

  // Queries.

  status(): DestinationStatus {
    const error = this.state.name === 'error' ? this.state : null;
    const { exported, skipped, deadLettered, excludedByReason = {}, failedByErrorCode = {} } = this.counts;
    return {
      destinationId: this.destinationId,
      name: this.settings.name,
      stream: this.settings.stream,
      state: this.state.name,
      pending: this.pending,
      counters: {
        received: this.counts.decided,
        exported,
        skipped,
        deadLettered,
        excluded: totalOf(excludedByReason),
        failed: totalOf(failedByErrorCode),
        excludedByReason,
        failedByErrorCode,
        deadLetteredByReason: this.counts.deadLetteredByReason ?? {},
      },
      lastError: error?.message ?? null,
      failedAttempts: error?.failedAttempts ?? 0,
      nextRetryAt: error?.retryAt == null ? null : new Date(error.retryAt).toISOString(),
      checkpoint: this.changeCursor,
      activation: this.activation,
      permissions: this.permissions,
      reexport: this.reexports.active?.progress ?? null,
      recentReexports: this.reexports.state.recent,
      recentPages: this.recentPages,
    };
  }

  carry(): CarriedState {
    const { state, activation, changeCursor, announcedHead, moreChanges, pending, counts, permissions, recentPages } =
      this;
    return {
      state,
      activation,
      changeCursor,
      announcedHead,
      moreChanges,
      pending,
      counts,
      permissions,
      reexports: this.reexports.state,
      recentPages,
    };
  }

  /**
   * The one decision: the step to run now, or null to wait. In error only the automatic retry
   * runs, once it is due. Otherwise change pages and re-export pages take turns while both are due.
   */
  nextStep(): Step | null {
    if (this.holds > 0 || this.deleted) return null;
    const state = this.state;
    if (state.name === 'paused') return null;
    if (state.name === 'error') return state.retryAt !== null && Date.now() >= state.retryAt ? this.retryStep() : null;
    return this.turn();
  }

  /**
   * In error with something to retry: plans the automatic retry (the error's transition from no
   * retry planned to `retryAt`) and answers the milliseconds until it. Null when there is nothing
   * to retry yet; the retry planned when something comes then waits its full delay.
   */
  planRetry(): number | null {
    const state = this.state;
    if (state.name !== 'error') return null;
    if (this.retryStep() === null) {
      this.state = { ...state, retryAt: null };
      return null;
    }
    const retryAt = state.retryAt ?? Date.now() + errorRetryDelay(state.failedAttempts, this.errorRetry);
    this.state = { ...state, retryAt };
    return Math.max(0, retryAt - Date.now());
  }

  historyFull(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= HISTORY_EVENTS_LIMIT;
  }

  mappedSegmentIds(): string[] {
    return this.activation?.segments.map((s) => s.id) ?? [];
  }

  get deleted(): boolean {
    return this.stoppedForDeletion !== null;
  }

  /** What the workflow answers once deleted. */
  get stopped(): DestinationStopped | null {
    return this.stoppedForDeletion;
  }

  get paused(): boolean {
    return this.state.name === 'paused';
  }

  stepRunning(): boolean {
    return this.running !== null;
  }

  stepsHeld(): boolean {
    return this.holds > 0;
  }

  // Messages.

  /** A handler takes the actor's turn: no step starts until it releases it (running ones finish). */
  holdSteps(): void {
    this.holds++;
  }

  releaseSteps(): void {
    this.holds--;
  }

  /** Stops for good (see `delete`): nothing starts again. */
  markDeleted(stopped: DestinationStopped): void {
    this.stoppedForDeletion = stopped;
  }

  /** Adds what a dead-letter replay page decided. */
  recordReplayPage(counts: ExportCounts): void {
    this.add(counts);
  }

  profilesChanged(seq: number, count: number): void {
    this.announcedHead = Math.max(this.announcedHead, seq);
    // Nothing mapped: nothing is pending (the first activation starts after the store's head).
    if (this.activation !== null) this.pending += count;
  }

  pause(): void {
    this.state = { name: 'paused' };
    this.show();
  }

  /** Ends a pause or an error at once; the next step tells if the cause is gone. */
  resume(): void {
    if (this.state.name === 'paused' || this.state.name === 'error') this.settle();
    this.show();
  }

  /** The settings pages export with: the record size limit resolved, from the stream when not set. */
  get pageSettings(): DestinationSettings {
    return { ...this.settings, maxRecordBytes: recordSizeLimit(this.settings, this.permissions) };
  }

  /** New settings, saved and checked (null: runs before checks): a fixed configuration ends an error. */
  configure(settings: DestinationSettings, check: PermissionCheckResult | null): void {
    this.settings = settings;
    if (check) this.permissions = check;
    if (this.state.name === 'error') this.settle();
    this.show();
  }

  /**
   * A new mapping: newly mapped segments are back-filled up to the change cursor, later changes come by the change
   * stream.
   */
  activate(activation: Activation, head: number | null): void {
    const previous = this.activation;
    if (previous === null && head !== null) {
      // Nothing was exported under an earlier mapping, so the back-fill decides every member
      // changed up to now, and the change stream starts after that.
      this.changeCursor = Math.max(this.changeCursor, head);
      this.announcedHead = Math.max(this.announcedHead, head);
      this.pending = 0;
    }
    this.activation = activation;
    this.generation++;
    const added = activation.segments.map((s) => s.id).filter((id) => !previous?.segments.some((p) => p.id === id));
    if (added.length > 0) this.reexports.queueBackfill(added, this.changeCursor);
  }

  /** Runs recorded before back-fills by segment re-decided every stored profile on a new mapping. */
  activateBeforeBackfills(activation: Activation): void {
    this.activation = activation;
    this.changeCursor = 0;
    this.moreChanges = true;
    this.generation++;
  }

  startReexport(trigger: ReexportTrigger, force: boolean, waiters: string[] = []): ReexportProgress {
    return this.reexports.start(trigger, force, this.mappedSegmentIds(), null, waiters);
  }

  /** Records a check of the current settings: a failure stops the destination, a pass lifts any stop. */
  recordCheck(check: CheckOutcome): void {
    if (check.result) this.permissions = check.result;
    if (check.failure === null) {
      if (this.state.name === 'error') this.settle();
    } else if (this.state.name === 'paused') {
      if (this.failedWhilePaused('check', check.failure)) return;
    } else {
      // Earlier runs repeated the export step after a failed check, and only while one was due.
      this.fail(patched(CHECK_RETRIES_PATCH) ? 'check' : this.lastStep, check.failure);
    }
    this.show();
  }

  // Steps: the loop begins one, reports what it did, and ends it.

  begin(step: Step): StepStart {
    this.running = step;
    if (step !== 'check') this.lastStep = step;
    if (this.state.name === 'idle') this.state = { name: 'exporting' };
    // The retry runs now; while it does, no other is planned (and the state stays `error`).
    else if (this.state.name === 'error') this.state = { ...this.state, retryAt: null };
    this.show();
    return { generation: this.generation, activation: this.activation };
  }

  /** Adds what a change page decided, and moves the cursor unless the mapping changed meanwhile. */
  recordChangePage(start: StepStart, page: Recorded<ExportPageResult>): void {
    this.remember('changes', page, null);
    if (!this.tally(start, page, page.cursor ?? page.lastSeq ?? 0)) return;
    this.moreChanges = page.more;
    this.pending = page.remaining;
  }

  /** What a failed change page decided before it failed (its last checkpoint). */
  recordFailedChangePage(start: StepStart, progress: Recorded<ChangePageCheckpoint>): void {
    if (this.tally(start, progress.counts, progress.cursor ?? progress.afterSeq ?? 0))
      this.pending = Math.max(0, this.pending - progress.counts.decided);
  }

  recordReexportPage(page: Recorded<ReexportPageResult>): void {
    this.remember('reexport', page, null);
    this.add(page);
    this.reexports.recordPage(page);
  }

  /** The step ended well: an error ends with it (a pause stays). */
  succeeded(): void {
    this.running = null;
    if (this.state.name !== 'paused') this.settle();
    this.show();
  }

  /** A step failed with `message`; a failed page is remembered with its error type and what it decided before. */
  failed(step: Step, message: string, error?: { type: string; counts: ExportCounts | undefined }): void {
    this.running = null;
    if (step !== 'check' && error) this.remember(step, error.counts ?? NO_COUNTS, error.type);
    if (this.state.name !== 'paused') this.fail(step, message);
    else if (this.failedWhilePaused(step, message)) return;
    this.show();
  }

  /** Ends a check step (before recordCheck takes its outcome). */
  ended(): void {
    this.running = null;
    if (this.state.name === 'exporting') this.settle();
    this.show();
  }

  /**
   * Keeps the DestinationName search attribute (and the memo) equal to the name, so the Web UI
   * finds the destination by it; written only when they differ. Runs of earlier versions did not.
   */
  showName(): void {
    const { name, description } = this.settings;
    if (workflowInfo().typedSearchAttributes.get(DESTINATION_NAME) === name) return;
    if (!patched(DESTINATION_NAME_PATCH)) return;
    upsertSearchAttributes([{ key: DESTINATION_NAME, value: name }]);
    upsertMemo({ name, description: description ?? '' });
  }

  /** Keeps the DestinationState search attribute equal to the shown state, written only when it changes. */
  show(): void {
    const shown = this.shownState();
    if (shown === this.shown) return;
    this.shown = shown;
    upsertSearchAttributes([{ key: DESTINATION_STATE, value: shown }]);
  }

  /**
   * The state, except that `exporting` is shown only for a re-export or a backlog of changes (the
   * last page was full, so more follow): each write of the search attribute is a visibility update
   * (about 10 ms of the server's CPU), and a steady feed would flip it there and back for every
   * page, too briefly for anyone to find. Earlier runs showed every page.
   */
  private shownState(): DestinationState {
    const name = this.state.name;
    if ((name !== 'exporting' && name !== 'idle') || !patched(SHOWN_EXPORTS_PATCH)) return name;
    return this.reexports.active !== null || this.moreChanges ? 'exporting' : 'idle';
  }

  /** Out of pause or error: exporting while a step runs or a re-export is in progress, else idle. */
  private settle(): void {
    const busy = this.running !== null || this.reexports.active !== null;
    this.state = busy ? { name: 'exporting' } : { name: 'idle' };
  }

  private fail(failedStep: Step, message: string): void {
    const failedAttempts = (this.state.name === 'error' ? this.state.failedAttempts : 0) + 1;
    this.state = { name: 'error', message, failedStep, failedAttempts, retryAt: null };
  }

  /**
   * A pause outlasts a failure (resume retries at once). Earlier runs showed `error` over the
   * pause instead: for their histories the search attribute is written so (answers true).
   */
  private failedWhilePaused(step: Step, message: string): boolean {
    log.warn('a step failed while the destination was paused', { step, message });
    if (patched(PAUSE_OUTLASTS_FAILURE_PATCH)) return false;
    this.shown = 'error';
    upsertSearchAttributes([{ key: DESTINATION_STATE, value: this.shown }]);
    return true;
  }

  /** The step the automatic retry runs: the one that failed (another succeeding would prove nothing), or any due. */
  private retryStep(): Step | null {
    if (this.state.name !== 'error') return null;
    return this.isDue(this.state.failedStep) ? this.state.failedStep : this.turn();
  }

  /** Change pages and re-export pages take turns while both are due. */
  private turn(): Step | null {
    const changes = this.isDue('changes');
    const reexport = this.isDue('reexport');
    if (changes && reexport) return this.lastStep === 'changes' ? 'reexport' : 'changes';
    return changes ? 'changes' : reexport ? 'reexport' : null;
  }

  private isDue(step: Step): boolean {
    if (step === 'check') return true;
    if (this.activation === null) return false;
    return step === 'changes'
      ? this.moreChanges || this.changeCursor < this.announcedHead
      : this.reexports.active !== null;
  }

  private tally(start: StepStart, counts: ExportCounts, cursor: number): boolean {
    this.add(counts);
    if (start.generation !== this.generation) return false;
    this.changeCursor = Math.max(this.changeCursor, cursor);
    this.announcedHead = Math.max(this.announcedHead, cursor);
    return true;
  }

  private add(counts: ExportCounts): void {
    this.counts = addCounts(this.counts, counts);
  }

  private remember(step: PageSummary['step'], counts: ExportCounts, error: string | null): void {
    const page: PageSummary = {
      at: new Date(Date.now()).toISOString(),
      step,
      received: counts.decided,
      exported: counts.exported,
      skipped: counts.skipped,
      excluded: totalOf(counts.excludedByReason),
      deadLettered: counts.deadLettered,
      failedByErrorCode: counts.failedByErrorCode ?? {},
      error,
    };
    this.recentPages = [page, ...this.recentPages].slice(0, RECENT_PAGES);
  }

  /** The state of runs that carried flags instead (`paused`, `lastError`), or of a first run. */
  private stateOfEarlierRuns(carried: CarriedState | undefined): ActorState {
    if (carried?.paused) return { name: 'paused' };
    if (carried?.lastError) {
      const failedAttempts = Math.max(carried.failedAttempts ?? 0, 1);
      const failedStep = this.isDue('changes') || this.reexports.active === null ? 'changes' : 'reexport';
      return { name: 'error', message: carried.lastError, failedStep, failedAttempts, retryAt: null };
    }
    return this.reexports.active === null ? { name: 'idle' } : { name: 'exporting' };
  }
}

const NO_COUNTS: ExportCounts = { decided: 0, exported: 0, skipped: 0, deadLettered: 0 };

function carriedCounts(carried: CarriedState | undefined): ExportCounts {
  if (carried?.counts) return { ...carried.counts };
  const c = carried?.counters;
  return c
    ? { decided: c.received, exported: c.exported, skipped: c.skipped, deadLettered: c.deadLettered }
    : NO_COUNTS;
}
