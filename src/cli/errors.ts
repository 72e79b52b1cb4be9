import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import type { TemporalConfig } from '../config';
import { StoreUnavailableError } from '../store/storeUnavailable';

/** Turns an error into the one line a user can act on (naming the fix where there is one). */
export function describeError(err: unknown, temporal: TemporalConfig): string {
  if (err instanceof WorkflowNotFoundError)
    return (
      `no such destination (${err.workflowId ?? 'unknown'}): ` + '`kinesis-activation destination list` shows the ids'
    );
  if (err instanceof WorkflowExecutionAlreadyStartedError)
    return `a destination with this id exists already (${err.workflowId})`;
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause instanceof Error ? err.cause.message : err.message;
    return cause;
  }
  const message = withCauses(err);
  // The store's own line names it; its socket errors are not Temporal's.
  if (causes(err).some((e) => e instanceof StoreUnavailableError)) return message;
  if (/ECONNREFUSED|Failed to connect|connect ETIMEDOUT|transport error|UNAVAILABLE/i.test(message)) {
    return (
      `cannot reach Temporal at ${temporal.address}: ` +
      'start the embedded stack with `kinesis-activation dev` (or `npm run dev`), or set TEMPORAL_ADDRESS'
    );
  }
  return message;
}

/**
 * The message followed by its causes' (the Temporal client reports "Failed to start Workflow"
 * and puts what the server said in the cause), each once.
 */
function withCauses(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts: string[] = [];
  for (const e of causes(err)) if (e.message && !parts.some((part) => part.includes(e.message))) parts.push(e.message);
  return parts.join(': ');
}

/** `err` and its causes, five at most. */
function causes(err: unknown): Error[] {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 5; e = e.cause) chain.push(e);
  return chain;
}
