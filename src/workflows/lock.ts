import { condition } from '@temporalio/workflow';

/**
 * One holder at a time, for handlers that await activities between reading and writing the
 * actor's state (as the safe-message-handlers sample does with a mutex). Built on `condition`,
 * so it is deterministic and adds no command to the history.
 */
export class WorkflowLock {
  private held = false;

  async run<T>(fn: () => Promise<T>): Promise<T> {
    // Re-checked after each wake: several waiters may be unblocked by one release.
    while (this.held) await condition(() => !this.held);
    this.held = true;
    try {
      return await fn();
    } finally {
      this.held = false;
    }
  }
}
