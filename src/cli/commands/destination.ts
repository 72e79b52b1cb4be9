import type { Command } from 'commander';
import { describeIdentityNamespaces, triggersOf } from '../../domain/activation';
import type { DestinationDeletion } from '../../client/activationClient';
import type { Activation } from '../../domain/activation';
import { destinationIdSchema, destinationSettingsSchema } from '../../domain/destination';
import type { DestinationSettings } from '../../domain/destination';
import { permissionCheckFailure } from '../../domain/permissionCheck';
import type { PermissionCheckResult } from '../../domain/permissionCheck';
import { parseInput } from '../../domain/validationError';
import { settingsFromFlags, withSettingsFlags } from '../settingsFlags';
import type { SettingsFlags } from '../settingsFlags';
import { EXIT } from '../exitCodes';
import { emit, fail } from '../output';
import { formatFields, formatTable } from '../table';
import { withClient, json } from '../context';

export function registerDestination(program: Command): void {
  const destination = program.command('destination').description('Kinesis destinations (connections)');
  withSettingsFlags(
    destination
      .command('create')
      .description(
        'create a destination and start its actor; prints the new id; exits 4 when its first permission check fails',
      ),
    'create',
  )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ export KINESIS_SECRET=...   # on the worker\n' +
        '  $ kinesis-activation destination create --name crm --region eu-west-1 --stream audiences ' +
        '--access-key-id AKIA... --secret-access-key-env KINESIS_SECRET\n' +
        '  $ kinesis-activation destination create --name crm --region us-east-1 --stream audiences ' +
        '--role-arn arn:aws:iam::123456789012:role/writer --external-id x1',
    )
    .option('--id <id>', 'destination id (default: a new UUID)')
    .action(async (opts: SettingsFlags, cmd: Command) => {
      const settings = settingsFromFlags(opts);
      // Bad input is reported before anything is contacted.
      parseInput(destinationSettingsSchema, settings, 'destination settings');
      if (opts.id) parseInput(destinationIdSchema, opts.id, 'destination id');
      const { id, failure } = await withClient(async (client) => {
        const created = await client.createDestination(settings, opts.id ? String(opts.id) : undefined);
        return { ...created, failure: await client.firstCheckFailure(created.id) };
      });
      // The destination exists either way: its id first, so a script can fix and `resume` it.
      emit(json(cmd), { id, permissionCheck: failure === undefined ? 'pending' : (failure ?? 'passed') }, id);
      if (failure) fail(`destination ${id} created, but its permission check failed: ${failure}`, EXIT.checkFailed);
    });

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
    .command('show <id>')
    .description('the settings (secret references, never values) and the mapping of a destination')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const row = await withClient((client) => client.describeDestination(id));
      emit(json(cmd), row, describeSettings(row.id, row.settings, row.activation));
    });

  withSettingsFlags(
    destination
      .command('update <id>')
      .description('change settings: only the flags given; checked by the destination before they apply'),
    'update',
  )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ kinesis-activation destination update $ID --stream audiences-v2\n' +
        "  $ kinesis-activation destination update $ID --no-include-segment-names --description 'CRM feed'",
    )
    .action(async (id: string, opts: SettingsFlags, cmd: Command) => {
      const updated = await withClient(async (client) => {
        const current = await client.describeDestination(id);
        const next = parseInput(
          destinationSettingsSchema,
          settingsFromFlags(opts, current.settings),
          'destination settings',
        );
        await client.configure(id, next);
        return { ...current, settings: next };
      });
      emit(json(cmd), updated, `updated ${id}\n${describeSettings(updated.id, updated.settings, updated.activation)}`);
    });

  destination
    .command('delete <id>')
    .description(
      'stop the actor once its running step finished, delete its schedule, ledger, dead letters and settings; ' +
        'refused while a re-export runs unless --force',
    )
    .option('--force', 'delete even while a re-export runs (it is abandoned)')
    .addHelpText('after', '\nExamples:\n  $ kinesis-activation destination delete $ID\n')
    .action(async (id: string, opts: { force?: boolean }, cmd: Command) => {
      const removed = await withClient((client) => client.deleteDestination(id, { force: opts.force === true }));
      emit(json(cmd), removed, describeDeletion(removed));
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

/** The settings as label-value lines; credentials show their mode and where the secret is read. */
function describeSettings(id: string, settings: DestinationSettings, activation: Activation | null): string {
  const c = settings.credentials;
  const credentials =
    c.type === 'accessKey'
      ? `access key ${c.accessKeyId}, secret from ` +
        `${c.secretAccessKeyEnv !== undefined ? `env ${c.secretAccessKeyEnv}` : `file ${c.secretAccessKeyFile ?? ''}`}`
      : c.type === 'assumeRole'
        ? `role ${c.roleArn}${c.externalId !== undefined ? ' (with external id)' : ''}`
        : "the worker's default chain";
  const o = settings.exportOptions;
  const fields: [string, string | undefined][] = [
    ['Destination', `${settings.name} (${id})`],
    ['Description', settings.description],
    ['Stream', `${settings.stream} (${settings.region})`],
    ['Endpoint', settings.endpoint],
    ['Credentials', credentials],
    [
      'Records',
      `segment names ${o.includeSegmentNames ? 'on' : 'off'}, ` +
        `timestamps ${o.includeSegmentTimestamps ? 'on' : 'off'}, ` +
        `message id ${o.includeMessageId ? 'on' : 'off'}, ` +
        `status style ${o.statusStyle}, ` +
        (settings.maxRecordBytes !== undefined
          ? `at most ${settings.maxRecordBytes} bytes`
          : "at most the stream's MaxRecordSizeInKiB (1 MiB when not known)"),
    ],
    ['Partition key', JSON.stringify(settings.partitionKey)],
    ['Consent', settings.consent && `${settings.consent.path} is one of ${settings.consent.allowed.join(', ')}`],
    [
      'Segments',
      activation?.segments.map((x) => (x.name !== undefined ? `${x.id}=${x.name}` : x.id)).join(', ') || 'none mapped',
    ],
    ['Attributes', activation?.attributes.join(', ') || 'none mapped'],
    ['Triggers', activation ? triggersOf(activation).join(', ') : undefined],
    ['Identity namespaces', activation ? describeIdentityNamespaces(activation.identityNamespaces) : undefined],
  ];
  return formatFields(fields.filter((f): f is [string, string] => f[1] !== undefined && f[1] !== ''));
}

/** One line per permission plus the stream, as `destination check` prints them. */
function permissionCheckLines(result: PermissionCheckResult): string[] {
  const mark = (verdict: string, ok: boolean): string => (ok ? 'ok' : verdict).padEnd(8);
  return [
    ...result.permissions.map(
      (p) => `${p.permission.padEnd(11)} ${mark(p.verdict, p.verdict === 'granted')} ${p.detail}`,
    ),
    `${'stream'.padEnd(11)} ${mark(result.streamVerdict, result.streamVerdict === 'exists')} ${result.streamDetail}`,
    ...(result.streamLimit
      ? [
          `${'record size'.padEnd(11)} ${mark(result.streamLimit.verdict, result.streamLimit.verdict === 'granted')} ${result.streamLimit.detail}`,
        ]
      : []),
  ];
}

/** What a delete removed, one line each. */
function describeDeletion(d: DestinationDeletion): string {
  const actor =
    d.actor.outcome === 'stopped'
      ? `stopped its actor ${d.actor.workflowId}` +
        (d.abandonedReexport === null ? '' : ` (abandoned re-export ${d.abandonedReexport})`)
      : d.actor.outcome === 'closed before'
        ? `its actor ${d.actor.workflowId} had ended already`
        : `it had no actor (${d.actor.workflowId})`;
  return [
    `deleted destination ${d.id}:`,
    `  ${actor}`,
    `  ${d.schedule === null ? 'it had no re-export schedule' : `deleted its re-export schedule ${d.schedule}`}`,
    `  removed ${d.ledgerEntries} ledger entries, ${d.deadLetters} dead letters` +
      `${d.storeRow ? ' and its settings' : ''} from the store`,
  ].join('\n');
}
