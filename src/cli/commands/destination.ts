import type { Command } from 'commander';
import { Option } from 'commander';
import { destinationIdSchema, destinationSettingsSchema } from '../../domain/destination';
import type { DestinationSettingsInput } from '../../domain/destination';
import type { PartitionKeyStrategy } from '../../domain/partitionKeyStrategy';
import { permissionCheckFailure, permissionCheckLines } from '../../domain/permissionCheck';
import { parseInput } from '../../domain/validationError';
import { parseMaxRecordBytesOption, parsePartitionKeyOption } from '../destinationOptions';
import { emit, fail } from '../output';
import { formatTable } from '../table';
import { withClient, json } from '../context';

export function registerDestination(program: Command): void {
  const destination = program.command('destination').description('Kinesis destinations (connections)');
  destination
    .command('create')
    .description('create a destination and start its actor; prints the new id')
    .addHelpText(
      'after',
      `\nExamples:\n  $ export KINESIS_SECRET=...   # on the worker\n  $ kinesis-activation destination create --name crm --region eu-west-1 --stream audiences --access-key-id AKIA... --secret-access-key-env KINESIS_SECRET\n  $ kinesis-activation destination create --name crm --region us-east-1 --stream audiences --role-arn arn:aws:iam::123456789012:role/writer --external-id x1`,
    )
    .requiredOption('--name <name>', 'connection name')
    .requiredOption('--region <region>', 'AWS region, e.g. us-east-1')
    .requiredOption('--stream <stream>', 'an existing Kinesis data stream')
    .option('--description <text>', 'connection description')
    .option('--endpoint <url>', 'Kinesis endpoint override (local emulators)')
    .option('--id <id>', 'destination id (default: a new UUID)')
    .option('--access-key-id <id>', 'AWS access key id')
    .option('--secret-access-key-env <VAR>', 'environment variable on the worker that holds the secret access key')
    .option('--secret-access-key-file <path>', 'file on the worker that holds the secret access key')
    .option('--role-arn <arn>', 'IAM role the worker assumes (instead of an access key)')
    .option('--external-id <id>', 'external id the role requires')
    .option('--session-name <name>', 'session name of the assumed role (shows in CloudTrail)')
    .option('--sts-endpoint <url>', 'STS endpoint override for the role (VPC endpoint, local emulator)')
    .option('--include-segment-names', 'add segment names to records')
    .option('--include-segment-timestamps', 'add segment and mapping timestamps to records')
    .addOption(
      new Option('--status-style <style>', 'status of members already exported')
        .choices(['existing', 'realized'])
        .default('existing'),
    )
    .option(
      '--partition-key <strategy>',
      'hash (of the profile id; default), identity:NAMESPACE or attribute:XDM.PATH',
      parsePartitionKeyOption,
    )
    .option(
      '--max-record-bytes <n>',
      'largest record the stream takes, e.g. 1MiB (default); streams that opted in take up to 10MiB',
      parseMaxRecordBytesOption,
    )
    .action(
      async (
        opts: Record<string, string | boolean | undefined> & {
          partitionKey?: PartitionKeyStrategy;
          maxRecordBytes?: number;
        },
        cmd: Command,
      ) => {
        const settings: DestinationSettingsInput = {
          name: String(opts.name),
          region: String(opts.region),
          stream: String(opts.stream),
          ...(opts.description ? { description: String(opts.description) } : {}),
          ...(opts.endpoint ? { endpoint: String(opts.endpoint) } : {}),
          credentials: credentialsFromFlags(opts) as DestinationSettingsInput['credentials'],
          exportOptions: {
            includeSegmentNames: Boolean(opts.includeSegmentNames),
            includeSegmentTimestamps: Boolean(opts.includeSegmentTimestamps),
            statusStyle: opts.statusStyle === 'realized' ? 'realized' : 'existing',
          },
          ...(opts.partitionKey ? { partitionKey: opts.partitionKey } : {}),
          ...(opts.maxRecordBytes !== undefined ? { maxRecordBytes: opts.maxRecordBytes } : {}),
        };
        // Bad input is reported before anything is contacted.
        parseInput(destinationSettingsSchema, settings, 'destination settings');
        if (opts.id) parseInput(destinationIdSchema, opts.id, 'destination id');
        const { id } = await withClient((client) =>
          client.createDestination(settings, opts.id ? String(opts.id) : undefined),
        );
        emit(json(cmd), { id }, id);
      },
    );

  destination
    .command('list')
    .description('every destination with its state and counters')
    .action(async (_opts: unknown, cmd: Command) => {
      const destinations = await withClient((client) => client.listDestinations());
      const rows = destinations.map(({ id, status }) =>
        status
          ? [
              id,
              status.name,
              status.stream,
              status.state,
              String(status.pending),
              String(status.counters.exported),
              status.lastError ?? '',
            ]
          : [id, '', '', 'gone', '', '', ''],
      );
      emit(
        json(cmd),
        destinations,
        rows.length
          ? formatTable(['id', 'name', 'stream', 'state', 'pending', 'exported', 'last error'], rows)
          : 'no destinations yet: create one with `kinesis-activation destination create`',
      );
    });

  destination
    .command('check <id>')
    .description('check ListStreams, PutRecord and PutRecords and that the stream exists; exits 0 only if all pass')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const result = await withClient((client) => client.checkPermissions(id));
      emit(json(cmd), result, permissionCheckLines(result).join('\n'));
      if (!result.ok) fail(permissionCheckFailure(result));
    });
}

/**
 * The credentials reference the flags describe. Flags of another mode are kept, so validation
 * names them (`credentials.externalId: is not a known field`) instead of dropping them.
 */
function credentialsFromFlags(opts: Record<string, string | boolean | undefined>): Record<string, string> {
  const flags = [
    'accessKeyId',
    'secretAccessKeyEnv',
    'secretAccessKeyFile',
    'roleArn',
    'externalId',
    'sessionName',
    'stsEndpoint',
  ] as const;
  const given = Object.fromEntries(flags.filter((f) => opts[f] !== undefined).map((f) => [f, String(opts[f])]));
  const type =
    given.roleArn !== undefined
      ? 'assumeRole'
      : given.accessKeyId !== undefined ||
          given.secretAccessKeyEnv !== undefined ||
          given.secretAccessKeyFile !== undefined
        ? 'accessKey'
        : 'default';
  return { type, ...given };
}
