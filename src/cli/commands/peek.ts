import type { Command } from 'commander';
import { createKinesisClient } from '../../kinesis/client';
import { readNewestRecords } from '../../kinesis/streamTip';
import { emit, fail } from '../output';
import { json } from '../context';

const MAX_LIMIT = 10_000;

function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_LIMIT)
    fail(`--limit ${JSON.stringify(value)}: must be a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

export function registerPeek(program: Command): void {
  program
    .command('peek')
    .description(
      'print the newest records of a stream (the last to arrive, by Kinesis arrival time across shards), ' +
        'oldest first; ' +
        'reads only the tip of each shard (to see what a destination sent; emulators and test streams)',
    )
    .requiredOption('--stream <name>', 'stream name')
    .option('--endpoint <url>', 'Kinesis endpoint (the emulator of `dev` by default)', 'http://127.0.0.1:4567')
    .option('--region <region>', 'AWS region', 'us-east-1')
    .option('--limit <n>', `at most this many records, the newest (1 to ${MAX_LIMIT})`, '20')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ kinesis-activation peek --stream activation-stream\n' +
        '  $ kinesis-activation peek --stream activation-stream --json | jq .data',
    )
    .action(async (opts: { stream: string; endpoint: string; region: string; limit: string }, cmd: Command) => {
      const limit = parseLimit(opts.limit);
      const client = createKinesisClient({
        region: opts.region,
        endpoint: opts.endpoint,
        credentials: { accessKeyId: 'peek', secretAccessKey: 'peek' },
      });
      try {
        // peek talks to Kinesis only: its failures name the stream and endpoint, never Temporal.
        const records = await readNewestRecords(client, opts.stream, limit).catch((err: unknown) =>
          fail(
            `cannot read stream ${opts.stream} at ${opts.endpoint}: ` +
              `${err instanceof Error ? err.message || err.name : String(err)}`,
          ),
        );
        if (json(cmd))
          process.stdout.write(
            records.map((r) => JSON.stringify({ ...r, data: JSON.parse(r.data) as unknown })).join('\n') +
              (records.length ? '\n' : ''),
          );
        else
          emit(
            false,
            null,
            records.length
              ? records.map((r) => `${r.arrivedAt} ${r.shardId} ${r.partitionKey.slice(0, 12)}… ${r.data}`).join('\n')
              : `no records in ${opts.stream}`,
          );
      } finally {
        client.destroy();
      }
    });
}
