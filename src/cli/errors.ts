import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import type { TemporalConfig } from '../config';

/** Turns an error into the one line a user can act on (naming the fix where there is one). */
export function describeError(err: unknown, temporal: TemporalConfig): string {
  if (err instanceof WorkflowNotFoundError)
    return `no such destination (${err.workflowId ?? 'unknown'}): \`kinesis-activation destination list\` shows the ids`;
  if (err instanceof WorkflowExecutionAlreadyStartedError)
    return `a destination with this id exists already (${err.workflowId})`;
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause instanceof Error ? err.cause.message : err.message;
    return cause;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/ECONNREFUSED|Failed to connect|connect ETIMEDOUT|transport error|UNAVAILABLE/i.test(message)) {
    return `cannot reach Temporal at ${temporal.address}: start the embedded stack with \`kinesis-activation dev\` (or \`npm run dev\`), or set TEMPORAL_ADDRESS`;
  }
  return message;
}
