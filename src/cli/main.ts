import { Command, Option } from 'commander';
import { ActivationClient } from '../client/activationClient';
import { startCodecServer, DEFAULT_UI_ORIGINS } from '../codec/codecServer';
import { EncryptionCodec } from '../codec/encryptionCodec';
import { CODEC_KEY_ENV, CODEC_KEY_FILE_ENV, keyringFromEnv } from '../codec/keyring';
import { databaseUrlFromEnv, temporalConfigFromEnv } from '../config';
import { destinationIdSchema, destinationSettingsSchema } from '../domain/destination';
import type { DestinationSettingsInput } from '../domain/destination';
import type { PartitionKeyStrategy } from '../domain/partitionKeyStrategy';
import { permissionCheckFailure, permissionCheckLines } from '../domain/permissionCheck';
import { parseInput } from '../domain/validationError';
import { startDevStack } from '../embedded/devStack';
import { openStore } from '../store/openStore';
import { createKinesisClient } from '../kinesis/client';
import { readAllRecords } from '../kinesis/streamReader';
import { startWorkerProcess } from '../workerProcess';
import type { ReexportScheduleInfo } from '../client/reexportSchedules';
import { parseMaxRecordBytesOption, parsePartitionKeyOption } from './destinationOptions';
import { describeError } from './errors';
import { openIngestSource } from './ingestProgress';
import { emit, fail } from './output';
import { formatFields, formatTable } from './table';
import { describeReexportProgress, reexportProgressReporter } from './reexportProgress';

const temporal = temporalConfigFromEnv();

interface GlobalOptions {
  json?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Runs a command with a client and store, closing both, and reports failures as one line. */
async function withClient<T>(fn: (client: ActivationClient) => Promise<T>): Promise<T> {
  const store = await openStore(databaseUrlFromEnv());
  let client: ActivationClient | undefined;
  try {
    client = await ActivationClient.connect(temporal, store);
    return await fn(client);
  } finally {
    await client?.close();
    await store.close();
  }
}

function json(cmd: Command): boolean {
  return Boolean(cmd.optsWithGlobals<GlobalOptions>().json);
}

const program = new Command('kinesis-activation')
  .description('Stream profile segment exports to Amazon Kinesis, durably, on Temporal.')
  .option('--json', 'machine-readable output')
  // Usage errors stay on one line, as every failure does; --help has the rest.
  .configureOutput({
    outputError: (str, write) =>
      write(
        `kinesis-activation: ${str
          .trim()
          .split('\n')[0]
          ?.replace(/^error: /, '')} (see --help)\n`,
      ),
  });

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
      },
      cmd: Command,
    ) => {
      // The emulator accepts any secret; destinations created from the walk-through reference this one.
      process.env.KINESIS_SECRET ??= 'local';
      const stack = await startDevStack({
        dataDir: opts.dataDir,
        temporalPort: Number(opts.temporalPort),
        uiPort: Number(opts.uiPort),
        kinesisPort: Number(opts.kinesisPort),
        stream: opts.stream,
        shards: Number(opts.shards),
        metricsPort: Number(opts.metricsPort),
      });
      const info = {
        temporalAddress: stack.temporalAddress,
        temporalUi: stack.uiUrl,
        kinesisEndpoint: stack.kinesisEndpoint,
        stream: stack.stream,
        databaseUrl: stack.databaseUrl,
        metricsUrl: stack.metricsUrl ?? null,
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
          ...(stack.codecEndpoint
            ? [`  Codec endpoint:  ${stack.codecEndpoint} (payloads are encrypted; the Web UI decrypts through it)`]
            : []),
          '',
          'Try, in another terminal:',
          `  ./bin/kinesis-activation destination create --name demo --region us-east-1 --stream ${stack.stream} --endpoint ${stack.kinesisEndpoint} --access-key-id AKIALOCALEXAMPLE01 --secret-access-key-env KINESIS_SECRET`,
        ].join('\n'),
      );
      const stop = (): void => void stack.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await stack.running;
    },
  );

program
  .command('worker')
  .description('the worker alone, against TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE and the store in DATABASE_URL')
  .addHelpText(
    'after',
    `\nExamples:\n  $ TEMPORAL_ADDRESS=temporal:7233 DATABASE_URL=postgres://u:p@db/activation kinesis-activation worker\n  $ TEMPORAL_ADDRESS=ns.acct.tmprl.cloud:7233 TEMPORAL_NAMESPACE=ns.acct TEMPORAL_API_KEY=... kinesis-activation worker`,
  )
  .option('--metrics-port <port>', 'Prometheus metrics endpoint port', process.env.METRICS_PORT ?? '9464')
  .action(async (opts: { metricsPort: string }) => {
    const store = await openStore(databaseUrlFromEnv());
    const worker = await startWorkerProcess({ temporal, store, metricsPort: Number(opts.metricsPort) });
    const stop = (): void => void worker.shutdown();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await worker.running;
    } finally {
      await store.close();
    }
  });

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

