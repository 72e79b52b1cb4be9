import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ProfileSnapshot } from '../../src/domain/profile';
import { openStore } from '../../src/store/openStore';
import type { ProfilePatch, Store } from '../../src/store/store';
import { createTestDatabase } from '../support/postgres';
import { assertNoBytes, assertNoRows } from '../support/storeFiles';
import { profile } from '../support/profiles';

interface Backend {
  name: string;
  fresh(): Promise<string>;
  /** Merges the patches, each in its own transaction, from several connections at the same time. */
  mergeConcurrently(location: string, patches: ProfilePatch[]): Promise<void>;
}

const dirs: string[] = [];
const backends: Backend[] = [
  {
    name: 'SQLite',
    async fresh() {
      const dir = await mkdtemp(join(tmpdir(), 'ka-ingest-store-'));
      dirs.push(dir);
      return join(dir, 'store.sqlite');
    },
    async mergeConcurrently(path, patches) {
      const threads = 5;
      await Promise.all(
        Array.from({ length: threads }, (_, t) => {
          const worker = new Worker(resolve(__dirname, '..', 'support', 'mergeWorker.ts'), {
            workerData: { path, patches: patches.filter((_, i) => i % threads === t) },
            execArgv: ['--require', 'ts-node/register/transpile-only'],
          });
          return new Promise<void>((done, fail) => {
            worker.once('message', () => done());
            worker.once('error', fail);
          }).finally(() => worker.terminate());
        }),
      );
    },
  },
  {
    name: 'PostgreSQL',
    fresh: createTestDatabase,
    async mergeConcurrently(url, patches) {
      // Ten stores: ten pools, so the merges really run side by side on separate connections.
      const stores = await Promise.all(Array.from({ length: 10 }, () => openStore(url)));
      try {
        await Promise.all(patches.map((p, i) => (stores[i % stores.length] as Store).mergeProfiles([p])));
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    },
  },
];

async function snapshotOf(store: Store, profileId: string): Promise<ProfileSnapshot | null> {
  const [candidate] = await store
    .readExportCandidates(
      { destinationId: 'none', segmentIds: null, changeKey: null, skipUnchanged: false },
      { cursor: 0, limit: 100_000 },
    )
    .then((all) => all.filter((c) => c.profileId === profileId));
  return candidate?.snapshot ?? null;
}

for (const backend of backends) {
  describe(`Store ingest operations: ${backend.name}`, function () {
    let location: string;
    let store: Store;
    beforeEach(async () => {
      location = await backend.fresh();
      store = await openStore(location);
    });
    afterEach(async () => {
      await store.close();
    });
    after(async () => {
      for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
    });

    it('merges patches as RFC 7396 says: null removes, unknown profiles are created, invalid results are rejected', async () => {
      await store.upsertProfiles([
        profile('p-1', { s1: 'realized' }, { person: { email: 'a@x', name: { first: 'A' } } }),
      ]);
      const result = await store.mergeProfiles([
        { profileId: 'p-1', patch: { profileId: 'p-1', person: { name: null, phone: '1' } } },
        { profileId: 'p-1', patch: { profileId: 'p-1', person: { email: 'b@x' } } },
        { profileId: 'p-new', patch: { profileId: 'p-new', identityMap: { ecid: [{ id: 'e-new' }] } } },
        { profileId: 'p-bad', patch: { profileId: 'p-bad', person: { email: 'c@x' } } },
        { profileId: 'p-1', patch: { profileId: 'p-1', identityMap: null } },
      ]);
      assert.equal(result.written, 2);
      assert.deepEqual(
        result.rejected.map((r) => r.index),
        [3, 4],
      );
      assert.match(result.rejected[0]?.reason ?? '', /identityMap/);
      const merged = await snapshotOf(store, 'p-1');
      assert.deepEqual(merged, {
        ...profile('p-1', { s1: 'realized' }).snapshot,
        person: { email: 'b@x', phone: '1' },
      });
      assert.deepEqual(await snapshotOf(store, 'p-new'), {
        profileId: 'p-new',
        identityMap: { ecid: [{ id: 'e-new' }] },
      });
      assert.equal(await snapshotOf(store, 'p-bad'), null);
      // Membership follows the merged snapshot, as for a full one.
      await store.mergeProfiles([{ profileId: 'p-1', patch: { segmentMembership: { ups: { s1: null } } } }]);
      assert.equal(await store.countSegmentMembers(['s1']), 0);
    });

    it('applies 50 concurrent patches of one profile from separate connections, losing none', async function () {
      this.timeout(120_000);
      await store.upsertProfiles([profile('p-hot', {})]);
      const patches = Array.from({ length: 50 }, (_, i) => ({
        profileId: 'p-hot',
        patch: { counters: { [`c${i}`]: i } },
      }));
      await backend.mergeConcurrently(location, patches);
      const merged = await snapshotOf(store, 'p-hot');
      assert.deepEqual(merged?.counters, Object.fromEntries(patches.map((_, i) => [`c${i}`, i])));
    });

    it('records every write in the announcement outbox until it is marked announced', async () => {
      const { lastSeq: first } = await store.upsertProfiles([profile('a', {}), profile('b', {})]);
      const { lastSeq: second } = await store.mergeProfiles([{ profileId: 'a', patch: { x: 1 } }]);
      assert.deepEqual(await store.unannouncedWrites(60_000), []);
      assert.deepEqual(await store.unannouncedWrites(0), [
        { firstSeq: first - 1, lastSeq: first },
        { firstSeq: second, lastSeq: second },
      ]);
      await store.markAnnounced([first]);
      assert.deepEqual(await store.unannouncedWrites(0), [{ firstSeq: second, lastSeq: second }]);
    });

    it('names the destinations a change concerns: mapped segments it is a member of, and ledgers holding it', async () => {
      for (const [id, segment] of [
        ['d-a', 'seg-a'],
        ['d-b', 'seg-b'],
        ['d-c', 'seg-c'],
      ] as const)
        await store.saveDestination({ id, settings: {}, activation: { segments: [{ id: segment }], attributes: [] } });
      await store.saveDestination({ id: 'd-none', settings: {}, activation: null });
      const { lastSeq } = await store.upsertProfiles([profile('p-1', { 'seg-a': 'realized', 'seg-x': 'realized' })]);
      await store.writeLedger('d-c', [
        { profileId: 'p-1', projection: { segments: {}, attributes: {}, identityMap: {} } },
      ]);
      assert.deepEqual(await store.destinationsConcerned({ profileIds: ['p-1'] }), ['d-a', 'd-c']);
      assert.deepEqual(await store.destinationsConcerned({ fromSeq: lastSeq, toSeq: lastSeq }), ['d-a', 'd-c']);
      assert.deepEqual(await store.destinationsConcerned({ profileIds: ['p-unknown'] }), []);
      await store.upsertProfiles([profile('p-2', { 'seg-x': 'realized' })]);
      assert.deepEqual(await store.destinationsConcerned({ fromSeq: lastSeq + 1, toSeq: lastSeq + 1 }), []);
    });

    it('erasure: tombstones a stored profile, keeps its request until the purge, then keeps nothing of it', async () => {
      const person = profile('p-gone', { 'seg-a': 'realized' }, { person: { email: 'gone-person@example.com' } });
      await store.upsertProfiles([person, profile('p-stays', { 'seg-a': 'realized' })]);
      await store.writeLedger('d-a', [
        { profileId: 'p-gone', projection: { segments: {}, attributes: {}, identityMap: {} } },
      ]);
      await store.addDeadLetters([{ destinationId: 'd-a', profileId: 'p-gone', reason: 'x', record: 'gone-person' }]);
      assert.deepEqual((await store.requestErasure(['p-gone', 'p-unknown'])).found, ['p-gone']);
      assert.deepEqual(await snapshotOf(store, 'p-gone'), {
        profileId: 'p-gone',
        identityMap: person.snapshot.identityMap,
      });
      assert.equal(await store.countSegmentMembers(['seg-a']), 1);
      assert.deepEqual(
        (await store.pendingErasures()).map((e) => e.profileId),
        ['p-gone'],
      );
      await store.purgeProfiles(['p-gone']);
      assert.deepEqual(await store.pendingErasures(), []);
      assert.equal(await snapshotOf(store, 'p-gone'), null);
      assert.deepEqual(await store.ledgerHoldings(['p-gone']), []);
      assert.deepEqual(await store.listDeadLetters('d-a'), []);
      assert.ok(await snapshotOf(store, 'p-stays'));
      if (backend.name === 'SQLite') {
        await store.close();
        await assertNoBytes(location, ['p-gone', 'gone-person', 'ecid-p-gone']);
        store = await openStore(location);
      } else {
        await assertNoRows(location, ['p-gone', 'gone-person']);
      }
    });

    it('erasure: a profile written again after its erasure was requested is a new profile, and the purge leaves it', async () => {
      await store.upsertProfiles([profile('p-back', { 'seg-a': 'realized' })]);
      assert.deepEqual((await store.requestErasure(['p-back'])).found, ['p-back']);
      const again = profile('p-back', { 'seg-a': 'realized' }, { person: { email: 'back@example.com' } });
      await store.upsertProfiles([again]);
      assert.deepEqual(await store.pendingErasures(['p-back']), []);
      // A purge decided from an older look at the pending erasures (the worker's) changes nothing.
      await store.purgeProfiles(['p-back']);
      assert.deepEqual(await snapshotOf(store, 'p-back'), again.snapshot);
    });
  });
}
