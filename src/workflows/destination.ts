import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ZodType } from 'zod';
import type { Activities, ExportCounts, ExportProgress } from '../activities/types';
import { activationSchema } from '../domain/activation';
import type { Activation } from '../domain/activation';
import { destinationSettingsSchema } from '../domain/destination';
import type { DestinationSettings } from '../domain/destination';
import { PERMISSION_CHECK_FAILED } from '../domain/permissionCheck';
import type { PermissionCheckResult } from '../domain/permissionCheck';
import { reexportRequestSchema, scheduledReexportRequestSchema } from '../domain/reexport';
import { invalidInputMessage } from '../domain/validationError';
import { DESTINATION_STATE } from '../searchAttributes';
import {
  activateUpdate,
  checkPermissionsUpdate,
  configureUpdate,
  pauseSignal,
  profilesChangedSignal,
  reexportFinishedSignal,
  reexportUpdate,
  requestReexportSignal,
  resumeSignal,
  statusQuery,
} from './messages';
import type {
  CarriedState,
  DestinationState,
  DestinationStatus,
  DestinationWorkflowInput,
  ErrorRetry,
  ReexportOutcome,
} from './messages';
import { emptyReexportState, REEXPORT_PAGE_SIZE, Reexports } from './reexports';

/**
 * Profiles read, diffed and sent per export activity. The activity streams its page in small
 * chunks, so the size bounds no memory; between pages the writer drains and the next activity
 * is scheduled, a pause large pages make rare. Counters in `status` move page by page.
 */
export const EXPORT_PAGE_SIZE = 50_000;

/**
 * A destination stopped by an error (a terminal Kinesis error, missing credentials) tries again
 * by itself on this capped exponential schedule: one export attempt, whose first calls fail fast
 * while the cause remains, so a broken destination costs a few calls per retry, not a storm.
 */
export const DEFAULT_ERROR_RETRY: ErrorRetry = { initialMs: 10_000, maxMs: 10 * 60_000 };

/** The wait before the automatic retry that follows `failedAttempts` failures in a row. */
export function errorRetryDelay(failedAttempts: number, retry: ErrorRetry): number {
  return Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(Math.max(failedAttempts - 1, 0), 30));
}

/**
 * Continue-as-new at this history length even where the server does not suggest it (it suggests
 * at 4,096 events by default; it warns at 10,240 and fails a run at 51,200).
 */
const HISTORY_EVENTS_LIMIT = 10_000;

/** Marks runs that back-fill newly mapped segments by their members (not by re-deciding every stored profile). */
const BACKFILL_BY_SEGMENT_PATCH = 'backfill-by-segment';

const { saveDestination, countSegmentMembers, storeHead } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '10 seconds' },
});
const { checkPermissions } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5 },
});
const { exportPage } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});
const { reexportPage } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  // A page heartbeats every second while it runs, so a dead worker's page is retried within 15 s.
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** Validates a message with zod; a failure becomes one line naming the field, and nothing changes. */
function parseOrReject<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw ApplicationFailure.create({
      type: 'ValidationError',
      nonRetryable: true,
      message: invalidInputMessage(what, parsed.error),
    });
  }
  return parsed.data;
}

/** Histories recorded before permission checks existed replay without them. */
const PERMISSION_CHECKS = 'permission-checks';

interface CheckOutcome {
  /** The per-permission result; null when the check could not run (credentials, retries exhausted). */
  result: PermissionCheckResult | null;
  /** One line naming what is missing; null when everything passed. */
  failure: string | null;
}

/** Checks `settings` with the permission-check activity; a failed check is an outcome, not an exception. */
async function verifyPermissions(destinationId: string, settings: DestinationSettings): Promise<CheckOutcome> {
  try {
    const result = await checkPermissions.executeWithOptions(
      { summary: `check ListStreams, PutRecord, PutRecords on ${settings.stream} (${settings.region})` },
      [{ destinationId, settings }],
    );
    return { result, failure: null };
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    if (cause instanceof ApplicationFailure && cause.type === PERMISSION_CHECK_FAILED) {
      return {
        result: (cause.details?.[0] as PermissionCheckResult | undefined) ?? null,
        failure: failureMessage(err),
      };
    }
    return { result: null, failure: `permission check did not complete: ${failureMessage(err)}` };
  }
}

function rejectWith(failure: string): ApplicationFailure {
  return ApplicationFailure.create({ type: PERMISSION_CHECK_FAILED, nonRetryable: true, message: failure });
}

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

