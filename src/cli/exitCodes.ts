/**
 * Exit codes scripts can tell apart (README, command table). 1 is every other failure: bad input,
 * nothing reachable, no such destination.
 */
export const EXIT = {
  failure: 1,
  /** ingest: some lines were rejected; the others are stored. */
  rejectedLines: 3,
  /** destination create, activate: done, but the destination's permission check failed. */
  checkFailed: 4,
  /** status: the destination is in state error. */
  stateError: 5,
  /** status: the destination's actor is gone (terminated or deleted). */
  gone: 6,
} as const;
