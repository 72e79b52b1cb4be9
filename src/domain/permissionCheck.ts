/** The three permissions the seed requires of a destination's credentials, and nothing more. */
export const KINESIS_PERMISSIONS = ['ListStreams', 'PutRecord', 'PutRecords'] as const;
export type KinesisPermission = (typeof KINESIS_PERMISSIONS)[number];

/**
 * `granted`: the call was authorized; `denied`: AccessDenied; `unknown`: the proof could not
 * decide (the stream is missing, or the service answered something unexpected).
 */
export type PermissionVerdict = 'granted' | 'denied' | 'unknown';

export interface PermissionResult {
  permission: KinesisPermission;
  verdict: PermissionVerdict;
  /** One line: what the proof saw. */
  detail: string;
}

export type StreamVerdict = 'exists' | 'missing' | 'unknown';

/**
 * What DescribeStreamSummary said of the stream's largest record. The grant is optional: without
 * it (or when the service does not say) `maxRecordBytes` is null and records are held to 1 MiB.
 */
export interface StreamLimitResult {
  verdict: PermissionVerdict;
  /** MaxRecordSizeInKiB in bytes (null: not known). */
  maxRecordBytes: number | null;
  detail: string;
}

/** What one permission check found; JSON-safe, kept in the actor's status. */
export interface PermissionCheckResult {
  /** ISO-8601 time of the check (the worker's clock). */
  checkedAt: string;
  region: string;
  stream: string;
  /** Whether ListStreams listed the stream (`unknown` when ListStreams itself was refused). */
  streamVerdict: StreamVerdict;
  streamDetail: string;
  permissions: PermissionResult[];
  /** The stream's record size limit (absent in checks by earlier versions). Not part of `ok`. */
  streamLimit?: StreamLimitResult;
  /** Every permission granted and the stream listed. */
  ok: boolean;
}

/** Failure type of a check that found a missing permission or stream: no retry fixes it. */
export const PERMISSION_CHECK_FAILED = 'KinesisPermissionCheckFailed';

/**
 * The one line a failed check is reported with, naming what is missing first:
 * `kinesis:PutRecords denied on stream s (us-east-1): ...`.
 */
export function permissionCheckFailure(result: PermissionCheckResult): string {
  const denied = result.permissions.filter((p) => p.verdict === 'denied');
  if (denied.length > 0) {
    const names = denied.map((p) => `kinesis:${p.permission}`).join(', ');
    return `${names} denied on stream ${result.stream} (${result.region}): ${denied[0]?.detail ?? ''}`;
  }
  if (result.streamVerdict === 'missing') return `stream ${result.stream} not found: ${result.streamDetail}`;
  const unknown = result.permissions.find((p) => p.verdict === 'unknown');
  return (
    `permission check of stream ${result.stream} (${result.region}) was inconclusive: ` +
    `${unknown?.detail ?? result.streamDetail}`
  );
}
