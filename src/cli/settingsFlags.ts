import { Option } from 'commander';
import type { Command } from 'commander';
import type { DestinationSettings, DestinationSettingsInput } from '../domain/destination';
import type { PartitionKeyStrategy } from '../domain/partitionKeyStrategy';
import type { ConsentRule } from '../domain/consent';
import { parseConsentOption, parseMaxRecordBytesOption, parsePartitionKeyOption } from './destinationOptions';

/** The destination-settings flags as commander parses them. */
export type SettingsFlags = Record<string, string | boolean | undefined> & {
  partitionKey?: PartitionKeyStrategy;
  maxRecordBytes?: number;
  /** false: `--no-consent` (update), the rule is dropped. */
  consent?: ConsentRule | false;
};

const CREDENTIAL_FLAGS = [
  'accessKeyId',
  'secretAccessKeyEnv',
  'secretAccessKeyFile',
  'roleArn',
  'externalId',
  'sessionName',
  'stsEndpoint',
] as const;

/**
 * Adds the settings flags shared by `destination create` and `destination update`. Create needs
 * name, region and stream; update changes only what it is given, so its toggles also take a
 * `--no-` form and nothing has a default.
 */
export function withSettingsFlags(cmd: Command, mode: 'create' | 'update'): Command {
  const create = mode === 'create';
  const toggle = (flag: string, help: string): void => {
    cmd.option(`--${flag}`, help);
    if (!create) cmd.option(`--no-${flag}`, `do not ${help}`);
  };
  const named = (flag: string, help: string): void =>
    void (create ? cmd.requiredOption(flag, help) : cmd.option(flag, help));
  named('--name <name>', 'connection name');
  named('--region <region>', 'AWS region, e.g. us-east-1');
  named('--stream <stream>', 'an existing Kinesis data stream');
  cmd
    .option('--description <text>', 'connection description')
    .option('--endpoint <url>', 'Kinesis endpoint override (local emulators)')
    .option('--access-key-id <id>', 'AWS access key id')
    .option('--secret-access-key-env <VAR>', 'environment variable on the worker that holds the secret access key')
    .option('--secret-access-key-file <path>', 'file on the worker that holds the secret access key')
    .option('--role-arn <arn>', 'IAM role the worker assumes (instead of an access key)')
    .option('--external-id <id>', 'external id the role requires')
    .option('--session-name <name>', 'session name of the assumed role (shows in CloudTrail)')
    .option('--sts-endpoint <url>', 'STS endpoint override for the role (VPC endpoint, local emulator)');
  toggle('include-segment-names', 'add segment names to records');
  toggle('include-segment-timestamps', 'add segment and mapping timestamps to records');
  toggle('include-message-id', 'add messageId to records: the same on a resend, new for each export');
  const statusStyle = new Option('--status-style <style>', 'status of members already exported').choices([
    'existing',
    'realized',
  ]);
  cmd
    .addOption(create ? statusStyle.default('existing') : statusStyle)
    .option(
      '--partition-key <strategy>',
      'hash (of the profile id; default), identity:NAMESPACE or attribute:XDM.PATH',
      parsePartitionKeyOption,
    )
    .option(
      '--consent <XDM.PATH=VALUES>',
      'export only profiles whose value at the path is one of these, comma-separated (e.g. consents.share.val=y)',
      parseConsentOption,
    )
    .option(
      '--max-record-bytes <n>',
      'largest record the stream takes, e.g. 1MiB (default); streams that opted in take up to 10MiB',
      parseMaxRecordBytesOption,
    );
  // After --consent: defined first, commander would make the rule `true` by default.
  if (!create) cmd.option('--no-consent', 'drop the consent rule: every profile may be exported');
  return cmd;
}

/**
 * The settings the flags describe, over `base` (update: the current settings; create: none).
 * Credentials flags replace the credentials as a whole, so no reference of the old mode lingers.
 */
export function settingsFromFlags(opts: SettingsFlags, base?: DestinationSettings): DestinationSettingsInput {
  const text = (key: string): string | undefined => (opts[key] === undefined ? undefined : String(opts[key]));
  const toggle = (key: string, current: boolean | undefined): boolean =>
    opts[key] === undefined ? (current ?? false) : Boolean(opts[key]);
  const exportOptions = base?.exportOptions;
  const description = text('description') ?? base?.description;
  const endpoint = text('endpoint') ?? base?.endpoint;
  const givenCredentials = CREDENTIAL_FLAGS.some((flag) => opts[flag] !== undefined);
  const consent = opts.consent === false ? undefined : (opts.consent ?? base?.consent);
  return {
    name: text('name') ?? base?.name ?? '',
    region: text('region') ?? base?.region ?? '',
    stream: text('stream') ?? base?.stream ?? '',
    ...(description !== undefined ? { description } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
    credentials:
      givenCredentials || base === undefined
        ? (credentialsFromFlags(opts) as DestinationSettingsInput['credentials'])
        : base.credentials,
    exportOptions: {
      ...exportOptions,
      includeSegmentNames: toggle('includeSegmentNames', exportOptions?.includeSegmentNames),
      includeSegmentTimestamps: toggle('includeSegmentTimestamps', exportOptions?.includeSegmentTimestamps),
      statusStyle: (text('statusStyle') ?? exportOptions?.statusStyle) === 'realized' ? 'realized' : 'existing',
      includeMessageId: toggle('includeMessageId', exportOptions?.includeMessageId),
    },
    ...(consent !== undefined ? { consent } : {}),
    ...((opts.partitionKey ?? base?.partitionKey) ? { partitionKey: opts.partitionKey ?? base?.partitionKey } : {}),
    ...((opts.maxRecordBytes ?? base?.maxRecordBytes) !== undefined
      ? { maxRecordBytes: opts.maxRecordBytes ?? base?.maxRecordBytes }
      : {}),
  };
}

/**
 * The credentials reference the flags describe. Flags of another mode are kept, so validation
 * names them (`credentials.externalId: is not a known field`) instead of dropping them.
 */
function credentialsFromFlags(opts: SettingsFlags): Record<string, string> {
  const given = Object.fromEntries(
    CREDENTIAL_FLAGS.filter((f) => opts[f] !== undefined).map((f) => [f, String(opts[f])]),
  );
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
