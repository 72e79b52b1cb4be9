import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { waitFor } from './waitFor';

/** Creates the stream if it does not exist and waits until it is ACTIVE. */
export async function ensureStream(client: KinesisClient, stream: string, shardCount: number): Promise<void> {
  try {
    await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shardCount }));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  await waitFor(
    async () => {
      try {
        const { StreamDescriptionSummary } = await client.send(
          new DescribeStreamSummaryCommand({ StreamName: stream }),
        );
        return StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
      } catch (err) {
        if (err instanceof ResourceNotFoundException) return false;
        throw err;
      }
    },
    { timeoutMs: 30_000, what: `stream ${stream} to become ACTIVE` },
  );
}
