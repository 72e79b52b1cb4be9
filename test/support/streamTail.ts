import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';

/** Reads a one-shard stream as it fills: partition key -> when its first record was read. */
export function tailStream(kinesis: KinesisClient, stream: string): { arrivals: Map<string, number>; stop(): void } {
  const arrivals = new Map<string, number>();
  let stopped = false;
  void (async () => {
    const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
    let { ShardIterator: iterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: Shards?.[0]?.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (!stopped && iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
      const now = Date.now();
      for (const r of page.Records ?? [])
        if (!arrivals.has(r.PartitionKey ?? '')) arrivals.set(r.PartitionKey ?? '', now);
      iterator = page.NextShardIterator;
      if ((page.Records ?? []).length === 0) await new Promise((r) => setTimeout(r, 10));
    }
  })().catch((err: unknown) => {
    // Waiters time out naming the record they missed; this says why.
    if (!stopped) console.error(`tailing ${stream} failed: ${err instanceof Error ? err.message : String(err)}`);
  });
  return {
    arrivals,
    stop: () => {
      stopped = true;
    },
  };
}
