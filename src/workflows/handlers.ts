import { ApplicationFailure, condition, log, patched, setHandler } from '@temporalio/workflow';
import type { Activation } from '../domain/activation';
import { keepMappingCreatedAt } from '../domain/mappingCreatedAt';
import type { DestinationActor } from './actor';
import type { WorkflowLock } from './lock';
import { parsedMessage, validateMessage } from './messageParsing';
import {
  activateUpdate,
  checkPermissionsUpdate,
  configureUpdate,
  deleteUpdate,
  pauseSignal,
  profilesChangedSignal,
  reexportUpdate,
  replayDeadLettersUpdate,
  requestReexportSignal,
  resumeSignal,
  statusQuery,
} from './messages';
import type { DeadLetterReplay, DestinationStatus, DestinationStopped, ScheduledReexportRequest } from './messages';
import { notifyWaiter, rejectWith, replayDeadLetters, saveDestination, storeHead, verifyPermissions } from './steps';

/** Histories recorded before permission checks existed replay without them. */
export const PERMISSION_CHECKS_PATCH = 'permission-checks';

/** Marks runs that back-fill newly mapped segments by their members (not by re-deciding every stored profile). */
const BACKFILL_BY_SEGMENT_PATCH = 'backfill-by-segment';

/**
 * The actor's messages. Each validates its input, then calls the actor; those that await an
 * activity hold the lock throughout, so two of them never interleave (a `configure` saving while
 * an `activate` waits would write the old mapping to the store row).
 */
export function registerHandlers(actor: DestinationActor, lock: WorkflowLock): void {
  // A message that waited for the lock while the destination was deleted changes nothing.
  const locked = <T>(fn: () => Promise<T>): Promise<T> =>
    lock.run(() => {
      rejectDeleted(actor);
      return fn();
    });
  setHandler(statusQuery, () => actor.status());
  setHandler(profilesChangedSignal, ({ seq, count }) => actor.profilesChanged(seq, count));
  setHandler(pauseSignal, () => actor.pause());
  setHandler(resumeSignal, () => actor.resume());
  setHandler(configureUpdate, (next) => locked(() => configure(actor, next)), {
    validator: (next) => {
      validateMessage('destination settings', next);
      rejectDeleted(actor);
    },
  });
  setHandler(activateUpdate, (next) => locked(() => activate(actor, next)), {
    validator: (next) => {
      validateMessage('activation', next);
      rejectDeleted(actor);
    },
  });
  setHandler(
    reexportUpdate,
    (request) => {
      rejectDeleted(actor);
      rejectBusy(actor);
      return actor.startReexport('manual', request.force === true);
    },
    {
      validator: (request) => {
        validateMessage('re-export request', request);
        rejectDeleted(actor);
        rejectBusy(actor);
      },
    },
  );
  setHandler(requestReexportSignal, (request) => lock.run(() => requestReexport(actor, request)));
  setHandler(
    checkPermissionsUpdate,
    () =>
      locked(async () => {
        const check = await verifyPermissions(actor.destinationId, actor.settings);
        actor.recordCheck(check);
        if (!check.result) throw rejectWith(check.failure ?? 'permission check returned no result');
        return check.result;
      }),
    { validator: () => rejectDeleted(actor) },
  );
  setHandler(replayDeadLettersUpdate, (request) => locked(() => replay(actor, request)), {
    validator: (request) => {
      validateMessage('dead-letter replay request', request);
      rejectDeleted(actor);
      rejectUnreplayable(actor);
    },
  });
  setHandler(deleteUpdate, (request) => locked(() => stopForDeletion(actor, request)), {
    validator: (request) => {
      const { force } = validateMessage('delete request', request);
      rejectDeleted(actor);
      if (force !== true) rejectReexportRunning(actor);
    },
  });
}

/**
 * Runs `fn` in the actor's turn: no step starts meanwhile, and it begins once the running one
 * finished, so it never overlaps an export of the same profiles.
 */
async function inTurn<T>(actor: DestinationActor, fn: () => Promise<T>): Promise<T> {
  actor.holdSteps();
  try {
    await condition(() => !actor.stepRunning());
    return await fn();
  } finally {
    actor.releaseSteps();
  }
}

/** Replays dead letters in the actor's turn, through the export path. */
async function replay(actor: DestinationActor, request: unknown): Promise<DeadLetterReplay> {
  const { profileIds } = await parsedMessage('dead-letter replay request', request);
  rejectUnreplayable(actor);
  return inTurn(actor, () => replayDeadLetters(actor, profileIds));
}

