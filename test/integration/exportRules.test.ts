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
import type {
  Activities,
  ExportPageInput,
  ExportPageResult,
  ReexportPageInput,
  ReexportPageResult,
  ReplayPageInput,
  ReplayPageResult,
} from '../../src/activities/types';
import type { Activation } from '../../src/domain/activation';
import { consentExclusion } from '../../src/domain/consent';
import type { ConsentRule } from '../../src/domain/consent';
import { destinationSettingsSchema } from '../../src/domain/destination';
import type { DestinationSettings } from '../../src/domain/destination';
import type { ExportOptions } from '../../src/domain/exportOptions';
import { buildExportRecord } from '../../src/domain/exportRecord';
import { profileIdHash } from '../../src/domain/partitionKey';
import type { ProfileSnapshot } from '../../src/domain/profile';
import type { ExportRecord } from '../../src/domain/projection';
import { startKinesisEmulator } from '../../src/embedded/kinesisEmulator';
import type { KinesisEmulator } from '../../src/embedded/kinesisEmulator';
import { createKinesisClient } from '../../src/kinesis/client';
import { ActivationMetrics } from '../../src/observability/metrics';
import { openStore } from '../../src/store/openStore';
import type { Store } from '../../src/store/store';
import { diffRules } from '../fixtures/diffRules';
import type { DiffCase } from '../fixtures/diffRules';
import { startKinesisFaultProxy } from '../support/kinesisFaultProxy';
import { createTestDatabase } from '../support/postgres';
import { createStream, readAllRecords } from '../support/kinesisStream';

const SECRET_ENV = 'EXPORT_RULES_KINESIS_SECRET';

/** The fields of an export record these tests read. */
interface ExportRecordShape {
  person: { bio?: string };
  segmentMembership: { ups: Record<string, { status: string } | undefined> };
}
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

/** Export options with nothing optional in the records. */
const PLAIN: ExportOptions = {
  includeSegmentNames: false,
  includeSegmentTimestamps: false,
  statusStyle: 'existing',
  includeMessageId: false,
};

function settingsFor(
  endpoint: string,
  stream: string,
  exportOptions: ExportOptions,
  consent?: ConsentRule,
): DestinationSettings {
  return destinationSettingsSchema.parse({
    name: 'export rules',
    region: 'us-east-1',
    stream,
    endpoint,
    credentials: { type: 'accessKey', accessKeyId: 'AKIARULESEXAMPLE01', secretAccessKeyEnv: SECRET_ENV },
    exportOptions,
    consent,
  });
}

/**
 * Whether a rule's profile is routed to the destination, as the store routes changes: it is now a
 * member of a mapped segment, or the destination's ledger holds it and it was a member of a mapped
 * segment in a write since (the store keeps the segments a profile left as exits).
 */
