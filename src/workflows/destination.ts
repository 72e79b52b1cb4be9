import { allHandlersFinished, condition, continueAsNew, patched } from '@temporalio/workflow';
import { DestinationActor } from './actor';
import { PERMISSION_CHECKS_PATCH, registerHandlers } from './handlers';
import { WorkflowLock } from './lock';
import type { DestinationStopped, DestinationWorkflowInput } from './messages';
import { saveDestination, takeStep, verifyPermissions } from './steps';

/**
 * The destination actor: one long-lived workflow per destination. It holds the non-secret
 * settings and the activation, learns of profile changes by signal, and exports them page by
 * page through activities, moving the change cursor as pages finish. It also runs re-exports
 * (on demand, scheduled, or back-filling newly mapped segments), one at a time, page by page with
 * the cursor in its state, taking turns with change pages: one activity at a time, so a profile
 * is never in flight twice. The state and its transitions are in DestinationActor.
 */
export async function destinationWorkflow(input: DestinationWorkflowInput): Promise<DestinationStopped | void> {
  const actor = new DestinationActor(input);
  const lock = new WorkflowLock();
  registerHandlers(actor, lock);
  actor.show();
  actor.showName();
  await lock.run(async () => {
    await saveDestination({
      destinationId: actor.destinationId,
      settings: actor.settings,
      activation: actor.activation,
    });
    // A new destination is checked at once; continued runs carry the result of the last check.
    if (input.carried === undefined && patched(PERMISSION_CHECKS_PATCH))
      actor.recordCheck(await verifyPermissions(actor.destinationId, actor.settings));
  });
  for (;;) {
    await nextStepOrFullHistory(actor);
    const stopped = actor.stopped;
    if (stopped !== null) {
      // Deleted: the actor ends here, after every handler answered (the delete among them).
      await condition(allHandlersFinished);
      return stopped;
    }
    if (actor.historyFull()) {
      // The cursors and every counter travel in the carried state.
      await condition(allHandlersFinished);
      return continueAsNew<typeof destinationWorkflow>({ ...input, settings: actor.settings, carried: actor.carry() });
    }
    const step = actor.nextStep();
    if (step !== null) await takeStep(actor, lock, step);
  }
}

/** Waits until a step is due or the history is full; in error, until the automatic retry is due. */
async function nextStepOrFullHistory(actor: DestinationActor): Promise<void> {
  // A handler in the actor's turn (a replay, a delete) goes first.
  if (actor.stepsHeld()) await condition(() => !actor.stepsHeld());
  if (actor.deleted) return;
  const ready = (): boolean => actor.nextStep() !== null || actor.historyFull() || actor.deleted;
  const retryWait = actor.planRetry();
  if (retryWait === null) await condition(ready);
  else if (retryWait > 0)
    await condition(ready, retryWait, {
      summary: `retry after error (failed attempts: ${actor.status().failedAttempts})`,
    });
}
