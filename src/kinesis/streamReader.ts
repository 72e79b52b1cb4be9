import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient, Shard } from '@aws-sdk/client-kinesis';

/** A record as stored in the stream. */
export interface StoredRecord {
  partitionKey: string;
  /** The data decoded as UTF-8. */
  data: string;
  shardId: string;
  sequenceNumber: string;
}

/**
 * Every record of every shard, read from TRIM_HORIZON until the shard is caught up; each
 * shard's records in sequence order (the order a consumer sees), shards one after another.
 */
export async function readAllRecords(
  client: KinesisClient,
  stream: string,
  options: { timeoutMs?: number } = {},
): Promise<StoredRecord[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const shards = await listShards(client, stream);

  const records: StoredRecord[] = [];
  const decoder = new TextDecoder();
  for (const shard of shards) {
    const shardId = shard.ShardId as string;
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    while (iterator) {
      if (Date.now() > deadline) throw new Error(`timed out reading ${stream}/${shardId}`);
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of page.Records ?? []) {
        records.push({
          partitionKey: r.PartitionKey ?? '',
          data: decoder.decode(r.Data),
          shardId,
          sequenceNumber: r.SequenceNumber ?? '',
        });
      }
      const caughtUp = (page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0;
      iterator = caughtUp ? undefined : page.NextShardIterator;
    }
  }
  return records;
}

/** Every shard of the stream, page after page. */
export async function listShards(client: KinesisClient, stream: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: stream }),
    );
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return shards;
}
