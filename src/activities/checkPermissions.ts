import { ApplicationFailure } from '@temporalio/activity';
import { CredentialsError } from '../aws/credentials';
import { PERMISSION_CHECK_FAILED, permissionCheckFailure } from '../domain/permissionCheck';
import type { PermissionCheckResult } from '../domain/permissionCheck';
import { KinesisTerminalError } from '../kinesis/errors';
import { checkStreamPermissions } from '../kinesis/permissionCheck';
import type { KinesisConnections } from '../kinesis/connections';
import type { CheckPermissionsInput } from './types';

/**
 * Checks the destination's ListStreams, PutRecord and PutRecords grants and that its stream
 * exists. A missing grant or stream is a non-retryable failure naming it, with the per-permission
 * result in its details; throttling and network errors are retried by the activity's policy.
 */
export async function checkPermissions(
  writers: KinesisConnections,
  input: CheckPermissionsInput,
): Promise<PermissionCheckResult> {
  const { destinationId, settings } = input;
  let result: PermissionCheckResult;
  try {
    result = await writers.withClient(destinationId, settings, (client) =>
      checkStreamPermissions(client, { stream: settings.stream, region: settings.region }),
    );
  } catch (err) {
    if (err instanceof CredentialsError)
      throw ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true });
    // An endpoint that is not Kinesis: no permission can be judged, and retrying changes nothing.
    if (err instanceof KinesisTerminalError)
      throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true });
    // The SDK found no identity for the worker (default chain) or for assuming the role: retrying
    // does not give it one.
    if (err instanceof Error && err.name === 'CredentialsProviderError') {
      throw ApplicationFailure.create({
        type: err.name,
        message: `credentials: the worker has no usable AWS credentials: ${err.message}`,
        nonRetryable: true,
      });
    }
    throw err;
  }
  if (!result.ok) {
    throw ApplicationFailure.create({
      type: PERMISSION_CHECK_FAILED,
      message: permissionCheckFailure(result),
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}