/**
 * Stops for deletion once the running step finished (a forced delete abandons a running
 * re-export, telling a scheduled run that waits for it); the workflow then ends.
 */
async function stopForDeletion(actor: DestinationActor, request: unknown): Promise<DestinationStopped> {
  const { force } = await parsedMessage('delete request', request);
  return inTurn(actor, async () => {
    // A re-export may have started while this waited (a back-fill of an activation before it).
    if (force !== true) rejectReexportRunning(actor);
    const abandoned = actor.reexports.active;
    const stopped: DestinationStopped = {
      destinationId: actor.destinationId,
      stoppedAt: new Date().toISOString(),
      abandonedReexport: abandoned?.progress.id ?? null,
    };
    actor.markDeleted(stopped);
    for (const waiter of abandoned?.waiters ?? [])
      await notifyWaiter(waiter, { outcome: 'skipped', reason: 'the destination was deleted' });
    return stopped;
  });
}

function rejectDeleted(actor: DestinationActor): void {
  if (actor.deleted)
    throw ApplicationFailure.create({
      type: 'DestinationDeleted',
      nonRetryable: true,
      message: `destination ${actor.destinationId} is being deleted`,
    });
}

function rejectReexportRunning(actor: DestinationActor): void {
  const running = actor.reexports.active?.progress;
  if (running)
    throw ApplicationFailure.create({
      type: 'ReexportRunning',
      nonRetryable: true,
      message:
        `a re-export of destination ${actor.destinationId} is running (${running.trigger} re-export ${running.id}, ` +
        `${running.profilesRead} members read): wait for it to finish, or delete with --force`,
    });
}

function rejectUnreplayable(actor: DestinationActor): void {
  const reason =
    actor.activation === null
      ? 'the destination has no activation: activate segments first'
      : actor.paused
        ? `destination ${actor.destinationId} is paused: resume it first`
        : null;
  if (reason) throw ApplicationFailure.create({ type: 'ReplayNotStarted', nonRetryable: true, message: reason });
}

/** New settings are checked before they replace the old ones: a failing check changes nothing. */
async function configure(actor: DestinationActor, next: unknown): Promise<DestinationStatus> {
  const settings = await parsedMessage('destination settings', next);
  const check = patched(PERMISSION_CHECKS_PATCH) ? await verifyPermissions(actor.destinationId, settings) : null;
  if (check?.failure) throw rejectWith(check.failure);
  await saveDestination({ destinationId: actor.destinationId, settings, activation: actor.activation });
  actor.configure(settings, check?.result ?? null);
  actor.showName();
  return actor.status();
}

async function activate(actor: DestinationActor, next: unknown): Promise<DestinationStatus> {
  const parsed = await parsedMessage('activation', next);
  if (patched(PERMISSION_CHECKS_PATCH)) {
    const check = await verifyPermissions(actor.destinationId, actor.settings);
    actor.recordCheck(check);
    if (check.failure) throw rejectWith(check.failure);
  }
  const activation: Activation = keepMappingCreatedAt(actor.activation, parsed);
  await saveDestination({ destinationId: actor.destinationId, settings: actor.settings, activation });
  if (!patched(BACKFILL_BY_SEGMENT_PATCH)) actor.activateBeforeBackfills(activation);
  else actor.activate(activation, actor.activation === null ? await storeHead() : null);
  return actor.status();
}

function rejectBusy(actor: DestinationActor): void {
  const busy = actor.reexports.busyReason(actor.activation);
  if (busy) throw ApplicationFailure.create({ type: 'ReexportNotStarted', nonRetryable: true, message: busy });
}

/** A scheduled run's request: a signal cannot be refused, so a bad or busy one is answered or logged. */
async function requestReexport(actor: DestinationActor, request: ScheduledReexportRequest): Promise<void> {
  let parsed: ScheduledReexportRequest;
  try {
    parsed = await parsedMessage('scheduled re-export request', request);
  } catch (err) {
    log.warn('ignored an invalid re-export request', { error: err instanceof Error ? err.message : String(err) });
    return;
  }
  const { requestedBy, force } = parsed;
  if (actor.deleted) return notifyWaiter(requestedBy, { outcome: 'skipped', reason: 'the destination was deleted' });
  const busy = actor.reexports.busyReason(actor.activation);
  if (busy) return notifyWaiter(requestedBy, { outcome: 'skipped', reason: busy });
  actor.startReexport('schedule', force, [requestedBy]);
}
