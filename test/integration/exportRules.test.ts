import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { KinesisConnections } from '../../src/kinesis/connections';
import type { Activities, ExportPageInput, ExportPageResult } from '../../src/activities/types';
import type { Activation } from '../../src/domain/activation';
import { changeKeySpecOf } from '../../src/domain/changeKey';
import { destinationSettingsSchema } from '../../src/domain/destination';
import type { DestinationSettings } from '../../src/domain/destination';
import type { ExportOptions } from '../../src/domain/exportOptions';
import { buildExportRecord } from '../../src/domain/exportRecord';
import { profileIdHash } from '../../src/domain/partitionKey';
import type { ProfileSnapshot } from '../../src/domain/profile';
import { startKinesisEmulator } from '../../src/embedded/kinesisEmulator';
import type { KinesisEmulator } from '../../src/embedded/kinesisEmulator';
import { createKinesisClient } from '../../src/kinesis/client';
import { openStore } from '../../src/store/openStore';
import type { Store } from '../../src/store/store';
import { diffRules } from '../fixtures/diffRules';
import { startKinesisFaultProxy } from '../support/kinesisFaultProxy';
import { createTestDatabase } from '../support/postgres';
import { createStream, readAllRecords } from '../support/kinesisStream';

const SECRET_ENV = 'EXPORT_RULES_KINESIS_SECRET';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
/** The failures these tests cause on purpose are asserted, not logged. */
const quietLogger = new DefaultLogger('ERROR');

/** Where each store under test lives: a fresh SQLite file or a fresh PostgreSQL database. */
const backends: { name: string; location(): Promise<string>; cleanup(): Promise<void> }[] = (() => {
  let dir: string | undefined;
  return [
    {
      name: 'SQLite',
      async location() {
        dir = await mkdtemp(join(tmpdir(), 'ka-rules-'));
        return join(dir, 'store.sqlite');
      },
      async cleanup() {
        if (dir) await rm(dir, { recursive: true, force: true });
      },
    },
    { name: 'PostgreSQL', location: createTestDatabase, cleanup: () => Promise.resolve() },
  ];
})();

function settingsFor(endpoint: string, stream: string, exportOptions: ExportOptions): DestinationSettings {
  return destinationSettingsSchema.parse({
    name: 'export rules',
    region: 'us-east-1',
    stream,
    endpoint,
    credentials: { type: 'accessKey', accessKeyId: 'AKIARULESEXAMPLE01', secretAccessKeyEnv: SECRET_ENV },
    exportOptions,
  });
}

/**
 * The rule table of test/fixtures/diffRules.ts through the real export path: the ledger and the
 * snapshots in a real store, the export activity run with a real activity Context, records put to
 * a real Kinesis emulator and read back from the stream.
 */
