import assert from 'node:assert/strict';
import { join } from 'node:path';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import type { DestinationSettings } from '../../src/domain/destination';
import { waitFor } from '../../src/embedded/waitFor';
import { counters } from '../support/counters';
import { emulatorCreateArgs, runCli } from '../support/cli';
import { useKinesisFixture } from '../support/kinesisFixture';
import { createStream, readAllRecords } from '../support/kinesisStream';
import { processEnv, withWorker } from '../support/temporal';

const STREAM = 'e2e-options';

/** A profile of seg-a whose email identity becomes its partition key; `pad` makes its record large. */
function profileLine(n: number, pad = ''): string {
  return JSON.stringify({
    profileId: `opt-${n}`,
    identityMap: { ecid: [{ id: `${n}` }], email_lc_sha256: [{ id: `email-hash-${n}` }] },
    person: { email: `opt${n}@example.com`, note: pad },
    segmentMembership: { ups: { 'seg-a': { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
  });
}

describe('destination create --partition-key and --max-record-bytes through the CLI', function () {
  const fx = useKinesisFixture('e2e-options', { streams: { [STREAM]: 1 } });

  before(() => {
    process.env.E2E_OPTIONS_SECRET = 'secret';
  });

  it('keys records by the chosen identity and dead-letters records over the chosen size', async () => {
    await withWorker(fx.store, async ({ client, temporal, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const created = await runCli(
        [
          ...emulatorCreateArgs({
            name: 'options',
            stream: STREAM,
            endpoint: fx.emulator.endpoint,
            accessKeyId: 'AKIAE2EEXAMPLE0002',
            secretEnv: 'E2E_OPTIONS_SECRET',
          }),
          '--json',
          '--partition-key',
          'identity:email_lc_sha256',
          '--max-record-bytes',
          '2KiB',
        ],
        env,
      );
      assert.equal(created.code, 0, created.stderr);
      const { id } = JSON.parse(created.stdout) as { id: string };
      const activated = await runCli(
        ['activate', id, '--segment', 'seg-a', '--attribute', 'person.email', '--attribute', 'person.note'],
        env,
      );
      assert.equal(activated.code, 0, activated.stderr);

      const ingested = await runCli(
        ['ingest', '-'],
        env,
        [profileLine(1), profileLine(2, 'x'.repeat(3000)), profileLine(3)].join('\n'),
      );
      assert.equal(ingested.code, 0, ingested.stderr);
      const status = await waitFor(
        async () => {
          const s = await client.status(id);
          return s.state === 'idle' && s.counters.received === 3 ? s : undefined;
        },
        { timeoutMs: 30_000, what: 'the destination to decide the three profiles' },
      );
      assert.deepEqual(
        status.counters,
        counters({ received: 3, exported: 2, deadLettered: 1, deadLetteredByReason: { 'record-too-large': 1 } }),
      );
      const [dead] = await fx.store.listDeadLetters(id);
      assert.equal(dead?.profileId, 'opt-2');
      assert.match(dead?.reason ?? '', /over the stream's maximum of 2048$/);
      const records = await readAllRecords(fx.kinesis, STREAM);
      assert.deepEqual(records.map((r) => r.partitionKey).sort(), ['email-hash-1', 'email-hash-3']);
    });
  });

  it('rejects a bad --partition-key or --max-record-bytes with one line naming the option, and starts nothing', async () => {
    await withWorker(fx.store, async ({ temporal, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const cases: [string[], RegExp][] = [
        [['--partition-key', 'attribute:person..email'], /--partition-key .*path: must be a dotted XDM path/],
        [['--max-record-bytes', '20MiB'], /--max-record-bytes .*must be <= 10485760/],
      ];
      for (const [n, [args, reason]] of cases.entries()) {
        const id = `bad-option-${n}`;
        const result = await runCli(
          ['destination', 'create', '--name', 'x', '--region', 'us-east-1', '--stream', STREAM, '--id', id, ...args],
          env,
        );
        assert.equal(result.code, 1, `${args.join(' ')} was accepted`);
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
        assert.match(result.stderr, reason);
        assert.equal(
          (await temporal.env.client.workflow.count(`WorkflowId = '${destinationWorkflowId(id)}'`)).count,
          0,
        );
      }
    });
  });

  it('destination update changes only the flags given, checked first; destination show prints the result', async () => {
    await withWorker(fx.store, async ({ client, temporal, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      await createStream(fx.kinesis, `${STREAM}-v2`, 1);
      const base = [
        '--region',
        'us-east-1',
        '--endpoint',
        fx.emulator.endpoint,
        '--access-key-id',
        'AKIAE2EEXAMPLE0002',
      ];
      const created = await runCli(
        [
          'destination',
          'create',
          '--name',
          'before',
          '--stream',
          STREAM,
          ...base,
          '--secret-access-key-env',
          'E2E_OPTIONS_SECRET',
          '--include-segment-names',
          '--partition-key',
          'identity:ecid',
          '--json',
        ],
        env,
      );
      assert.equal(created.code, 0, created.stderr);
      const { id } = JSON.parse(created.stdout) as { id: string };
      const show = async (): Promise<DestinationSettings> => {
        const shown = await runCli(['destination', 'show', id, '--json'], env);
        assert.equal(shown.code, 0, shown.stderr);
        return (JSON.parse(shown.stdout) as { settings: DestinationSettings }).settings;
      };
      const before = await show();
      assert.equal(before.exportOptions.includeSegmentNames, true);
      assert.equal(before.exportOptions.includeMessageId, false);

      const updated = await runCli(
        [
          'destination',
          'update',
          id,
          '--name',
          'after',
          '--stream',
          `${STREAM}-v2`,
          '--no-include-segment-names',
          '--include-message-id',
        ],
        env,
      );
      assert.equal(updated.code, 0, updated.stderr);
      assert.match(updated.stdout, /^updated /);
      const after = await show();
      assert.deepEqual(after, {
        ...before,
        name: 'after',
        stream: `${STREAM}-v2`,
        exportOptions: { ...before.exportOptions, includeSegmentNames: false, includeMessageId: true },
      });
      const status = await client.status(id);
      assert.equal(status.name, 'after');
      assert.equal(status.stream, `${STREAM}-v2`);

      // Settings that fail the destination's check change nothing; bad flags are one line naming the field.
      for (const [args, reason] of [
        [['--stream', 'no-such-stream'], /no-such-stream/],
        [['--region', 'moon-1'], /^kinesis-activation: invalid destination settings: region: must be an AWS region/],
      ] as const) {
        const refused = await runCli(['destination', 'update', id, ...args], env);
        assert.equal(refused.code, 1, `${args.join(' ')} was accepted`);
        assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
        assert.match(refused.stderr, reason);
        assert.deepEqual(await show(), after);
      }
      const human = await runCli(['destination', 'show', id], env);
      assert.match(human.stdout, /Credentials: +access key AKIAE2EEXAMPLE0002, secret from env E2E_OPTIONS_SECRET/);
      assert.match(human.stdout, /Records: +segment names off, timestamps off, message id on, /);
      const unknown = await runCli(['destination', 'show', 'no-such-destination'], env);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no such destination: no-such-destination \(see `destination list`\)/);
    });
  });
});
