import { ApplicationFailure, log, patched, setHandler } from '@temporalio/workflow';
import type { ZodType } from 'zod';
import { activationSchema, keepMappingCreatedAt } from '../domain/activation';
import type { Activation } from '../domain/activation';
import { destinationSettingsSchema } from '../domain/destination';
import { reexportRequestSchema, scheduledReexportRequestSchema } from '../domain/reexport';
import { invalidInputMessage, parseOrThrow } from '../domain/validationError';
import type { DestinationActor } from './actor';
import type { WorkflowLock } from './lock';
import {
  activateUpdate,
  checkPermissionsUpdate,
  configureUpdate,
  pauseSignal,
  profilesChangedSignal,
  reexportUpdate,
  requestReexportSignal,
  resumeSignal,
  statusQuery,
} from './messages';
import type { DestinationStatus, ScheduledReexportRequest } from './messages';
import { notifyWaiter, rejectWith, saveDestination, storeHead, verifyPermissions } from './steps';

/** Histories recorded before permission checks existed replay without them. */
export const PERMISSION_CHECKS_PATCH = 'permission-checks';

/** Marks runs that back-fill newly mapped segments by their members (not by re-deciding every stored profile). */
const BACKFILL_BY_SEGMENT_PATCH = 'backfill-by-segment';

/** Validates a message with zod; a failure becomes one line naming the field, and nothing changes. */
function parseMessage<T>(schema: ZodType<T>, value: unknown, what: string): T {
  return parseOrThrow(schema, value, (err) =>
    ApplicationFailure.create({ type: 'ValidationError', nonRetryable: true, message: invalidInputMessage(what, err) }),
  );
}

/**
 * The actor's messages. Each validates its input, then calls the actor; those that await an
 * activity hold the lock throughout, so two of them never interleave (a `configure` saving while
 * an `activate` waits would write the old mapping to the store row).
 */
export function registerHandlers(actor: DestinationActor, lock: WorkflowLock): void {
  setHandler(statusQuery, () => actor.status());
  setHandler(profilesChangedSignal, ({ seq, count }) => actor.profilesChanged(seq, count));
  setHandler(pauseSignal, () => actor.pause());
  setHandler(resumeSignal, () => actor.resume());
  setHandler(configureUpdate, (next) => lock.run(() => configure(actor, next)), {
    validator: (next) => void parseMessage(destinationSettingsSchema, next, 'destination settings'),
  });
  setHandler(activateUpdate, (next) => lock.run(() => activate(actor, next)), {
    validator: (next) => void parseMessage(activationSchema, next, 'activation'),
  });
  setHandler(
    reexportUpdate,
    (request) => {
      rejectBusy(actor);
      return actor.startReexport('manual', request.force === true);
    },
    {
      validator: (request) => {
        parseMessage(reexportRequestSchema, request, 're-export request');
        rejectBusy(actor);
      },
    },
  );
  setHandler(requestReexportSignal, (request) => lock.run(() => requestReexport(actor, request)));
  setHandler(checkPermissionsUpdate, () =>
    lock.run(async () => {
      const check = await verifyPermissions(actor.destinationId, actor.settings);
      actor.recordCheck(check);
      if (!check.result) throw rejectWith(check.failure ?? 'permission check returned no result');
      return check.result;
    }),
  );
}

/** New settings are checked before they replace the old ones: a failing check changes nothing. */
async function configure(actor: DestinationActor, next: unknown): Promise<DestinationStatus> {
  const settings = parseMessage(destinationSettingsSchema, next, 'destination settings');
  const check = patched(PERMISSION_CHECKS_PATCH) ? await verifyPermissions(actor.destinationId, settings) : null;
  if (check?.failure) throw rejectWith(check.failure);
  await saveDestination({ destinationId: actor.destinationId, settings, activation: actor.activation });
  actor.configure(settings, check?.result ?? null);
  return actor.status();
}

async function activate(actor: DestinationActor, next: unknown): Promise<DestinationStatus> {
  const parsed = parseMessage(activationSchema, next, 'activation');
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
  const parsed = scheduledReexportRequestSchema.safeParse(request);
  if (!parsed.success) {
    log.warn('ignored an invalid re-export request', { error: invalidInputMessage('re-export request', parsed.error) });
    return;
  }
  const { requestedBy, force } = parsed.data;
  const busy = actor.reexports.busyReason(actor.activation);
  if (busy) return notifyWaiter(requestedBy, { outcome: 'skipped', reason: busy });
  actor.startReexport('schedule', force, [requestedBy]);
}
