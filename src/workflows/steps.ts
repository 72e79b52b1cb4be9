import {
  ActivityFailure,
  ApplicationFailure,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setCurrentDetails,
} from '@temporalio/workflow';
import type { Activities, ChangePageCheckpoint, ExportCounts, Recorded } from '../activities/types';
import type { DestinationSettings } from '../domain/destination';
import { PERMISSION_CHECK_FAILED } from '../domain/permissionCheck';
import type { PermissionCheckResult } from '../domain/permissionCheck';
import type { CheckOutcome, DestinationActor, StepStart } from './actor';
import type { WorkflowLock } from './lock';
import { reexportFinishedSignal } from './messages';
import type { ReexportOutcome, Step } from './messages';

/**
 * Profiles read, diffed and sent per export activity. The activity streams its page in small
 * chunks, so the size bounds no memory; between pages the writer drains and the next activity
 * is scheduled, a pause large pages make rare. Counters in `status` move page by page.
 */
export const EXPORT_PAGE_SIZE = 50_000;

export const { saveDestination, countSegmentMembers, storeHead } = proxyActivities<Activities>({
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
const { reexportPage, replayPage } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  // A page heartbeats every second while it runs, so a dead worker's page is retried within 15 s.
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/**
 * Runs one step and records its outcome in the actor. A check runs under the handlers' lock, as
 * it records a result for the current settings, which `configure` replaces.
 */
export async function takeStep(actor: DestinationActor, lock: WorkflowLock, step: Step): Promise<void> {
  if (step === 'check') {
    await lock.run(async () => {
      actor.begin(step);
      const check = await verifyPermissions(actor.destinationId, actor.settings);
      actor.ended();
      actor.recordCheck(check);
    });
    return;
  }
  const start = actor.begin(step);
  try {
    await (step === 'changes' ? changePage(actor, start) : reexportStep(actor));
    actor.succeeded();
  } catch (err) {
    // A failed re-export page moves no cursor: it is repeated when the destination retries.
    const progress = step === 'changes' ? failureProgress(err) : undefined;
    if (progress) actor.recordFailedChangePage(start, progress);
    actor.failed(step, failureMessage(err), { type: failureType(err), counts: progress?.counts });
  }
}

/** One page of changes after the change cursor. */
async function changePage(actor: DestinationActor, start: StepStart): Promise<void> {
  const { destinationId, pageSettings: settings, changeCursor } = actor;
  if (start.activation === null) return;
  const page = await exportPage.executeWithOptions(
    { summary: `export changes after seq ${changeCursor} to ${settings.stream}` },
    [{ destinationId, settings, activation: start.activation, cursor: changeCursor, pageSize: EXPORT_PAGE_SIZE }],
  );
  actor.recordChangePage(start, page);
  // Shown in the UI: what the last step did, not only what it was asked to do.
  setCurrentDetails(
    `last change export: put ${page.exported} records to stream ${settings.stream} in ${page.putCalls} calls, ` +
      `${page.throttled} throttled and resent; ${page.skipped} skipped, ${page.deadLettered} dead-lettered`,
  );
}

/** One step of the running re-export: count its members first, then one page after its cursor. */
async function reexportStep(actor: DestinationActor): Promise<void> {
  const { reexports, activation, destinationId, pageSettings: settings } = actor;
  const active = reexports.active;
  if (active === null || activation === null) return;
  const segmentIds = reexports.segmentsToPage(activation);
  const { progress, cursor, upToSeq } = active;
  if (progress.estimatedTotal === null) {
    reexports.recordEstimate(await countSegmentMembers({ segmentIds }));
    return;
  }
  const page = await reexportPage.executeWithOptions(
    {
      summary:
        `${progress.trigger} re-export ${progress.id}: page ${progress.pagesDone + 1}, ` +
        `members after ${cursor ?? 'the first'} to ${settings.stream}`,
    },
    [
      {
        destinationId,
        settings,
        activation,
        segmentIds,
        cursor,
        pageSize: actor.reexportPageSize,
        force: progress.force,
        upToSeq,
      },
    ],
  );
  actor.recordReexportPage(page);
  setCurrentDetails(
    `last re-export page (${progress.id}): ${page.read} members read, ` +
      `${page.exported} records put to stream ${settings.stream}; ` +
      `${page.skipped} skipped, ${page.deadLettered} dead-lettered`,
  );
  if (page.more) return;
  const finished = reexports.finish();
  for (const waiter of finished.waiters)
    await notifyWaiter(waiter, { outcome: 'completed', reexport: finished.progress });
}

/** Replays the dead letters of `profileIds` (null: all), page after page; the counts go to the actor's. */
export async function replayDeadLetters(actor: DestinationActor, profileIds: string[] | null): Promise<ExportCounts> {
  const { destinationId, pageSettings: settings, activation } = actor;
  if (activation === null) return { decided: 0, exported: 0, skipped: 0, deadLettered: 0 };
  const total: ExportCounts = { decided: 0, exported: 0, skipped: 0, deadLettered: 0 };
  for (let cursor: string | null = null; ;) {
    const page = await replayPage.executeWithOptions(
      {
        summary:
          `replay ${profileIds === null ? 'every dead letter' : `the dead letters of ${profileIds.length} profiles`} ` +
          `after ${cursor ?? 'the first'} to ${settings.stream}`,
      },
      [{ destinationId, settings, activation, profileIds, cursor }],
    );
    actor.recordReplayPage(page);
    for (const key of ['decided', 'exported', 'skipped', 'deadLettered'] as const) total[key] += page[key];
    setCurrentDetails(
      `last dead-letter replay: put ${page.exported} records to stream ${settings.stream}; ` +
        `${page.deadLettered} dead-lettered again, ${page.skipped} owed nothing`,
    );
    if (!page.more) return total;
    cursor = page.cursor;
  }
}

/** Checks `settings` with the permission-check activity; a failed check is an outcome, not an exception. */
export async function verifyPermissions(destinationId: string, settings: DestinationSettings): Promise<CheckOutcome> {
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

/** Refuses an update whose permission check failed, with the check's one line. */
export function rejectWith(failure: string): ApplicationFailure {
  return ApplicationFailure.create({ type: PERMISSION_CHECK_FAILED, nonRetryable: true, message: failure });
}

/** Tells a workflow waiting for a re-export (a scheduled run) how it ended; a waiter that is gone is only logged. */
export async function notifyWaiter(workflowId: string, outcome: ReexportOutcome): Promise<void> {
  try {
    await getExternalWorkflowHandle(workflowId).signal(reexportFinishedSignal, outcome);
  } catch (err) {
    log.warn('a workflow waiting for a re-export could not be told its outcome', {
      workflowId,
      error: failureMessage(err),
    });
  }
}

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

/** What failed a step, as its page history names it: the failure's type (AccessDeniedException, ...), else its kind. */
function failureType(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type) return cause.type;
  return cause instanceof Error ? cause.name : 'Error';
}

/** The progress a failed export reported with its terminal failure, if any. */
function failureProgress(err: unknown): Recorded<ChangePageCheckpoint> | undefined {
  if (!(err instanceof ActivityFailure && err.cause instanceof ApplicationFailure)) return undefined;
  return err.cause.details?.[0] as Recorded<ChangePageCheckpoint> | undefined;
}
