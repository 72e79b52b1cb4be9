import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ExportRecord } from '../../src/domain/projection';
import { emulatorCreateArgs, runCli, succeeded } from '../support/cli';
import { decided } from '../support/destinations';
import { useKinesisFixture } from '../support/kinesisFixture';
import { readAllRecords } from '../support/kinesisStream';
import { processEnv, withWorker } from '../support/temporal';

const STREAM = 'e2e-controls';
const SECRET_ENV = 'E2E_CONTROLS_SECRET';

/** A member of seg-a with an ecid and a phone identity; `consent` at consents.share.val (absent: none). */
function profileLine(
  id: string,
  {
    consent,
    email = `${id}@example.com`,
    phone = '555-0100',
  }: Partial<Record<'consent' | 'email' | 'phone', string>> = {},
): string {
  return JSON.stringify({
    profileId: id,
    identityMap: { ecid: [{ id }], phone: [{ id: phone }] },
    person: { email },
    ...(consent !== undefined ? { consents: { share: { val: consent } } } : {}),
    segmentMembership: { ups: { 'seg-a': { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
  });
}

describe('export controls through the CLI: consent, triggers, identity namespaces, message ids', function () {
  this.timeout(300_000);
  const fx = useKinesisFixture('e2e-controls', { streams: { [STREAM]: 1 } });

  before(() => {
    process.env[SECRET_ENV] = 'secret';
  });

  it('exports only consenting profiles, on the chosen triggers, with the chosen identities, and an exit when consent goes', async () => {
    await withWorker(fx.store, async ({ client, temporal, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const cli = (...args: string[]) => runCli(args, env);
      const ingest = async (...lines: string[]) =>
        succeeded(await runCli(['ingest', '-'], env, lines.join('\n')), 'ingest');
      const records = async () =>
        (await readAllRecords(fx.kinesis, STREAM)).map((r) => JSON.parse(r.data) as ExportRecord);

      const created = await cli(
        ...emulatorCreateArgs({
          name: 'controls',
          stream: STREAM,
          endpoint: fx.emulator.endpoint,
          accessKeyId: 'AKIAE2EEXAMPLE0005',
          secretEnv: SECRET_ENV,
        }),
        '--consent',
        'consents.share.val=y',
        '--include-message-id',
        '--json',
      );
      const { id } = JSON.parse(succeeded(created, 'create')) as { id: string };
      succeeded(await cli('activate', id, '--segment', 'seg-a', '--attribute', 'person.email'), 'activate');
      succeeded(
        await cli('activate', id, '--on', 'segmentation,identity', '--identity-namespaces', 'ecid'),
        'activate --on',
      );
      const shown = succeeded(await cli('destination', 'show', id), 'show');
      assert.match(shown, /Triggers: +segmentation, identity\n/);
      assert.match(shown, /Consent: +consents\.share\.val is one of y\n/);

      await ingest(
        profileLine('p-yes', { consent: 'y' }),
        profileLine('p-no', { consent: 'n' }),
        profileLine('p-none'),
      );
      const first = await decided(client, id, 3);
      assert.deepEqual(first.counters.excludedByReason, { 'consent-refused': 1, 'consent-missing': 1 });
      assert.equal(first.counters.exported, 1);
      const [entry, ...rest] = await records();
      assert.equal(rest.length, 0);
      assert.deepEqual(entry?.identityMap, { ecid: [{ id: 'p-yes' }] }, 'phone is not let out');
      assert.deepEqual(entry?.person, { email: 'p-yes@example.com' });
      assert.equal(entry?.segmentMembership.ups['seg-a']?.status, 'realized');

      // With `attribute` off, a new email alone exports nothing; a change only in phone (left out) neither.
      await ingest(profileLine('p-yes', { consent: 'y', email: 'new@example.com' }));
      await decided(client, id, 4);
      await ingest(profileLine('p-yes', { consent: 'y', email: 'new@example.com', phone: '555-0199' }));
      const quiet = await decided(client, id, 5);
      assert.equal(quiet.counters.exported, 1);
      assert.equal(quiet.counters.skipped, 2);

      // Consent withdrawn: one exit, identities only; then nothing more.
      await ingest(profileLine('p-yes', { consent: 'n', email: 'new@example.com', phone: '555-0199' }));
      await decided(client, id, 6);
      const [, exit, ...after] = await records();
      assert.equal(after.length, 0);
      assert.deepEqual(exit?.segmentMembership.ups['seg-a']?.status, 'exited');
      assert.equal(exit?.person, undefined);
      assert.deepEqual(exit?.identityMap, { ecid: [{ id: 'p-yes' }] });
      assert.notEqual(exit?.messageId, entry?.messageId, 'each export its own message id');

      // Consent back: exported again as realized, with the email changed meanwhile.
      await ingest(profileLine('p-yes', { consent: 'y', email: 'new@example.com', phone: '555-0199' }));
      const back = await decided(client, id, 7);
      const all = await records();
      assert.equal(all.length, 3);
      assert.equal(all[2]?.segmentMembership.ups['seg-a']?.status, 'realized');
      assert.deepEqual(all[2]?.person, { email: 'new@example.com' });
      assert.equal(back.counters.exported, 3);
      assert.equal(new Set(all.map((r) => r.messageId)).size, 3);

      const status = JSON.parse(succeeded(await cli('status', id, '--json'), 'status')) as {
        counters: { excludedByReason: Record<string, number> };
      };
      assert.deepEqual(status.counters.excludedByReason, { 'consent-refused': 1, 'consent-missing': 1 });
    });
  });
});
