import {
  DescribeStreamSummaryCommand,
  ListStreamsCommand,
  PutRecordCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import type { KinesisClient, ListStreamsCommandInput } from '@aws-sdk/client-kinesis';
import type {
  KinesisPermission,
  PermissionCheckResult,
  PermissionResult,
  StreamLimitResult,
  StreamVerdict,
} from '../domain/permissionCheck';
import { oneLine } from '../domain/oneLine';
import { streamNameOf, streamParameter } from '../domain/streamRef';
import { classifyError, NOT_KINESIS_CODE, terminalError } from './errors';

/**
 * The probes' hash key: 2^128, one above the largest. It matches the API's pattern for
 * ExplicitHashKey (`0|([1-9]\d{0,38})`), so the request is well-formed and IAM authorizes it
 * (AccessDenied when the grant is missing); only then does Kinesis find the value out of range
 * and refuse it with InvalidArgumentException, before any record is written. An authorized
 * caller thus learns it may write, and the customer's stream receives nothing.
 */
export const PROBE_EXPLICIT_HASH_KEY = (2n ** 128n).toString();
export const PROBE_PARTITION_KEY = 'kinesis-activation-permission-check';

export interface PermissionCheckOptions {
  stream: string;
  region: string;
  /** Streams asked for per ListStreams page (the API returns at most 100). */
  listPageSize?: number;
  now?: () => Date;
}

/** A call that the service refused in a way a retry does not change. */
interface Refusal {
  code: string;
  message: string;
}

/**
 * Checks, with only ListStreams, PutRecord and PutRecords, that the client may write to the
 * stream: ListStreams pages through the account's streams in the region until it finds the
 * stream, and a PutRecord and a PutRecords probe that Kinesis must refuse after authorizing
 * them prove the two write grants without writing. Errors a retry may fix (throttling, 5xx,
 * network) are thrown, so the caller's retry policy runs the whole check again.
 */
export async function checkStreamPermissions(
  client: KinesisClient,
  options: PermissionCheckOptions,
): Promise<PermissionCheckResult> {
  const { stream, region } = options;
  const listing = await findStream(client, streamNameOf(stream), options.listPageSize ?? 100);
  if ('code' in listing && listing.code === NOT_KINESIS_CODE)
    throw terminalError({ kind: 'terminal', throttled: false, ...listing }, 'ListStreams');
  let streamVerdict: StreamVerdict;
  let streamDetail: string;
  let listStreams: PermissionResult;
  if ('code' in listing) {
    listStreams = { permission: 'ListStreams', verdict: 'denied', detail: refusalDetail(listing) };
    streamVerdict = 'unknown';
    streamDetail = 'not known: ListStreams was refused';
  } else {
    listStreams = {
      permission: 'ListStreams',
      verdict: 'granted',
      detail: `listed ${listing.listed} stream(s) in ${listing.pages} page(s)`,
    };
    streamVerdict = listing.found ? 'exists' : 'missing';
    streamDetail = listing.found
      ? `${stream} is listed in ${region}`
      : `no stream named ${stream} among the ${listing.listed} ListStreams lists in ${region}; ` +
        'check the stream name and the region';
  }

  const probeRecord = {
    PartitionKey: PROBE_PARTITION_KEY,
    ExplicitHashKey: PROBE_EXPLICIT_HASH_KEY,
    Data: new Uint8Array(0),
  };
  const putRecord = await proveWrite('PutRecord', () =>
    client.send(new PutRecordCommand({ ...streamParameter(stream), ...probeRecord })),
  );
  const putRecords = await proveWrite('PutRecords', () =>
    client.send(new PutRecordsCommand({ ...streamParameter(stream), Records: [probeRecord] })),
  );

  const streamLimit = await readStreamLimit(client, stream);

  const permissions = [listStreams, putRecord, putRecords];
  return {
    checkedAt: (options.now?.() ?? new Date()).toISOString(),
    region,
    stream,
    streamVerdict,
    streamDetail,
    permissions,
    streamLimit,
    ok: streamVerdict === 'exists' && permissions.every((p) => p.verdict === 'granted'),
  };
}

/** Pages through ListStreams (NextToken where the service gives one, else ExclusiveStartStreamName). */
async function findStream(
  client: KinesisClient,
  stream: string,
  pageSize: number,
): Promise<{ found: boolean; listed: number; pages: number } | Refusal> {
  let listed = 0;
  let pages = 0;
  let next: ListStreamsCommandInput = { Limit: pageSize };
  for (;;) {
    const outcome = await attempt(() => client.send(new ListStreamsCommand(next)));
    if ('code' in outcome) return outcome;
    const page = outcome.value;
    pages++;
    const names = page.StreamSummaries?.map((s) => s.StreamName ?? '') ?? page.StreamNames ?? [];
    listed += names.length;
    if (names.includes(stream)) return { found: true, listed, pages };
    const last = names[names.length - 1];
    if (page.NextToken) next = { NextToken: page.NextToken, Limit: pageSize };
    else if (page.HasMoreStreams && last !== undefined) next = { ExclusiveStartStreamName: last, Limit: pageSize };
    else return { found: false, listed, pages };
  }
}

/** Reads MaxRecordSizeInKiB with DescribeStreamSummary; a refusal or a silent answer leaves it unknown. */
async function readStreamLimit(client: KinesisClient, stream: string): Promise<StreamLimitResult> {
  const outcome = await attempt(() => client.send(new DescribeStreamSummaryCommand(streamParameter(stream))));
  if ('code' in outcome) {
    if (outcome.code === NOT_KINESIS_CODE)
      throw terminalError({ kind: 'terminal', throttled: false, ...outcome }, 'DescribeStreamSummary');
    const verdict = outcome.code === 'AccessDeniedException' ? 'denied' : 'unknown';
    const detail = `DescribeStreamSummary (optional) refused: ${refusalDetail(outcome)}; records are held to 1 MiB`;
    return { verdict, maxRecordBytes: null, detail };
  }
  const kib = outcome.value.StreamDescriptionSummary?.MaxRecordSizeInKiB;
  if (kib === undefined) {
    return {
      verdict: 'granted',
      maxRecordBytes: null,
      detail: 'the stream did not say its MaxRecordSizeInKiB; records are held to 1 MiB',
    };
  }
  return { verdict: 'granted', maxRecordBytes: kib * 1024, detail: `the stream takes records up to ${kib} KiB` };
}

async function proveWrite(permission: KinesisPermission, probe: () => Promise<unknown>): Promise<PermissionResult> {
  const outcome = await attempt(probe);
  if ('code' in outcome && outcome.code === NOT_KINESIS_CODE)
    throw terminalError({ kind: 'terminal', throttled: false, ...outcome }, permission);
  if (!('code' in outcome)) {
    // Not seen on Kinesis or the emulators; if a service ever accepts the probe, say so plainly.
    return {
      permission,
      verdict: 'granted',
      detail: 'authorized; the service accepted the probe, so one empty record was written',
    };
  }
  switch (outcome.code) {
    case 'InvalidArgumentException':
      return {
        permission,
        verdict: 'granted',
        detail: 'authorized (the probe was refused after authorization, nothing was written)',
      };
    case 'ResourceNotFoundException':
      return { permission, verdict: 'unknown', detail: `cannot be proven: ${refusalDetail(outcome)}` };
    case 'ValidationException':
      return {
        permission,
        verdict: 'unknown',
        detail: `cannot be proven, the probe was refused before authorization: ${refusalDetail(outcome)}`,
      };
    default:
      return { permission, verdict: 'denied', detail: refusalDetail(outcome) };
  }
}

async function attempt<T>(call: () => Promise<T>): Promise<{ value: T } | Refusal> {
  try {
    return { value: await call() };
  } catch (err) {
    const classified = classifyError(err);
    if (classified.kind === 'retryable') throw err;
    return { code: classified.code, message: classified.message };
  }
}

function refusalDetail(refusal: Refusal): string {
  return `${refusal.code}: ${oneLine(refusal.message)}`;
}
