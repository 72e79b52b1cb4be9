import { addReasonCounts } from './reasonCounts';
import type { ReasonCounts } from './reasonCounts';

/**
 * What an export decided: every decided profile was exported, skipped, excluded or dead-lettered.
 * The counts by reason are absent in results recorded before they were counted.
 */
export interface ExportCounts {
  decided: number;
  exported: number;
  skipped: number;
  deadLettered: number;
  /** Members the destination's consent rule held back, by reason (`consent-missing`, `consent-refused`). */
  excludedByReason?: ReasonCounts;
  /** The dead-lettered, by reason (`record-too-large`, `partition-key-invalid`). */
  deadLetteredByReason?: ReasonCounts;
  /** PutRecords entries Kinesis refused (each was resent), by ErrorCode. */
  failedByErrorCode?: ReasonCounts;
}

/** The sum of two counts: pages add up in a page's checkpoint, and in the destination's counters. */
export function addCounts(a: ExportCounts, b: ExportCounts): ExportCounts {
  return {
    decided: a.decided + b.decided,
    exported: a.exported + b.exported,
    skipped: a.skipped + b.skipped,
    deadLettered: a.deadLettered + b.deadLettered,
    excludedByReason: addReasonCounts(a.excludedByReason, b.excludedByReason),
    deadLetteredByReason: addReasonCounts(a.deadLetteredByReason, b.deadLetteredByReason),
    failedByErrorCode: addReasonCounts(a.failedByErrorCode, b.failedByErrorCode),
  };
}
