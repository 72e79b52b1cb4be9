import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError } from '@temporalio/client';

/** The update's failure message, as the client API surfaces it; fails when the update was accepted. */
export async function updateFailure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
    return err.cause instanceof Error ? err.cause.message : err.message;
  }
  throw new Error('the update was accepted');
}
