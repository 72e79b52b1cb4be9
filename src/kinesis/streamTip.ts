import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import { listShards } from './streamReader';
import type { StoredRecord } from './streamReader';

export interface ArrivedRecord extends StoredRecord {
  /** Kinesis's ApproximateArrivalTimestamp (ISO-8601): "newest" means the latest to arrive. */
  arrivedAt: string;
}

/** How far back each try reads (ms), then from the oldest record kept (null; the last try). */
const WINDOWS: readonly (number | null)[] = [10_000, 60_000, 600_000, 3_600_000, 21_600_000, 86_400_000, null];

/**
 * The `limit` records that arrived last in the stream, across all shards, oldest first. Kinesis
 * reads forward only, so each try reads every shard from a point in time to its tip, widening
 * the window until it holds `limit` records: a short look at a long stream reads only its tip.
 * At most `limit` records per shard are kept while reading.
 */
export async function readNewestRecords(
  client: KinesisClient,
  stream: string,
  limit: number,
  options: { timeoutMs?: number; windowsMs?: readonly (number | null)[] } = {},
): Promise<ArrivedRecord[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const shards = await listShards(client, stream);
  for (const window of options.windowsMs ?? WINDOWS) {
    // A little in the past: Kinesis refuses a timestamp after its own clock.
    const from = window === null ? null : new Date(Date.now() - 1000 - window);
    const kept: ArrivedRecord[] = [];
    for (const shard of shards) kept.push(...(await readShardTail(client, stream, shard, from, limit, deadline)));
    if (kept.length >= limit || window === null) {
      kept.sort((a, b) => a.arrivedAt.localeCompare(b.arrivedAt) || compareSequence(a, b));
      return kept.slice(-limit);
    }
  }
  return [];
}

/** The last `limit` records of one shard that arrived at or after `from` (null: all kept). */
async function readShardTail(
  client: KinesisClient,
  stream: string,
  shard: Shard,
  from: Date | null,
  limit: number,
  deadline: number,
): Promise<ArrivedRecord[]> {
  const shardId = shard.ShardId as string;
  let iterator = await shardIterator(client, stream, shardId, from);
  const tail: ArrivedRecord[] = [];
  const decoder = new TextDecoder();
  while (iterator) {
    if (Date.now() > deadline) throw new Error(`timed out reading ${stream}/${shardId}`);
    const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
    const records = page.Records ?? [];
    // Only the last `limit` can be among the newest: older ones are dropped before decoding.
    for (const r of records.slice(-limit)) {
      tail.push({
        partitionKey: r.PartitionKey ?? '',
        data: decoder.decode(r.Data),
        shardId,
        sequenceNumber: r.SequenceNumber ?? '',
        arrivedAt: (r.ApproximateArrivalTimestamp ?? new Date(0)).toISOString(),
      });
    }
    if (tail.length > limit) tail.splice(0, tail.length - limit);
    const caughtUp = records.length === 0 && (page.MillisBehindLatest ?? 0) === 0;
    iterator = caughtUp ? undefined : page.NextShardIterator;
  }
  return tail;
}

/**
 * kinesalite never answers an AT_TIMESTAMP request on a shard with no record since then (the
 * embedded stack's emulator): after this long the shard is read from its oldest record instead,
 * which is correct anywhere, only longer.
 */
const AT_TIMESTAMP_PATIENCE_MS = 2000;

/** An iterator from the first record that arrived at or after `from` (null: the oldest kept). */
async function shardIterator(
  client: KinesisClient,
  stream: string,
  shardId: string,
  from: Date | null,
): Promise<string | undefined> {
  const oldest = { StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' } as const;
  if (from !== null) {
    try {
      const since = { ...oldest, ShardIteratorType: 'AT_TIMESTAMP', Timestamp: from } as const;
      const abortSignal = AbortSignal.timeout(AT_TIMESTAMP_PATIENCE_MS);
      return (await client.send(new GetShardIteratorCommand(since), { abortSignal })).ShardIterator;
    } catch (err) {
      if (!(err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError'))) throw err;
    }
  }
  return (await client.send(new GetShardIteratorCommand(oldest))).ShardIterator;
}

/** Sequence numbers are decimal strings of varying length. */
function compareSequence(a: StoredRecord, b: StoredRecord): number {
  if (a.shardId !== b.shardId) return a.shardId < b.shardId ? -1 : 1;
  return a.sequenceNumber.length - b.sequenceNumber.length || (a.sequenceNumber < b.sequenceNumber ? -1 : 1);
}
