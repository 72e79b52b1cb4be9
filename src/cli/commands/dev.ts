import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { startDevStack } from '../../embedded/devStack';
import { INGEST_TOKENS_ENV, tokensFromEnv } from '../../http/auth';
import { emit } from '../output';
import { json } from '../context';
import { DEFAULT_INGEST_PORT } from './serve';

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('embedded stack in the foreground: Temporal dev server with Web UI, Kinesis emulator, worker')
    .addHelpText(
      'after',
      `\nExamples:\n  $ kinesis-activation dev\n  $ kinesis-activation dev --data-dir /tmp/ka --ui-port 8080`,
    )
    .option('--data-dir <dir>', 'where Temporal history, the store and the emulator keep data', '.data')
    .option('--temporal-port <port>', 'Temporal frontend port', '7233')
    .option('--ui-port <port>', 'Temporal Web UI port', '8233')
    .option('--kinesis-port <port>', 'Kinesis emulator port', '4567')
    .option('--stream <name>', 'stream created in the emulator', 'activation-stream')
    .option('--shards <n>', 'shards of that stream', '2')
    .option('--metrics-port <port>', 'Prometheus metrics endpoint port', process.env.METRICS_PORT ?? '9464')
    .option('--ingest-port <port>', 'HTTP ingest service port (loopback)', DEFAULT_INGEST_PORT)
    .action(
      async (
        opts: {
          dataDir: string;
          temporalPort: string;
          uiPort: string;
          kinesisPort: string;
          stream: string;
          shards: string;
          metricsPort: string;
          ingestPort: string;
        },
        cmd: Command,
      ) => {
        // The emulator accepts any secret; destinations created from the walk-through reference this one.
        process.env.KINESIS_SECRET ??= 'local';
        // The configured tokens, else one made up for this run and printed.
        const configured = tokensFromEnv();
        const ingestToken = configured.length > 0 ? undefined : randomBytes(24).toString('base64url');
        const stack = await startDevStack({
          dataDir: opts.dataDir,
          temporalPort: Number(opts.temporalPort),
          uiPort: Number(opts.uiPort),
          kinesisPort: Number(opts.kinesisPort),
          stream: opts.stream,
          shards: Number(opts.shards),
          metricsPort: Number(opts.metricsPort),
          ingestPort: Number(opts.ingestPort),
          ingestTokens: ingestToken ? [ingestToken] : configured,
        });
        const info = {
          temporalAddress: stack.temporalAddress,
          temporalUi: stack.uiUrl,
          kinesisEndpoint: stack.kinesisEndpoint,
          stream: stack.stream,
          databaseUrl: stack.databaseUrl,
          metricsUrl: stack.metricsUrl ?? null,
          ingestUrl: stack.ingestUrl,
          ingestToken: ingestToken ?? null,
          codecEndpoint: stack.codecEndpoint ?? null,
        };
        emit(
          json(cmd),
          info,
          [
            'kinesis-activation dev is running (Ctrl-C stops everything)',
            `  Temporal:        ${stack.temporalAddress}`,
            `  Temporal Web UI: ${stack.uiUrl}`,
            `  Kinesis:         ${stack.kinesisEndpoint} (stream "${stack.stream}")`,
            `  Store:           ${stack.databaseUrl}`,
            `  Metrics:         ${stack.metricsUrl ?? 'off'}`,
            `  Ingest service:  ${stack.ingestUrl} ` +
              `(Authorization: Bearer ${ingestToken ?? `<a token of ${INGEST_TOKENS_ENV}>`})`,
            ...(stack.codecEndpoint
              ? [`  Codec endpoint:  ${stack.codecEndpoint} (payloads are encrypted; the Web UI decrypts through it)`]
              : []),
            '',
            'Try, in another terminal:',
            `  ./bin/kinesis-activation destination create --name demo --region us-east-1 --stream ${stack.stream} ` +
              `--endpoint ${stack.kinesisEndpoint} ` +
              '--access-key-id AKIALOCALEXAMPLE01 --secret-access-key-env KINESIS_SECRET',
            `  curl -H 'Authorization: Bearer ${ingestToken ?? '$TOKEN'}' -H 'Content-Type: application/x-ndjson' ` +
              `--data-binary @examples/profiles.ndjson ${stack.ingestUrl}/v1/profiles`,
          ].join('\n'),
        );
        const stop = (): void => void stack.stop().then(() => process.exit(0));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await stack.running;
      },
    );
}
