import type { Command } from 'commander';
import { createKinesisClient } from '../../kinesis/client';
import { readAllRecords } from '../../kinesis/streamReader';
import { emit } from '../output';
import { json } from '../context';

export function registerPeek(program: Command): void {
  program
    .command('peek')
    .description(
      'print the records in a stream, oldest first (to see what a destination sent; emulators and test streams)',
    )
    .requiredOption('--stream <name>', 'stream name')
    .option('--endpoint <url>', 'Kinesis endpoint (the emulator of `dev` by default)', 'http://127.0.0.1:4567')
    .option('--region <region>', 'AWS region', 'us-east-1')
    .option('--limit <n>', 'at most this many records, the newest', '20')
    .addHelpText(
      'after',
      '\nExamples:\n  $ kinesis-activation peek --stream activation-stream\n  $ kinesis-activation peek --stream activation-stream --json | jq .data',
    )
    .action(async (opts: { stream: string; endpoint: string; region: string; limit: string }, cmd: Command) => {
      const client = createKinesisClient({
        region: opts.region,
        endpoint: opts.endpoint,
        credentials: { accessKeyId: 'peek', secretAccessKey: 'peek' },
      });
      try {
        const records = (await readAllRecords(client, opts.stream)).slice(-Math.max(1, Number(opts.limit) || 20));
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
              ? records.map((r) => `${r.shardId} ${r.partitionKey.slice(0, 12)}… ${r.data}`).join('\n')
              : `no records in ${opts.stream}`,
          );
      } finally {
        client.destroy();
      }
    });
}