function concerns(c: DiffCase): boolean {
  const mapped = new Set(c.activation.segments.map((s) => s.id));
  const memberOfMapped = (ups: Record<string, { status: string }> | undefined): boolean =>
    Object.entries(ups ?? {}).some(([id, { status }]) => mapped.has(id) && status !== 'exited');
  if (memberOfMapped(c.snapshot.segmentMembership?.ups)) return true;
  if (c.previous === null) return false;
  return [c.previous.segments, ...(c.waiting ?? []).map((w) => w.segmentMembership?.ups)].some(memberOfMapped);
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

    /** Profiles with an email, each a realized member of `segment`, written in one call. */
    const storeMembers = (profileIds: string[], segment: string) =>
      store.upsertProfiles(
        profileIds.map((profileId) => ({
          profileId,
          snapshot: {
            identityMap: { ecid: [{ id: profileId }] },
            person: { email: `${profileId}@example.com` },
            segmentMembership: {
              ups: { [segment]: { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } },
            },
          },
        })),
      );

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
      const cursor = await store.head();
      for (const write of writes) await store.upsertProfiles([write]);
      return runExportPage({ destinationId, settings, activation, cursor, pageSize: 100 });
    }

    diffRules.forEach((c, i) => {
      it(c.rule, async () => {
        const destinationId = `rule-${i}`;
        const profileId = `profile-${i}`;
        const stream = `rule-${i}`;
        await createStream(kinesis, stream, 1);
        const settings = settingsFor(emulator.endpoint, stream, c.options, c.consent);
        await store.saveDestination({ id: destinationId, settings, activation: c.activation });
        if (c.previous !== null) {
          // The ledger holds what was exported from the store: the profile as it was then.
          await store.upsertProfiles([
            { profileId, snapshot: { profileId, identityMap: {}, segmentMembership: { ups: c.previous.segments } } },
          ]);
          await store.writeLedger(destinationId, [{ profileId, projection: c.previous }]);
        }

        // Each case is its own profile: the cases share identities, which would make them one profile.
        const writes = [...(c.waiting ?? []), c.snapshot].map((snapshot) => ({
          profileId,
          snapshot: { ...snapshot, profileId },
        }));
        const result = await exportSnapshots(destinationId, settings, c.activation, writes);
        const exported = c.expected === null ? 0 : 1;
        // A profile the destination is not concerned by is not even read.
        const decided = concerns(c) ? 1 : 0;
        const excluded = c.expectedExclude ? { [c.expectedExclude]: 1 } : {};
        assert.ok(decided >= exported, 'an export is of a profile the destination reads');
        assert.deepEqual(
          {
            decided: result.decided,
            exported: result.exported,
            skipped: result.skipped,
            excludedByReason: result.excludedByReason,
            deadLettered: result.deadLettered,
            more: result.more,
          },
          {
            decided,
            exported,
            skipped: decided - exported - Object.keys(excluded).length,
            excludedByReason: excluded,
            deadLettered: 0,
            more: false,
          },
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
        // makes it a skip.
        const again = await exportSnapshots(destinationId, settings, c.activation, [
          { profileId, snapshot: { ...c.snapshot, profileId } },
        ]);
        // A profile whose consent was withdrawn is held back by it from then on.
        const held = consentExclusion(c.consent, c.snapshot);
        assert.deepEqual(
          { exported: again.exported, skipped: again.skipped, excludedByReason: again.excludedByReason },
          { exported: 0, skipped: held ? 0 : 1, excludedByReason: held ? { [held]: 1 } : {} },
        );
        assert.equal((await readAllRecords(kinesis, stream)).length, 1, 'nothing sent again');
      });
    });

    it('a consent rule added later makes a re-export look at profiles it skipped unread before: their exits go out', async () => {
      const stream = 'consent-later';
      await createStream(kinesis, stream, 1);
      const options: ExportOptions = {
        includeSegmentNames: false,
        includeSegmentTimestamps: false,
        statusStyle: 'existing',
        includeMessageId: false,
      };
      const open = settingsFor(emulator.endpoint, stream, options);
      const ruled = settingsFor(emulator.endpoint, stream, options, { path: 'consents.share.val', allowed: ['y'] });
      const activation: Activation = { segments: [{ id: 'seg' }], attributes: ['person.email'] };
      await store.saveDestination({ id: 'consent-later', settings: open, activation });
      const snapshot: ProfileSnapshot = {
        profileId: 'consent-1',
        identityMap: { ecid: [{ id: 'consent-1' }] },
        person: { email: 'c@example.com' },
        consents: { share: { val: 'n' } },
        segmentMembership: { ups: { seg: { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
      };
      assert.equal(
        (await exportSnapshots('consent-later', open, activation, [{ profileId: 'consent-1', snapshot }])).exported,
        1,
      );
      const reexport = (settings: DestinationSettings) =>
        new MockActivityEnvironment(undefined, { logger: quietLogger }).run<
          [ReexportPageInput],
          ReexportPageResult,
          Activities['reexportPage']
        >((i) => activities.reexportPage(i), {
          destinationId: 'consent-later',
          settings,
          activation,
          segmentIds: ['seg'],
          cursor: null,
          pageSize: 100,
          force: false,
          upToSeq: null,
        });
      // Unchanged: skipped, and its key is kept with the profile so the next re-export skips it unread.
      assert.deepEqual([(await reexport(open)).skipped], [1]);
      assert.deepEqual([(await reexport(ruled)).exported], [1], 'the exit for missing consent');
      const statuses = (await readAllRecords(kinesis, stream)).map(
        (r) => (JSON.parse(r.data) as ExportRecord).segmentMembership.ups.seg?.status,
      );
      assert.deepEqual(statuses, ['realized', 'exited']);
    });

    it('includeMessageId: a record resent after a crash carries the same messageId, a newer snapshot a new one', async () => {
      const stream = 'message-id';
      const destinationId = 'message-id';
      await createStream(kinesis, stream, 1);
      const settings = settingsFor(emulator.endpoint, stream, { ...PLAIN, includeMessageId: true });
      const activation: Activation = { segments: [{ id: 'seg' }], attributes: ['person.email'] };
      await store.saveDestination({ id: destinationId, settings, activation });
      // The worker crashing after Kinesis acknowledged the record, before its ledger entry was written.
      const crashing = new Proxy<Store>(store, {
        get(target, property, receiver) {
          if (property === 'writeLedger') return () => Promise.reject(new Error('worker lost'));
          return Reflect.get(target, property, receiver) as unknown;
        },
      });
      const cursor = await store.head();
      await storeMembers(['message-1'], 'seg');
      const input: ExportPageInput = { destinationId, settings, activation, cursor, pageSize: 100 };
      await assert.rejects(
        new MockActivityEnvironment(undefined, { logger: quietLogger }).run<
          [ExportPageInput],
          ExportPageResult,
          Activities['exportPage']
        >((i) => createActivities({ store: crashing, writers }).exportPage(i), input),
        /worker lost/,
      );
      assert.equal((await runExportPage(input)).exported, 1, 'resent: the ledger does not have it');
      const newer = await store.head();
      await store.upsertProfiles([
        {
          profileId: 'message-1',
          snapshot: {
            identityMap: { ecid: [{ id: 'message-1' }] },
            person: { email: 'changed@example.com' },
            segmentMembership: { ups: { seg: { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
          },
        },
      ]);
      assert.equal((await runExportPage({ ...input, cursor: newer })).exported, 1);

      const records = (await readAllRecords(kinesis, stream)).map((r) => JSON.parse(r.data) as ExportRecord);
      const ids = records.map((r) => r.messageId);
      assert.equal(ids.length, 3);
      assert.equal(ids[0], ids[1], 'the resend carries the id of the first send');
      assert.notEqual(ids[2], ids[0], 'the export of a newer snapshot has an id of its own');
      assert.ok(ids.every((id) => typeof id === 'string' && /^[\w-]{22}$/.test(id)));
      // messageId first, then the seed's record unchanged.
      const { messageId, ...seed } = records[2] as ExportRecord;
      assert.deepEqual(Object.keys(records[2] as ExportRecord), [
        'messageId',
        'person',
        'segmentMembership',
        'identityMap',
      ]);
      assert.equal(typeof messageId, 'string');
      assert.deepEqual(seed, {
        person: { email: 'changed@example.com' },
        segmentMembership: { ups: { seg: { lastQualificationTime: '2024-01-01T00:00:00Z', status: 'existing' } } },
        identityMap: { ecid: [{ id: 'message-1' }] },
      });
    });

    it('reads nothing for a destination no change concerns, and moves its cursor past the changes', async () => {
      const metrics = new ActivationMetrics();
      const counted = createActivities({ store, writers, metrics });
      const stream = 'routed';
      await createStream(kinesis, stream, 1);
      const settings = settingsFor(emulator.endpoint, stream, PLAIN);
      const mapping = (segment: string): Activation => ({ segments: [{ id: segment }], attributes: ['person.email'] });
      const cursor = await store.head();
      await storeMembers(['routed-1', 'routed-2', 'routed-3'], 'seg-x');
      const head = await store.head();
      const page = (destinationId: string, activation: Activation) =>
        new MockActivityEnvironment(undefined, { logger: quietLogger }).run<
          [ExportPageInput],
          ExportPageResult,
          Activities['exportPage']
        >((i) => counted.exportPage(i), { destinationId, settings, activation, cursor, pageSize: 100 });
      const unconcerned = await page('routed-y', mapping('seg-y'));
      assert.deepEqual(
        [unconcerned.decided, unconcerned.putCalls, unconcerned.cursor, unconcerned.remaining, unconcerned.more],
        [0, 0, head, 0, false],
      );
      const concerned = await page('routed-x', mapping('seg-x'));
      assert.deepEqual([concerned.exported, concerned.cursor], [3, head]);
      const read = (await metrics.profilesRead.get()).values.map((v) => [v.labels.destination, v.value]);
      assert.deepEqual(read, [
        ['routed-y', 0],
        ['routed-x', 3],
      ]);
    });

    it('starts where inputs and checkpoints of versions before the cursor rename say (afterSeq)', async () => {
      const stream = 'earlier-names';
      await createStream(kinesis, stream, 1);
      const settings = settingsFor(emulator.endpoint, stream, PLAIN);
      const activation: Activation = { segments: [{ id: 'seg-e' }], attributes: ['person.email'] };
      const base = await store.head();
      await storeMembers(['earlier-1', 'earlier-2', 'earlier-3'], 'seg-e');
      const head = await store.head();
      const page = (destinationId: string, input: Record<string, unknown>, heartbeatDetails?: unknown) =>
        new MockActivityEnvironment({ heartbeatDetails }, { logger: quietLogger }).run<
          [ExportPageInput],
          ExportPageResult,
          Activities['exportPage']
        >((i) => activities.exportPage(i), {
          destinationId,
          settings,
          activation,
          pageSize: 100,
          ...input,
        } as unknown as ExportPageInput);
      const scheduled = await page('earlier-input', { afterSeq: base + 1 });
      assert.deepEqual([scheduled.decided, scheduled.cursor], [2, head], 'the input cursor under its earlier name');
      const counts = { decided: 2, exported: 2, skipped: 0, deadLettered: 0 };
      const resumed = await page('earlier-checkpoint', { cursor: base }, { afterSeq: base + 2, counts });
      assert.deepEqual([resumed.decided, resumed.cursor], [3, head], 'the heartbeat checkpoint under its earlier name');
    });

    it('keeps a dead-lettered export owed: unrelated rewrites send nothing, a replay after the fix delivers it', async () => {
      const stream = 'owed';
      const destinationId = 'owed';
      await createStream(kinesis, stream, 1);
      const activation: Activation = { segments: [{ id: 'seg' }], attributes: ['person.email', 'person.bio'] };
      const small = {
        ...settingsFor(emulator.endpoint, stream, {
          includeSegmentNames: false,
          includeSegmentTimestamps: false,
          statusStyle: 'existing',
          includeMessageId: false,
        }),
        maxRecordBytes: 1024,
      };
      const snapshot = (id: string, bio: string, note = ''): ProfileSnapshot => ({
        profileId: id,
        identityMap: { ecid: [{ id }] },
        person: { email: `${id}@example.com`, bio, note },
        segmentMembership: { ups: { seg: { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
      });
      const big = 'b'.repeat(2000);
      const write = (id: string, bio: string, note = '') => ({ profileId: id, snapshot: snapshot(id, bio, note) });
      const first = await exportSnapshots(destinationId, small, activation, [
        write('owed-1', big),
        write('owed-2', ''),
      ]);
      assert.deepEqual([first.exported, first.deadLettered], [1, 1]);
      assert.deepEqual(
        (await store.listDeadLetters(destinationId)).map((l) => l.profileId),
        ['owed-1'],
      );

      // An unmapped change rewrites the snapshot: nothing mapped changed since the owed export.
      const unrelated = await exportSnapshots(destinationId, small, activation, [write('owed-1', big, 'unmapped')]);
      assert.deepEqual([unrelated.exported, unrelated.skipped, unrelated.deadLettered], [0, 1, 0]);
      assert.equal((await store.listDeadLetters(destinationId)).length, 1, 'no second letter');

      // The limit raised, the replay sends the owed record through the export path: realized, as never seen.
      const raised = { ...small, maxRecordBytes: 1024 * 1024 };
      const replay = await new MockActivityEnvironment(undefined, { logger: quietLogger }).run<
        [ReplayPageInput],
        ReplayPageResult,
        Activities['replayPage']
      >((i) => activities.replayPage(i), {
        destinationId,
        settings: raised,
        activation,
        profileIds: null,
        cursor: null,
      });
      assert.deepEqual([replay.exported, replay.deadLettered, replay.more], [1, 0, false]);
      assert.deepEqual(await store.listDeadLetters(destinationId), []);
      const records = await readAllRecords(kinesis, stream);
      const replayed = JSON.parse(records[records.length - 1]?.data ?? '{}') as ExportRecordShape;
      assert.equal(records.length, 2);
      assert.equal(replayed.person.bio, big);
      assert.equal(replayed.segmentMembership.ups.seg?.status, 'realized');
      assert.ok((await store.readLedger(destinationId, ['owed-1'])).has('owed-1'), 'the ledger holds it now');

      // A mapped change of a profile whose letter is owed sends its new state, and settles the letter.
      const again = await exportSnapshots(destinationId, small, activation, [write('owed-3', big)]);
      assert.equal(again.deadLettered, 1);
      const fixed = await exportSnapshots(destinationId, small, activation, [write('owed-3', 'short now')]);
      assert.deepEqual([fixed.exported, fixed.deadLettered], [1, 0]);
      assert.deepEqual(await store.listDeadLetters(destinationId), []);

      // A profile back to what the consumer has (its change key equals the ledger's) is skipped,
      // and its letter, now obsolete, settled.
      await exportSnapshots(destinationId, small, activation, [write('owed-3', big)]);
      assert.equal((await store.listDeadLetters(destinationId)).length, 1);
      const reverted = await exportSnapshots(destinationId, small, activation, [write('owed-3', 'short now', 'x')]);
      assert.deepEqual([reverted.exported, reverted.skipped, reverted.deadLettered], [0, 1, 0]);
      assert.deepEqual(await store.listDeadLetters(destinationId), []);
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
        const settings = settingsFor(proxy.endpoint, stream, PLAIN);
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
        const cursor = (await store.head()) - profileIds.length;
        const result = await runExportPage({ destinationId: 'refused', settings, activation, cursor, pageSize: 100 });
        assert.equal(result.exported, 3);
        assert.deepEqual([...(await store.readLedger('refused', profileIds)).keys()].sort(), profileIds);
        assert.equal((await readAllRecords(kinesis, stream)).length, 3);
      } finally {
        await proxy.stop();
      }
    });
  });
}
