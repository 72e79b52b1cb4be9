import type { DestinationSettings } from './destination';
import type { PermissionCheckResult } from './permissionCheck';

export const MiB = 1024 * 1024;

/** Kinesis's record size limit for streams that never raised it; also where an unread stream falls back to. */
export const DEFAULT_MAX_RECORD_BYTES = MiB;

/**
 * The largest record the destination sends: `maxRecordBytes` when set, else what the last
 * permission check read from the stream (DescribeStreamSummary's MaxRecordSizeInKiB), else 1 MiB.
 * A check of another stream or region says nothing about this one.
 */
export function recordSizeLimit(settings: DestinationSettings, check: PermissionCheckResult | null): number {
  if (settings.maxRecordBytes !== undefined) return settings.maxRecordBytes;
  const sameStream = check !== null && check.stream === settings.stream && check.region === settings.region;
  return (sameStream ? check.streamLimit?.maxRecordBytes : null) ?? DEFAULT_MAX_RECORD_BYTES;
}