program
  .command('activate <id>')
  .description('map segments and attributes to a destination; current members are exported')
  .addHelpText(
    'after',
    `\nExamples:\n  $ kinesis-activation activate $ID --segment 'seg-1=High propensity' --segment seg-2 --attribute person.email`,
  )
  .requiredOption('--segment <SEG[=NAME]>', 'segment id, optionally with its name (repeat)', collect, [])
  .option('--attribute <PATH>', 'XDM attribute path such as person.email (repeat)', collect, [])
  .action(async (id: string, opts: { segment: string[]; attribute: string[] }, cmd: Command) => {
    const now = Date.now();
    const segments = opts.segment.map((spec) => {
      const [segmentId = '', ...name] = spec.split('=');
      return {
        id: segmentId,
        ...(name.length ? { name: name.join('=') } : {}),
        mappingCreatedAt: now,
        mappingUpdatedAt: now,
      };
    });
    const status = await withClient((client) => client.activate(id, { segments, attributes: opts.attribute }));
    emit(
      json(cmd),
      status,
      `activated ${segments.length} segment(s) and ${opts.attribute.length} attribute(s) on ${id}`,
    );
  });

program
  .command('ingest <file>')
  .description('NDJSON profile snapshots from FILE or - (stdin); prints accepted and rejected counts')
  .addHelpText(
    'after',
    '\nExamples:\n  $ kinesis-activation ingest examples/profiles.ndjson\n  $ cat profiles.ndjson | kinesis-activation ingest - --json',
  )
  .action(async (file: string, _opts: unknown, cmd: Command) => {
    const source = openIngestSource(file, !json(cmd));
    const result = await withClient((client) => client.ingest(source.input)).finally(() => source.done());
    const lines = [
      `accepted ${result.accepted}, rejected ${result.rejected.length}`,
      ...result.rejected.map((r) => `line ${r.line}: ${r.reason}`),
    ];
    emit(
      json(cmd),
      { accepted: result.accepted, rejected: result.rejected, notified: result.notified },
      lines.join('\n'),
    );
  });

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

program
  .command('status <id>')
  .description("a destination's state, pending profiles, counters and last error")
  .addHelpText(
    'after',
    `\nExamples:\n  $ kinesis-activation status $ID\n  $ kinesis-activation status $ID --json | jq .counters`,
  )
  .action(async (id: string, _opts: unknown, cmd: Command) => {
    const status = await withClient((client) => client.status(id));
    const c = status.counters;
    const last = status.recentReexports[0];
    const fields: [string, string | false | null | undefined][] = [
      ['Destination', `${status.name} (${status.destinationId})`],
      ['Stream', status.stream],
      ['State', status.state],
      ['Pending', String(status.pending)],
      [
        'Counters',
        `received ${c.received}, exported ${c.exported}, skipped ${c.skipped}, dead-lettered ${c.deadLettered}`,
      ],
      [
        'Re-export',
        status.reexport && `running ${status.reexport.trigger} ${describeReexportProgress(status.reexport)}`,
      ],
      ['Last re-export', last && `${describeReexportProgress(last)}, finished ${last.finishedAt}`],
      ['Last error', status.lastError],
      [
        'Next retry',
        status.nextRetryAt &&
          `${status.nextRetryAt} (after ${status.failedAttempts} failed attempts), or at once on resume`,
      ],
      [
        'Permissions',
        status.permissions &&
          `${status.permissions.permissions.map((p) => `${p.permission} ${p.verdict}`).join(', ')}; stream ${status.permissions.streamVerdict} (checked ${status.permissions.checkedAt})`,
      ],
    ];
    emit(json(cmd), status, formatFields(fields.filter((f): f is [string, string] => Boolean(f[1]))));
  });

program
  .command('reexport <id>')
  .description('re-send every member of the mapped segments (diff rules apply unless --force)')
  .option('--wait', 'wait until it finished, showing progress on stderr')
  .option('--force', 'send every current member, also those unchanged since their last export')
  .action(async (id: string, opts: { wait?: boolean; force?: boolean }, cmd: Command) => {
    const result = await withClient(async (client) => {
      const started = await client.reexport(id, { force: opts.force === true });
      if (!opts.wait) return started;
      const reporter = reexportProgressReporter(process.stderr);
      try {
        return await client.waitForReexport(id, started.id, { onProgress: (p) => reporter.update(p) });
      } finally {
        reporter.stop();
      }
    });
    const human = result.finishedAt
      ? `${describeReexportProgress(result)}, ${result.profilesSkipped} skipped, ${result.deadLettered} dead-lettered: finished`
      : `re-export ${result.id} of ${id} started${result.force ? ' (forced)' : ''}; follow it with \`status ${id}\``;
    emit(json(cmd), result, human);
  });

