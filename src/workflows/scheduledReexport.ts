import {
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { destinationWorkflowId } from '../domain/destinationWorkflowId';
import { reexportFinishedSignal, requestReexportSignal } from './messages';
import type { ReexportOutcome, ScheduledReexportInput } from './messages';

/**
 * What a re-export schedule starts: it asks the destination's actor for a re-export and stays
 * open until the actor says it finished, so the schedule's overlap policy (SKIP) sees a running
 * re-export and never starts a second one. The actor runs the pages itself, so a scheduled run
 * never races its change exports. If a re-export is running already (a manual one, a back-fill),
 * the actor answers at once that this run was skipped.
 */
export async function scheduledReexportWorkflow({
  destinationId,
  force,
}: ScheduledReexportInput): Promise<ReexportOutcome> {
  let outcome: ReexportOutcome | undefined;
  setHandler(reexportFinishedSignal, (finished) => {
    outcome = finished;
  });
  const actorId = destinationWorkflowId(destinationId);
  try {
    await getExternalWorkflowHandle(actorId).signal(requestReexportSignal, {
      requestedBy: workflowInfo().workflowId,
      force,
    });
  } catch (err) {
    throw ApplicationFailure.create({
      type: 'DestinationNotFound',
      nonRetryable: true,
      message:
        `destination ${destinationId} has no running actor (${actorId}); ` +
        'delete this schedule or recreate the destination',
      cause: err instanceof Error ? err : undefined,
    });
  }
  await condition(() => outcome !== undefined);
  return outcome as ReexportOutcome;
}
