import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { streamParameter } from '../domain/streamRef';
import type { OutgoingRecord } from './outgoingRecord';

/**
 * Sends one PutRecords call and answers, per record in order, the ErrorCode the service gave it
 * (undefined: accepted). A call that fails as a whole throws the SDK's error; an answer that does
 * not account for every record throws a MalformedResponse.
 */
export async function putRecords(
  client: KinesisClient,
  /** Its name or ARN. */
  stream: string,
  records: readonly OutgoingRecord[],
  signal?: AbortSignal,
): Promise<(string | undefined)[]> {
  const response = await client.send(
    new PutRecordsCommand({
      ...streamParameter(stream),
      Records: records.map((record) => ({ Data: record.data, PartitionKey: record.partitionKey })),
    }),
    signal ? { abortSignal: signal } : {},
  );
  const results = response.Records ?? [];
  if (results.length !== records.length) {
    throw Object.assign(new Error(`PutRecords answered ${results.length} results for ${records.length} records`), {
      name: 'MalformedResponse',
    });
  }
  return results.map((result) => result.ErrorCode);
}
