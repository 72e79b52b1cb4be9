import type { ExportCounters } from '../../src/workflows/messages';

/** A destination's counters: none excluded, failed or dead-lettered unless given. */
export function counters(given: Partial<ExportCounters>): ExportCounters {
  return {
    received: 0,
    exported: 0,
    skipped: 0,
    deadLettered: 0,
    excluded: 0,
    failed: 0,
    excludedByReason: {},
    failedByErrorCode: {},
    deadLetteredByReason: {},
    ...given,
  };
}