function describeSchedule(info: ReexportScheduleInfo): string {
  const next = info.paused ? `paused${info.note ? ` (${info.note})` : ''}` : `next run ${info.nextRuns[0] ?? 'none'}`;
  const last = info.recentRuns[info.recentRuns.length - 1];
  return `${info.destinationId}: ${info.force ? 'forced ' : ''}re-export ${info.schedule}, ${next}; ${info.runsTaken} run(s)${last ? `, last ${last.takenAt}` : ''}, ${info.skippedForOverlap} skipped while one was running`;
}

program
  .command('schedule [id]')
  .description(
    'scheduled re-exports of a destination (Temporal Schedules; a run that comes due while one is going is skipped)',
  )
  .option('--every <duration>', 'run every DURATION, such as 30s, 15m, 6h or 1d')
  .option('--cron <expr>', "run by cron, such as '0 3 * * *' (UTC) or @daily")
  .option('--force', 'scheduled runs send every current member (with --every or --cron)')
  .option('--delete', 'delete the schedule')
  .option('--list', "show the destination's schedule (without ID: every destination's)")
  .option('--pause', 'pause the schedule')
  .option('--unpause', 'unpause the schedule')
  .option('--trigger', 'run it now (skipped while a scheduled run is going)')
  .action(
    async (
      id: string | undefined,
      opts: {
        every?: string;
        cron?: string;
        force?: boolean;
        delete?: boolean;
        list?: boolean;
        pause?: boolean;
        unpause?: boolean;
        trigger?: boolean;
      },
      cmd: Command,
    ) => {
      const set = opts.every !== undefined || opts.cron !== undefined;
      const chosen = [set, opts.delete, opts.list, opts.pause, opts.unpause, opts.trigger].filter(Boolean).length;
      if (chosen !== 1)
        fail('schedule: give one of --every DURATION / --cron EXPR, --delete, --list, --pause, --unpause or --trigger');
      if (opts.force && !set) fail('schedule: --force goes with --every or --cron');
      if (opts.list && id === undefined) {
        const all = await withClient((client) => client.schedules.list());
        emit(json(cmd), all, all.length === 0 ? 'no re-export schedules' : all.map(describeSchedule).join('\n'));
        return;
      }
      if (id === undefined) fail('schedule: missing destination ID');
      await withClient(async (client) => {
        const schedules = client.schedules;
        if (set) {
          const info = await schedules.set(id, { every: opts.every, cron: opts.cron, force: opts.force });
          emit(json(cmd), info, describeSchedule(info));
        } else if (opts.list) {
          const info = await schedules.describe(id);
          emit(json(cmd), info, describeSchedule(info));
        } else if (opts.delete) {
          await schedules.delete(id);
          emit(json(cmd), { id, deleted: true }, `deleted the re-export schedule of ${id}`);
        } else if (opts.pause) {
          await schedules.pause(id);
          emit(json(cmd), { id, paused: true }, `paused the re-export schedule of ${id}`);
        } else if (opts.unpause) {
          await schedules.unpause(id);
          emit(json(cmd), { id, paused: false }, `unpaused the re-export schedule of ${id}`);
        } else {
          await schedules.trigger(id);
          emit(json(cmd), { id, triggered: true }, `triggered a re-export of ${id} by its schedule`);
        }
      });
    },
  );

for (const [name, what] of [
  ['pause', 'stop exporting until resumed'],
  ['resume', 'resume exporting (also clears an error)'],
] as const) {
  program
    .command(`${name} <id>`)
    .description(what)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withClient((client) => (name === 'pause' ? client.pause(id) : client.resume(id)));
      emit(json(cmd), { id, [name === 'pause' ? 'paused' : 'resumed']: true }, `${name}d ${id}`);
    });
}

program
  .command('codec-server')
  .description(
    `decrypts payloads for the Temporal Web UI (its codec endpoint), with the keys in ${CODEC_KEY_ENV} or ${CODEC_KEY_FILE_ENV}`,
  )
  .option('--port <port>', 'port to listen on', '8888')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option(
    '--allow-origin <origin>',
    `Web UI origin allowed to call it (repeat; default ${DEFAULT_UI_ORIGINS.join(', ')})`,
    collect,
    [],
  )
  .action(async (opts: { port: string; host: string; allowOrigin: string[] }, cmd: Command) => {
    const keyring = keyringFromEnv();
    if (!keyring) fail(`no codec key: set ${CODEC_KEY_ENV} or ${CODEC_KEY_FILE_ENV}`);
    const port = Number(opts.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port: must be a port number (0-65535)');
    const server = await startCodecServer({
      codec: new EncryptionCodec(keyring),
      port,
      host: opts.host,
      ...(opts.allowOrigin.length > 0 ? { allowedOrigins: opts.allowOrigin } : {}),
    });
    emit(
      json(cmd),
      { url: server.url, keyIds: [...keyring.byId.keys()] },
      `codec endpoint ${server.url} (keys ${[...keyring.byId.keys()].join(', ')}); set it in the Web UI's codec settings or start the dev server with --ui-codec-endpoint ${server.url}`,
    );
    const stop = (): void => void server.stop().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

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

program.parseAsync(process.argv).catch((err: unknown) => fail(describeError(err, temporal)));