for (const backend of backends) {
  describe(`export rules through the export activity on ${backend.name}`, function () {
    let emulator: KinesisEmulator;
    let kinesis: KinesisClient;
    let store: Store;
    let writers: KinesisConnections;
    let activities: Activities;

    before(async () => {
      process.env[SECRET_ENV] = 'emulator-accepts-any-secret';
      emulator = await startKinesisEmulator();
      kinesis = createKinesisClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials });
      store = await openStore(await backend.location());
      writers = new KinesisConnections();
      activities = createActivities({ store, writers });
    });

    after(async () => {
      writers.close();
      kinesis.destroy();
      await store.close();
      await emulator.stop();
      await backend.cleanup();
    });

    /** The worker's export activity, run with a real activity Context outside a worker. */
    const runExportPage = (input: ExportPageInput): Promise<ExportPageResult> =>
      new MockActivityEnvironment(undefined, { logger: quietLogger }).run<
        [ExportPageInput],
        ExportPageResult,
        Activities['exportPage']
      >((i) => activities.exportPage(i), input);

    /** Writes the snapshots (older first) and runs one export page over them. */
    async function exportSnapshots(
      destinationId: string,
      settings: DestinationSettings,
      activation: Activation,
      writes: { profileId: string; snapshot: ProfileSnapshot }[],
    ) {
      const afterSeq = await store.maxSeq();
      for (const write of writes) await store.upsertProfiles([write]);
      return runExportPage({ destinationId, settings, activation, afterSeq, pageSize: 100 });
    }

    diffRules.forEach((c, i) => {
      it(c.rule, async () => {
        const destinationId = `rule-${i}`;
        const profileId = `profile-${i}`;
        const stream = `rule-${i}`;
        await createStream(kinesis, stream, 1);
        const settings = settingsFor(emulator.endpoint, stream, c.options);
        // Activated as the workflow does it, so profile writes keep the destination's change keys.
        await store.saveDestination({ id: destinationId, settings, activation: c.activation });
        if (c.previous !== null) await store.writeLedger(destinationId, [{ profileId, projection: c.previous }]);

        const writes = [...(c.waiting ?? []), c.snapshot].map((snapshot) => ({ profileId, snapshot }));
        const result = await exportSnapshots(destinationId, settings, c.activation, writes);
        const exported = c.expected === null ? 0 : 1;
        assert.deepEqual(
          {
            decided: result.decided,
            exported: result.exported,
            skipped: result.skipped,
            deadLettered: result.deadLettered,
            more: result.more,
          },
          { decided: 1, exported, skipped: 1 - exported, deadLettered: 0, more: false },
          'waiting changes of one profile are decided once',
        );

        const records = await readAllRecords(kinesis, stream);
        const ledger = (await store.readLedger(destinationId, [profileId])).get(profileId);
        if (c.expected === null) {
          assert.deepEqual(records, [], 'no record');
          assert.deepEqual(ledger, c.previous ?? undefined, 'the ledger is unchanged');
          return;
        }
        assert.equal(records.length, 1, 'exactly one record');
        assert.equal(records[0]?.partitionKey, profileIdHash(profileId));
        // Byte for byte: key order is part of the format.
        assert.equal(records[0]?.data, JSON.stringify(c.expected));
        assert.ok(ledger, 'the ledger holds the export');
        assert.equal(
          JSON.stringify(buildExportRecord(ledger, c.activation, c.options)),
          JSON.stringify(c.expected),
          'the ledger holds what was sent',
        );

        // The same state again, as a later change that touched nothing mapped: the stored ledger
        // makes it a skip, by its change key (the snapshot is not even read).
        const beforeAgain = await store.maxSeq();
        const again = await exportSnapshots(destinationId, settings, c.activation, [
          { profileId, snapshot: c.snapshot },
        ]);
        assert.deepEqual({ exported: again.exported, skipped: again.skipped }, { exported: 0, skipped: 1 });
        const view = { destinationId, changeKey: changeKeySpecOf(c.activation), skipUnchanged: true };
        assert.deepEqual(
          (await store.readExportCandidates(view, { afterSeq: beforeAgain, limit: 10 })).map((r) => r.snapshot),
          [null],
        );
        assert.equal((await readAllRecords(kinesis, stream)).length, 1, 'nothing sent again');
      });
    });

    it('writes no ledger entry for records Kinesis never acknowledged', async () => {
      const proxy = await startKinesisFaultProxy(emulator.endpoint, { accessDenied: ['PutRecords'] });
      try {
        const stream = 'refused';
        await createStream(kinesis, stream, 1);
        const activation: Activation = { segments: [{ id: 'seg' }], attributes: ['person.email'] };
        const profileIds = ['refused-1', 'refused-2', 'refused-3'];
        const snapshot = (id: string): ProfileSnapshot => ({
          identityMap: { ecid: [{ id }] },
          person: { email: `${id}@example.com` },
          segmentMembership: { ups: { seg: { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
        });
        const settings = settingsFor(proxy.endpoint, stream, {
          includeSegmentNames: false,
          includeSegmentTimestamps: false,
          statusStyle: 'existing',
        });
        const failed = await exportSnapshots(
          'refused',
          settings,
          activation,
          profileIds.map((profileId) => ({ profileId, snapshot: snapshot(profileId) })),
        ).then(
          () => assert.fail('the export must fail'),
          (err: unknown) => err,
        );
        assert.ok(failed instanceof ApplicationFailure, String(failed));
        assert.equal(failed.type, 'AccessDeniedException');
        assert.equal(failed.nonRetryable, true);
        assert.equal((await store.readLedger('refused', profileIds)).size, 0);
        assert.deepEqual(await readAllRecords(kinesis, stream), []);

        // Once Kinesis takes them, the same profiles go out and are recorded.
        proxy.reset();
        const afterSeq = (await store.maxSeq()) - profileIds.length;
        const result = await runExportPage({ destinationId: 'refused', settings, activation, afterSeq, pageSize: 100 });
        assert.equal(result.exported, 3);
        assert.deepEqual([...(await store.readLedger('refused', profileIds)).keys()].sort(), profileIds);
        assert.equal((await readAllRecords(kinesis, stream)).length, 3);
      } finally {
        await proxy.stop();
      }
    });
  });
}
