import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { packBatches } from '../src/kinesis/batcher';
import type { OutgoingRecord } from '../src/kinesis/outgoingRecord';

/**
 * The best a user could write without durability: the same records in full calls (500 records or 5 MiB), `concurrency`
 * calls in flight over keep-alive connections, failed entries resent at once. No store, no
 * ledger, no ordering per profile, no checkpoints. Returns the milliseconds from first send to
 * last acknowledgement.
 */
export async function bareLoop(
  client: KinesisClient,
  stream: string,
  records: readonly OutgoingRecord[],
  concurrency: number,
): Promise<number> {
  const { batches } = packBatches(records);
  const started = performance.now();
  const sender = async (): Promise<void> => {
    for (let batch = batches.shift(); batch !== undefined; batch = batches.shift()) {
      const { Records: results = [] } = await client.send(
        new PutRecordsCommand({
          StreamName: stream,
          Records: batch.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })),
        }),
      );
      const failed = batch.filter((_, i) => results[i]?.ErrorCode !== undefined);
      if (failed.length > 0) batches.push(failed);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  return performance.now() - started;
}
