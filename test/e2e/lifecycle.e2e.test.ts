import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { DeadLetterReplayResult, DeadLetterSummary, DestinationDeletion } from '../../src/client/activationClient';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import type { DestinationSettings } from '../../src/domain/destination';
import { waitFor } from '../../src/embedded/waitFor';
import { emulatorCreateArgs, runCli, succeeded } from '../support/cli';
import { decided } from '../support/destinations';
import { useKinesisFixture } from '../support/kinesisFixture';
import { readAllRecords } from '../support/kinesisStream';
import { processEnv, withWorker } from '../support/temporal';

const STREAM = 'e2e-lifecycle';
const SECRET_ENV = 'E2E_LIFECYCLE_SECRET';

/** A profile of seg-a; `bio` (mapped) makes its record large, `note` (unmapped) changes nothing exported. */
function profileLine(id: string, bio = '', note = ''): string {
  return JSON.stringify({
    profileId: id,
    identityMap: { ecid: [{ id }] },
    person: { email: `${id}@example.com`, bio, note },
    segmentMembership: { ups: { 'seg-a': { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
  });
}

describe('dead letters and the destination lifecycle through the CLI', function () {
  this.timeout(300_000);
  const fx = useKinesisFixture('e2e-lifecycle', { streams: { [STREAM]: 1 } });

  before(() => {
    process.env[SECRET_ENV] = 'secret';
  });

  it('lists, replays after the limit was raised, and purges dead letters; delete leaves nothing of the destination', async () => {
    await withWorker(fx.store, async ({ client, temporal, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const cli = (...args: string[]) => runCli(args, env);
      const cliJson = async <T>(...args: string[]): Promise<T> =>
        JSON.parse(succeeded(await cli(...args, '--json'), args.join(' '))) as T;
      const ingest = async (...lines: string[]) =>
        succeeded(await runCli(['ingest', '-'], env, lines.join('\n')), 'ingest');
      const letters = () => cliJson<DeadLetterSummary[]>('deadletters', 'list', id);

      const { id } = await cliJson<{ id: string }>(
        ...emulatorCreateArgs({
          name: 'lifecycle',
          stream: STREAM,
          endpoint: fx.emulator.endpoint,
          accessKeyId: 'AKIAE2EEXAMPLE0003',
          secretEnv: SECRET_ENV,
        }),
        '--max-record-bytes',
        '1KiB',
      );
      succeeded(
        await cli('activate', id, '--segment', 'seg-a', '--attribute', 'person.email', '--attribute', 'person.bio'),
        'activate',
      );
      const big = 'b'.repeat(3000);
      await ingest(profileLine('p-1'), profileLine('p-2', big));
      await decided(client, id, 2);
      const [letter, ...others] = await letters();
      assert.deepEqual(others, []);
      assert.equal(letter?.profileId, 'p-2');
      assert.match(letter?.reason ?? '', /over the stream's maximum of 1024$/);
      assert.ok((letter?.bytes ?? 0) > 3000, `size ${letter?.bytes}`);
      assert.match(succeeded(await cli('deadletters', 'list', id), 'list'), /^PROFILE +REASON +WHEN +BYTES\np-2 /);

      // An unrelated change of the dead-lettered profile sends nothing and adds no letter.
      await ingest(profileLine('p-2', big, 'unmapped change'));
      await decided(client, id, 3);
      assert.equal((await letters()).length, 1);
      assert.equal((await readAllRecords(fx.kinesis, STREAM)).length, 1);

      // Replayed before the fix, it is refused again and stays; a profile without a letter is refused.
      const early = await cliJson<DeadLetterReplayResult>('deadletters', 'replay', id, 'p-2');
      assert.deepEqual([early.exported, early.deadLettered, early.remaining], [0, 1, 1]);
      const unknown = await cli('deadletters', 'replay', id, 'p-1');
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^kinesis-activation: profile p-1 has no dead letter at destination /);
      assert.equal(unknown.stderr.trim().split('\n').length, 1);

      // The limit raised (and the destination renamed), the replay delivers it.
      succeeded(
        await cli('destination', 'update', id, '--max-record-bytes', '1MiB', '--name', 'lifecycle-renamed'),
        'update',
      );
      const shown = await cliJson<{ settings: DestinationSettings }>('destination', 'show', id);
      assert.equal(shown.settings.maxRecordBytes, 1024 * 1024);
      const replayed = await cliJson<DeadLetterReplayResult>('deadletters', 'replay', id, '--all');
      assert.deepEqual([replayed.exported, replayed.deadLettered, replayed.remaining], [1, 0, 0]);
      assert.deepEqual(await letters(), []);
      const records = await readAllRecords(fx.kinesis, STREAM);
      assert.equal(records.length, 2);
      const sent = JSON.parse(records[1]?.data ?? '{}') as { person?: { bio?: string }; segmentMembership?: unknown };
      assert.equal(sent.person?.bio, big);
      assert.deepEqual(sent.segmentMembership, {
        ups: { 'seg-a': { lastQualificationTime: '2024-01-01T00:00:00Z', status: 'realized' } },
      });

      // Findable by name in the Web UI: the DestinationName search attribute followed the rename.
      await waitFor(
        async () =>
          (
            await temporal.env.client.workflow.count(
              `DestinationName = 'lifecycle-renamed' AND DestinationId = '${id}'`,
            )
          ).count === 1 || undefined,
        { timeoutMs: 20_000, what: 'DestinationName to follow the rename' },
      );

      // Purge.
      succeeded(await cli('destination', 'update', id, '--max-record-bytes', '1KiB'), 'update');
      await ingest(profileLine('p-3', big));
      await decided(client, id, 6);
      assert.deepEqual(await cliJson<{ purged: number }>('deadletters', 'purge', id), { id, purged: 1 });
      assert.deepEqual(await letters(), []);

      // Delete, with a schedule, ledger entries and a dead letter to remove.
      succeeded(await cli('schedule', 'set', id, '--every', '1h'), 'schedule set');
      await ingest(profileLine('p-4', big));
      await decided(client, id, 7);
      const deleted = await cliJson<DestinationDeletion>('destination', 'delete', id);
      assert.deepEqual(
        { ...deleted, actor: { ...deleted.actor, stoppedAt: null }, deletedAt: null },
        {
          id,
          actor: { workflowId: destinationWorkflowId(id), outcome: 'stopped', stoppedAt: null },
          abandonedReexport: null,
          schedule: `reexport-${id}`,
          ledgerEntries: 2,
          deadLetters: 1,
          storeRow: true,
          deletedAt: null,
        },
      );
      const actor = await temporal.env.client.workflow.getHandle(destinationWorkflowId(id)).describe();
      assert.equal(actor.status.name, 'COMPLETED', 'the actor ended itself');
      await assert.rejects(
        temporal.env.client.schedule.getHandle(`reexport-${id}`).describe(),
        (err) => err instanceof ScheduleNotFoundError,
      );
      assert.equal((await fx.store.readLedger(id, ['p-1', 'p-2', 'p-3', 'p-4'])).size, 0);
      assert.deepEqual(await fx.store.listDeadLetters(id), []);
      assert.equal(await fx.store.getDestination(id), undefined);
      const listed = await cliJson<{ id: string }[]>('destination', 'list');
      assert.ok(!listed.some((d) => d.id === id), 'destination list no longer shows it');

      // Every command refuses the deleted id with one line saying so.
      for (const args of [
        ['status', id],
        ['destination', 'show', id],
        ['destination', 'update', id, '--name', 'x'],
        ['destination', 'check', id],
        ['destination', 'delete', id],
        ['activate', id, '--segment', 'seg-a'],
        ['pause', id],
        ['resume', id],
        ['reexport', id],
        ['schedule', 'set', id, '--every', '1h'],
        ['schedule', 'list', id],
        ['schedule', 'trigger', id],
        ['schedule', 'delete', id],
        ['deadletters', 'list', id],
        ['deadletters', 'replay', id, '--all'],
        ['deadletters', 'purge', id],
      ]) {
        const refused = await cli(...args);
        assert.equal(refused.code, 1, `${args.join(' ')} was accepted: ${refused.stdout}`);
        assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
        assert.match(
          refused.stderr,
          new RegExp(`^kinesis-activation: no such destination: ${id} \\(deleted 20`),
          args[0],
        );
      }
    });
  });
});