/** Tells a workflow waiting for a re-export (a scheduled run) how it ended; a waiter that is gone is only logged. */
async function notifyWaiter(workflowId: string, outcome: ReexportOutcome): Promise<void> {
  try {
    await getExternalWorkflowHandle(workflowId).signal(reexportFinishedSignal, outcome);
  } catch (err) {
    log.warn('a workflow waiting for a re-export could not be told its outcome', {
      workflowId,
      error: failureMessage(err),
    });
  }
}

/** The progress a failed export reported with its terminal failure, if any. */
function failureProgress(err: unknown): ExportProgress | undefined {
  if (!(err instanceof ActivityFailure && err.cause instanceof ApplicationFailure)) return undefined;
  return err.cause.details?.[0] as ExportProgress | undefined;
}

/**
 * The destination actor: one long-lived workflow per destination. It holds the non-secret
 * settings and the activation, learns of profile changes by signal, and exports them page by
 * page through activities, checkpointing the change sequence it has decided up to. It also runs
 * re-exports (on demand, scheduled, or back-filling newly mapped segments), one at a time, page
 * by page with the cursor in its state, alternating with change pages: one activity at a time,
 * so a profile is never in flight twice.
 */
export async function destinationWorkflow(input: DestinationWorkflowInput): Promise<void> {
  const { destinationId } = input;
  const errorRetry = input.errorRetry ?? DEFAULT_ERROR_RETRY;
  const reexportPageSize = input.reexportPageSize ?? REEXPORT_PAGE_SIZE;
  let settings: DestinationSettings = input.settings;
  const carried: CarriedState = input.carried ?? {
    activation: null,
    paused: false,
    checkpoint: 0,
    knownSeq: 0,
    rescan: false,
    pending: 0,
    counters: { received: 0, exported: 0, skipped: 0, deadLettered: 0 },
    lastError: null,
    permissions: null,
  };
  const reexportState = carried.reexports ?? emptyReexportState();
  const s = {
    ...carried,
    counters: { ...carried.counters },
    failedAttempts: carried.failedAttempts ?? 0,
    reexports: reexportState,
  };
  const reexports = new Reexports(reexportState);
  let exporting = false;
  /** While in error: when the automatic retry is due (epoch ms), and whether it is due now. */
  let nextRetryAt: number | null = null;
  let retryDue = false;
  // Bumped when the activation changes, so a page started under the old mapping moves no checkpoint.
  let generation = 0;

  // A running re-export counts as exporting between its pages too, so the search attribute is not
  // rewritten twice per page.
  const state = (): DestinationState =>
    s.lastError ? 'error' : s.paused ? 'paused' : exporting || reexports.active !== null ? 'exporting' : 'idle';
  let shownState: DestinationState | undefined;
  const showState = (): void => {
    const now = state();
    if (now !== shownState) {
      shownState = now;
      upsertSearchAttributes([{ key: DESTINATION_STATE, value: now }]);
    }
  };
  const status = (): DestinationStatus => ({
    destinationId,
    name: settings.name,
    stream: settings.stream,
    state: state(),
    pending: s.pending,
    counters: { ...s.counters },
    lastError: s.lastError,
    failedAttempts: s.failedAttempts,
    nextRetryAt: nextRetryAt === null ? null : new Date(nextRetryAt).toISOString(),
    checkpoint: s.checkpoint,
    activation: s.activation,
    permissions: s.permissions ?? null,
    reexport: reexports.active?.progress ?? null,
    recentReexports: reexports.state.recent,
  });
  const mappedSegmentIds = (): string[] => s.activation?.segments.map((x) => x.id) ?? [];
  /** Records a check of the current settings: a failure stops exporting, a pass lifts that stop. */
  const recordCheck = (outcome: CheckOutcome): void => {
    if (outcome.result) s.permissions = outcome.result;
    s.lastError = outcome.failure;
    showState();
  };

  setHandler(statusQuery, status);
  setHandler(profilesChangedSignal, ({ seq, count }) => {
    if (seq > s.knownSeq) s.knownSeq = seq;
    s.pending += count;
  });
  setHandler(pauseSignal, () => {
    s.paused = true;
    showState();
  });
  /** A user's fix (resume, new settings) ends an error at once; the next export tells if it worked. */
  const clearError = (): void => {
    s.lastError = null;
    s.failedAttempts = 0;
  };
  setHandler(resumeSignal, () => {
    s.paused = false;
    clearError();
    showState();
  });
  setHandler(
    configureUpdate,
    async (next) => {
      const parsed = parseOrReject(destinationSettingsSchema, next, 'destination settings');
      // New settings are checked before they replace the old ones: a failing check changes nothing.
      const check = patched(PERMISSION_CHECKS) ? await verifyPermissions(destinationId, parsed) : null;
      if (check?.failure) throw rejectWith(check.failure);
      await saveDestination({ destinationId, settings: parsed, activation: s.activation });
      settings = parsed;
      if (check?.result) s.permissions = check.result;
      clearError(); // a fixed configuration resumes a destination stopped by an error
      showState();
      return status();
    },
    { validator: (next) => void parseOrReject(destinationSettingsSchema, next, 'destination settings') },
  );
  setHandler(
    activateUpdate,
    async (next) => {
      const activation = parseOrReject(activationSchema, next, 'activation');
      if (patched(PERMISSION_CHECKS)) {
        const check = await verifyPermissions(destinationId, settings);
        recordCheck(check);
        if (check.failure) throw rejectWith(check.failure);
      }
      await saveDestination({ destinationId, settings, activation });
      if (!patched(BACKFILL_BY_SEGMENT_PATCH)) {
        // Runs recorded before back-fills by segment re-decided every stored profile.
        s.activation = activation;
        s.checkpoint = 0;
        s.rescan = true;
        generation++;
        return status();
      }
      const head = s.activation === null ? await storeHead() : null;
      const previous = s.activation;
      if (previous === null && head !== null) {
        // Nothing was exported under an earlier mapping, so the back-fill below decides every
        // member changed up to now, and the change stream starts after that.
        s.checkpoint = Math.max(s.checkpoint, head);
        s.knownSeq = Math.max(s.knownSeq, head);
        s.pending = 0;
      }
      s.activation = activation;
      generation++;
      // Members of newly mapped segments changed up to the checkpoint are back-filled by
      // segment; later changes are decided by the change stream under the new mapping.
      const added = activation.segments.map((x) => x.id).filter((id) => !previous?.segments.some((p) => p.id === id));
      if (added.length > 0) reexports.queueBackfill(added, s.checkpoint);
      return status();
    },
    { validator: (next) => void parseOrReject(activationSchema, next, 'activation') },
  );
  const rejectBusy = (): void => {
    const busy = reexports.busyReason(s.activation);
    if (busy) throw ApplicationFailure.create({ type: 'ReexportNotStarted', nonRetryable: true, message: busy });
  };
  setHandler(
    reexportUpdate,
    (request) => {
      rejectBusy();
      return reexports.start('manual', request.force === true, mappedSegmentIds(), null);
    },
    {
      validator: (request) => {
        parseOrReject(reexportRequestSchema, request, 're-export request');
        rejectBusy();
      },
    },
  );
  setHandler(requestReexportSignal, async (request) => {
    const parsed = scheduledReexportRequestSchema.safeParse(request);
    if (!parsed.success) {
      log.warn('ignored an invalid re-export request', {
        error: invalidInputMessage('re-export request', parsed.error),
      });
      return;
    }
    const { requestedBy, force } = parsed.data;
    const busy = reexports.busyReason(s.activation);
    if (busy) return notifyWaiter(requestedBy, { outcome: 'skipped', reason: busy });
    reexports.start('schedule', force, mappedSegmentIds(), null, [requestedBy]);
  });

  setHandler(checkPermissionsUpdate, async () => {
    const check = await verifyPermissions(destinationId, settings);
    recordCheck(check);
    if (!check.result) throw rejectWith(check.failure ?? 'permission check returned no result');
    return check.result;
  });

  const changesDue = (): boolean => s.rescan || s.checkpoint < s.knownSeq;
  const pendingWork = (): boolean => s.activation !== null && (changesDue() || reexports.active !== null);
  const hasWork = (): boolean => pendingWork() && !s.paused && (s.lastError === null || retryDue);
  // Only a destination with something to export waits on the retry timer, so an idle one in error adds no timers.
  const retryWaiting = (): boolean => s.lastError !== null && !s.paused && pendingWork();
  const historyFull = (): boolean =>
    workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= HISTORY_EVENTS_LIMIT;
  const wake = (): boolean => hasWork() || historyFull();

  const count = (counts: ExportCounts): void => {
    s.counters.received += counts.decided;
    s.counters.exported += counts.exported;
    s.counters.skipped += counts.skipped;
    s.counters.deadLettered += counts.deadLettered;
  };
  /** Adds what an export decided, and moves the checkpoint unless the activation changed meanwhile. */
  const tally = (counts: ExportCounts, lastSeq: number, startedGeneration: number): boolean => {
    count(counts);
    if (generation !== startedGeneration) return false;
    s.checkpoint = Math.max(s.checkpoint, lastSeq);
    s.knownSeq = Math.max(s.knownSeq, lastSeq);
    return true;
  };

  /** One step of the running re-export: count its members first, then one page after the cursor. */
  const reexportStep = async (activation: Activation): Promise<void> => {
    const active = reexports.active;
    if (active === null) return;
    const segmentIds = reexports.segmentsToPage(activation);
    if (active.progress.estimatedTotal === null) {
      reexports.recordEstimate(await countSegmentMembers({ segmentIds }));
      return;
    }
    const { progress, afterProfileId, upToSeq } = active;
    const page = await reexportPage.executeWithOptions(
      {
        summary: `${progress.trigger} re-export ${progress.id}: page ${progress.pagesDone + 1}, members after ${afterProfileId ?? 'the first'} to ${settings.stream}`,
      },
      [
        {
          destinationId,
          settings,
          activation,
          segmentIds,
          afterProfileId,
          pageSize: reexportPageSize,
          force: progress.force,
          upToSeq,
        },
      ],
    );
    count(page);
    reexports.recordPage(page);
    setCurrentDetails(
      `last re-export page (${progress.id}): ${page.read} members read, ${page.exported} records put to stream ${settings.stream}; ${page.skipped} skipped, ${page.deadLettered} dead-lettered`,
    );
    if (!page.more) {
      const finished = reexports.finish();
      for (const waiter of finished.waiters)
        await notifyWaiter(waiter, { outcome: 'completed', reexport: finished.progress });
    }
  };

  showState();
  await saveDestination({ destinationId, settings, activation: s.activation });
  // A new destination is checked at once; continued runs carry the result of the last check.
  if (input.carried === undefined && patched(PERMISSION_CHECKS))
    recordCheck(await verifyPermissions(destinationId, settings));
  let lastStep: 'changes' | 'reexport' = 'reexport';
  const nextStep = (): 'changes' | 'reexport' => {
    if (!changesDue()) return 'reexport';
    if (reexports.active === null) return 'changes';
    // Both kinds waiting: change pages and re-export pages take turns, except that the automatic
    // retry after an error repeats the step that failed (another step succeeding proves nothing).
    if (s.lastError !== null) return lastStep;
    return lastStep === 'changes' ? 'reexport' : 'changes';
  };
  for (;;) {
    if (retryWaiting()) {
      const delay = errorRetryDelay(s.failedAttempts, errorRetry);
      nextRetryAt = Date.now() + delay;
      retryDue = !(await condition(wake, delay, {
        summary: `retry after error (failed attempts: ${s.failedAttempts})`,
      }));
      nextRetryAt = null;
    } else {
      await condition(() => wake() || retryWaiting());
    }
    if (historyFull()) {
      // The re-export cursor and every counter travel in `s`.
      await condition(allHandlersFinished);
      return continueAsNew<typeof destinationWorkflow>({ ...input, settings, carried: s });
    }
    if (!hasWork()) {
      retryDue = false; // nothing to retry yet: the next change waits for the next retry
      continue;
    }
    const activation = s.activation as Activation;
    const startedGeneration = generation;
    lastStep = nextStep();
    exporting = true;
    showState();
    try {
      if (lastStep === 'changes') {
        const page = await exportPage.executeWithOptions(
          { summary: `export changes after seq ${s.checkpoint} to ${settings.stream}` },
          [{ destinationId, settings, activation, afterSeq: s.checkpoint, pageSize: EXPORT_PAGE_SIZE }],
        );
        if (tally(page, page.lastSeq, startedGeneration)) {
          s.rescan = page.more;
          s.pending = page.remaining;
        }
        // Shown in the UI: what the last step did, not only what it was asked to do.
        setCurrentDetails(
          `last change export: put ${page.exported} records to stream ${settings.stream} in ${page.putCalls} calls, ${page.throttled} throttled and resent; ${page.skipped} skipped, ${page.deadLettered} dead-lettered`,
        );
      } else {
        await reexportStep(activation);
      }
      clearError();
    } catch (err) {
      s.lastError = failureMessage(err);
      s.failedAttempts += 1;
      // A failed re-export page moves no cursor: it is repeated when the destination retries.
      const progress = lastStep === 'changes' ? failureProgress(err) : undefined;
      if (progress && tally(progress.counts, progress.afterSeq, startedGeneration)) {
        s.pending = Math.max(0, s.pending - progress.counts.decided);
      }
    } finally {
      exporting = false;
      retryDue = false;
      showState();
    }
  }
}
