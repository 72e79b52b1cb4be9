import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import type { Activation } from '../../src/domain/activation';
import { changeKeyOf, changeKeySpecOf } from '../../src/domain/changeKey';
import type { ProfileSnapshot, SegmentStatus } from '../../src/domain/profile';
import { profileIdOf } from '../../src/domain/profileId';
import type { Projection } from '../../src/domain/projection';
import { migrations } from '../../src/store/migrations';
import { openStore } from '../../src/store/openStore';
import { PostgresStore } from '../../src/store/postgresStore';
import { SqliteStore } from '../../src/store/sqliteStore';
import type { ExportCandidate, LedgerView, Store } from '../../src/store/store';
import { createTestDatabase } from '../support/postgres';

/** How the contract reaches one implementation: through openStore, as the worker does. */
interface Backend {
  name: string;
  storeClass: typeof SqliteStore | typeof PostgresStore;
  /** A new, empty location: a SQLite file path or a database URL. */
  freshLocation(): Promise<string>;
  appliedMigrations(location: string): Promise<number[]>;
  /** Runs SQL statements on the location directly, as an older version of the schema would have left it. */
  exec(location: string, sql: string): Promise<void>;
  /** Removes what freshLocation made, after the suite closed its stores. */
  cleanup?(): Promise<void>;
}

const sqliteDirs: string[] = [];

const backends: Backend[] = [
  {
    name: 'SQLite',
    storeClass: SqliteStore,
    async freshLocation() {
      const dir = await mkdtemp(join(tmpdir(), 'ka-store-'));
      sqliteDirs.push(dir);
      // A parent directory that does not exist yet: the store creates it.
      return join(dir, 'nested', 'store.sqlite');
    },
    appliedMigrations(location) {
      const db = new Database(location, { readonly: true });
      try {
        return Promise.resolve(
          db.prepare<[], number>('SELECT version FROM schema_migrations ORDER BY version').pluck().all(),
        );
      } finally {
        db.close();
      }
    },
    exec(location, sql) {
      const db = new Database(location);
      try {
        db.exec(sql);
        return Promise.resolve();
      } finally {
        db.close();
      }
    },
    async cleanup() {
      for (const dir of sqliteDirs.splice(0)) await rm(dir, { recursive: true, force: true });
    },
  },
  {
    name: 'PostgreSQL',
    storeClass: PostgresStore,
    freshLocation: createTestDatabase,
    async appliedMigrations(location) {
      const client = new Client({ connectionString: location });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: number }>(
          'SELECT version FROM schema_migrations ORDER BY version',
        );
        return rows.map((r) => r.version);
      } finally {
        await client.end();
      }
    },
    async exec(location, sql) {
      const client = new Client({ connectionString: location });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    },
  },
];

function snapshot(
  profileId: string,
  segments: Record<string, SegmentStatus> = {},
  person: Record<string, unknown> = {},
): ProfileSnapshot {
  const ups = Object.fromEntries(
    Object.entries(segments).map(([id, status]) => [id, { status, lastQualificationTime: '2024-05-25T21:24:39Z' }]),
  );
  return { profileId, identityMap: { ecid: [{ id: `ecid-${profileId}` }] }, segmentMembership: { ups }, person };
}

function projection(email: string, segmentId: string): Projection {
  return {
    segments: { [segmentId]: { status: 'realized', lastQualificationTime: '2024-05-25T21:24:39Z' } },
    attributes: { 'person.email': email },
    identityMap: { email: [{ id: email }] },
  };
}

/** Reads for no destination: every profile in range, its snapshot parsed, as the general read of a store. */
const EVERY_PROFILE: LedgerView = { destinationId: '', segmentIds: null, changeKey: null, skipUnchanged: false };
const readChangesAfter = (store: Store, cursor: number, limit: number) =>
  store.readExportCandidates(EVERY_PROFILE, { cursor, limit });
const readSegmentMembers = (store: Store, segmentIds: string[], cursor: string | null, limit: number) =>
  store.readExportCandidates(EVERY_PROFILE, { segmentIds, cursor, limit });

const ids = (rows: ExportCandidate[]) => rows.map((r) => r.profileId);

function assertStrictlyIncreasing(seqs: number[], message: string): void {
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i - 1]! < seqs[i]!, `${message}: ${seqs.join(', ')}`);
}

/** Reads every segment member page by page, checking each page's size and order. */
async function readAllMembers(store: Store, segmentIds: string[], pageSize: number): Promise<ExportCandidate[]> {
  const all: ExportCandidate[] = [];
  for (let cursor: string | null = null; ;) {
    const page = await readSegmentMembers(store, segmentIds, cursor, pageSize);
    assert.ok(page.length <= pageSize);
    if (page.length === 0) return all;
    all.push(...page);
    cursor = page[page.length - 1]!.profileId;
  }
}

for (const backend of backends) {
  describe(`Store contract: ${backend.name}`, function () {
    const opened: Store[] = [];
    let store: Store;
    let location: string;
    // Tests share one store per backend: each uses its own ids and counts from the seq it starts at.
    let counter = 0;
    const unique = (prefix: string) => `${prefix}${++counter}-`;

    async function open(at: string): Promise<Store> {
      const s = await openStore(at);
      opened.push(s);
      return s;
    }

    before(async () => {
      location = await backend.freshLocation();
      store = await open(location);
    });

    after(async () => {
      for (const s of opened.splice(0)) await s.close();
      await backend.cleanup?.();
    });

    it('opens the right implementation through openStore', () => {
      assert.ok(store instanceof backend.storeClass);
    });

    it('starts empty', async () => {
      const empty = await open(await backend.freshLocation());
      assert.equal(await empty.head(), 0);
      assert.deepEqual(await empty.upsertProfiles([]), { lastSeq: 0, profileIds: [], conflicts: [] });
      assert.deepEqual(await readChangesAfter(empty, 0, 10), []);
      assert.equal(await empty.countChangesAfter(0), 0);
      assert.deepEqual(await readSegmentMembers(empty, ['s'], null, 10), []);
      assert.equal(await empty.countSegmentMembers(['s']), 0);
      assert.equal((await empty.readLedger('d', ['p'])).size, 0);
      assert.deepEqual(await empty.listDeadLetters('d'), []);
      assert.deepEqual(await empty.listDestinations(), []);
      assert.equal(await empty.getDestination('d'), undefined);
    });

    it('gives each write a higher seq and moves a rewritten profile to its new seq', async () => {
      const p = unique('seq');
      const base = await store.head();
      const first = await store.upsertProfiles([
        { profileId: `${p}a`, snapshot: snapshot(`${p}a`, {}, { v: 1 }) },
        { profileId: `${p}b`, snapshot: snapshot(`${p}b`) },
      ]);
      assert.ok(first.lastSeq > base);
      const written = await readChangesAfter(store, base, 100);
      assert.deepEqual(ids(written), [`${p}a`, `${p}b`]);
      assertStrictlyIncreasing(
        written.map((r) => r.seq),
        'seqs of one call',
      );
      assert.equal(written[1]!.seq, first.lastSeq);

      const second = await store.upsertProfiles([{ profileId: `${p}a`, snapshot: snapshot(`${p}a`, {}, { v: 2 }) }]);
      assert.ok(second.lastSeq > first.lastSeq);
      const after = await readChangesAfter(store, base, 100);
      // Coalesced: one row per profile, the rewritten one now last with its newest snapshot.
      assert.deepEqual(ids(after), [`${p}b`, `${p}a`]);
      assert.equal(after[1]!.seq, second.lastSeq);
      assert.deepEqual(after[1]!.snapshot?.person, { v: 2 });
      assert.equal(await store.countChangesAfter(base), 2);
      assert.equal(await store.head(), second.lastSeq);
      assert.deepEqual(ids(await readChangesAfter(store, first.lastSeq, 100)), [`${p}a`]);
      assert.deepEqual(await store.upsertProfiles([]), { lastSeq: second.lastSeq, profileIds: [], conflicts: [] });
    });

    it('keeps its head when the profile with the highest seq is purged: the head never moves back', async () => {
      const p = unique('purged-head');
      await store.upsertProfiles([{ profileId: `${p}a`, snapshot: snapshot(`${p}a`) }]);
      // Erasure rewrites the profile as a tombstone (the newest change), then purges it.
      const { found, lastSeq } = await store.requestErasure([`${p}a`]);
      assert.deepEqual(found, [`${p}a`]);
      assert.equal(await store.head(), lastSeq);
      await store.purgeProfiles([`${p}a`]);
      assert.deepEqual(await readChangesAfter(store, lastSeq - 1, 10), []);
      assert.equal(await store.head(), lastSeq);
      assert.deepEqual(await store.upsertProfiles([]), { lastSeq, profileIds: [], conflicts: [] });
      const next = await store.upsertProfiles([{ profileId: `${p}b`, snapshot: snapshot(`${p}b`) }]);
      assert.ok(next.lastSeq > lastSeq);
    });

    it('lets a later duplicate in one call win', async () => {
      const p = unique('dup');
      const base = await store.head();
      const { lastSeq } = await store.upsertProfiles([
        { profileId: `${p}a`, snapshot: snapshot(`${p}a`, { [`${p}old`]: 'realized' }, { v: 1 }) },
        { profileId: `${p}b`, snapshot: snapshot(`${p}b`) },
        { profileId: `${p}a`, snapshot: snapshot(`${p}a`, { [`${p}new`]: 'realized' }, { v: 2 }) },
      ]);
      const rows = await readChangesAfter(store, base, 100);
      assert.deepEqual(ids(rows).sort(), [`${p}a`, `${p}b`]);
      assert.deepEqual(rows.find((r) => r.profileId === `${p}a`)?.snapshot?.person, { v: 2 });
      assert.equal(lastSeq, await store.head());
      assert.deepEqual(await readSegmentMembers(store, [`${p}old`], null, 10), []);
      assert.deepEqual(ids(await readSegmentMembers(store, [`${p}new`], null, 10)), [`${p}a`]);
    });

    it('pages profiles by seq and honours the limit', async () => {
      const p = unique('page');
      const base = await store.head();
      const written: string[] = [];
      for (const size of [10, 10, 5]) {
        const batch = Array.from({ length: size }, (_, i) => `${p}${written.length + i}`);
        written.push(...batch);
        await store.upsertProfiles(batch.map((id) => ({ profileId: id, snapshot: snapshot(id) })));
      }
      const pages: ExportCandidate[][] = [];
      for (let cursor = base; ;) {
        const page = await readChangesAfter(store, cursor, 7);
        if (page.length === 0) break;
        pages.push(page);
        cursor = page[page.length - 1]!.seq;
      }
      assert.deepEqual(
        pages.map((page) => page.length),
        [7, 7, 7, 4],
      );
      const all = pages.flat();
      assert.deepEqual(ids(all), written);
      assertStrictlyIncreasing(
        all.map((r) => r.seq),
        'seqs across pages',
      );
      assert.equal(await store.countChangesAfter(base), 25);
      assert.equal(await store.countChangesAfter(all[9]!.seq), 15);
      assert.equal(await store.countChangesAfter(await store.head()), 0);
    });

    it('keeps a profile without profileId by any identity it shares with a stored one, and refuses one matching two', async () => {
      const p = unique('ident');
      const anonymous = (identityMap: ProfileSnapshot['identityMap'], v: number) => {
        const snap: ProfileSnapshot = { identityMap, person: { v } };
        return { profileId: profileIdOf(snap), snapshot: snap };
      };
      const e1 = `${p}E1`;
      const base = await store.head();
      await store.upsertProfiles([anonymous({ ecid: [{ id: e1 }] }, 1)]);
      // Gains a primary identity: still the same profile.
      const gained = await store.upsertProfiles([
        anonymous({ ECID: [{ id: e1 }], email: [{ id: `${p}x`, primary: true }] }, 2),
      ]);
      assert.deepEqual(gained.conflicts, []);
      // Known by the new identity alone: the same profile too.
      await store.upsertProfiles([anonymous({ email: [{ id: `${p}x` }] }, 3)]);
      let rows = await readChangesAfter(store, base, 100);
      assert.deepEqual(ids(rows), [`ecid:${e1}`]);
      assert.deepEqual(rows[0]?.snapshot?.person, { v: 3 });

      // Within one call, an earlier snapshot counts as stored for a later one.
      const e3 = `${p}E3`;
      await store.upsertProfiles([
        anonymous({ ecid: [{ id: e3 }] }, 1),
        anonymous({ ecid: [{ id: e3 }], email: [{ id: `${p}y`, primary: true }] }, 2),
      ]);
      rows = await readChangesAfter(store, base, 100);
      assert.deepEqual(ids(rows).sort(), [`ecid:${e1}`, `ecid:${e3}`]);

      // An explicit profileId is taken as given; a snapshot matching it and another profile is refused.
      await store.upsertProfiles([{ profileId: `${p}P2`, snapshot: snapshot(`${p}P2`) }]);
      const before = await store.head();
      const both = await store.upsertProfiles([
        anonymous({ ecid: [{ id: `${p}new` }] }, 9),
        anonymous({ email: [{ id: `${p}x` }], ecid: [{ id: `ecid-${p}P2` }] }, 9),
      ]);
      assert.equal(both.conflicts.length, 1);
      assert.equal(both.conflicts[0]?.index, 1);
      assert.equal(
        both.conflicts[0]?.reason,
        `identityMap: identities belong to two different profiles, "ecid:${e1}" (by email "${p}x") and ` +
          `"${p}P2" (by ecid "ecid-${p}P2"): give the line a profileId to say which it is`,
      );
      assert.deepEqual(ids(await readChangesAfter(store, before, 100)), [`ecid:${p}new`]);

      // A snapshot is the whole profile: an identity it no longer has stops pointing to it.
      await store.upsertProfiles([anonymous({ ecid: [{ id: e1 }] }, 4)]);
      const head = await store.head();
      await store.upsertProfiles([anonymous({ email: [{ id: `${p}x` }] }, 5)]);
      assert.deepEqual(ids(await readChangesAfter(store, head, 100)), [`email:${p}x`]);
    });

    it('fills the identity index from the snapshots stored before it existed; a shared identity goes to the last written', async () => {
      const at = await backend.freshLocation();
      const before = await open(at);
      const anonymous = (identityMap: ProfileSnapshot['identityMap'], v: number) => {
        const snap: ProfileSnapshot = { identityMap, person: { v } };
        return { profileId: profileIdOf(snap), snapshot: snap };
      };
      await before.upsertProfiles([anonymous({ ecid: [{ id: 'E1' }] }, 1)]);
      await before.upsertProfiles([
        { profileId: 'older', snapshot: { profileId: 'older', identityMap: { Email: [{ id: 'x@y' }] } } },
      ]);
      await before.upsertProfiles([
        { profileId: 'newer', snapshot: { profileId: 'newer', identityMap: { email: [{ id: 'x@y' }] } } },
      ]);
      // The database as a version before the identity index left it.
      await backend.exec(at, 'DROP TABLE profile_identities; DELETE FROM schema_migrations WHERE version = 8');

      const after = await open(at);
      const gained = await after.upsertProfiles([
        anonymous({ ecid: [{ id: 'E1' }], phone: [{ id: '1', primary: true }] }, 2),
      ]);
      assert.deepEqual(gained.profileIds, ['ecid:E1'], 'a profile stored before the index keeps its id');
      const shared = await after.upsertProfiles([anonymous({ email: [{ id: 'x@y' }] }, 3)]);
      assert.deepEqual(shared.profileIds, ['newer']);
      assert.deepEqual(
        await backend.appliedMigrations(at),
        migrations.map((m) => m.version),
      );
    });

    it('returns snapshots exactly as written, key order included', async () => {
      const id = `${unique('doc')}x`;
      const doc: ProfileSnapshot = {
        profileId: id,
        identityMap: {
          ecid: [{ id: 'e1', primary: true }],
          email_lc_sha256: [{ id: 'h', authenticatedState: 'authenticated' }],
        },
        segmentMembership: { ups: { z: { status: 'existing', lastQualificationTime: '2020-05-25T21:24:39Z' } } },
        person: {
          name: { lastName: 'Ñúñez', firstName: '李' },
          email: 'a@b.c',
          age: 42,
          tags: ['x', null, true],
          emoji: '😀',
        },
        personalEmail: { address: 'x@y.z' },
      };
      const base = await store.head();
      await store.upsertProfiles([{ profileId: id, snapshot: doc }]);
      const [row] = await readChangesAfter(store, base, 1);
      assert.equal(JSON.stringify(row?.snapshot), JSON.stringify(doc));
    });

    it('keeps segment membership across rewrites and pages members by profile id', async () => {
      const p = unique('mem');
      const [a, b, c] = [`${p}A`, `${p}B`, `${p}C`];
      await store.upsertProfiles([
        { profileId: `${p}1`, snapshot: snapshot(`${p}1`, { [a]: 'realized', [b]: 'existing' }) },
        { profileId: `${p}2`, snapshot: snapshot(`${p}2`, { [a]: 'exited' }) },
        { profileId: `${p}3`, snapshot: snapshot(`${p}3`, { [b]: 'realized' }) },
        { profileId: `${p}4`, snapshot: snapshot(`${p}4`, { [c]: 'realized' }) },
        { profileId: `${p}5`, snapshot: snapshot(`${p}5`, { [a]: 'existing' }) },
        { profileId: `${p}6`, snapshot: { identityMap: { ecid: [{ id: 'x' }] } } },
      ]);
      // A profile in both requested segments comes once; exited and unrequested ones not at all.
      assert.deepEqual(ids(await readSegmentMembers(store, [a, b], null, 10)), [`${p}1`, `${p}3`, `${p}5`]);
      assert.deepEqual(ids(await readSegmentMembers(store, [a, b], null, 2)), [`${p}1`, `${p}3`]);
      assert.deepEqual(ids(await readSegmentMembers(store, [a, b], `${p}3`, 2)), [`${p}5`]);
      assert.deepEqual(await readSegmentMembers(store, [a, b], `${p}5`, 2), []);
      assert.deepEqual(ids(await readSegmentMembers(store, [a, a, b], null, 10)), [`${p}1`, `${p}3`, `${p}5`]);
      assert.deepEqual(await readSegmentMembers(store, [], null, 10), []);
      assert.deepEqual(await readSegmentMembers(store, [`${p}none`], null, 10), []);
      assert.equal(await store.countSegmentMembers([a, b, a]), 3);
      assert.equal(await store.countSegmentMembers([c]), 1);
      assert.equal(await store.countSegmentMembers([]), 0);

      // p1 exits both, p2 re-enters a, p4 enters b and stays in c.
      const { lastSeq } = await store.upsertProfiles([
        { profileId: `${p}1`, snapshot: snapshot(`${p}1`, { [a]: 'exited', [b]: 'exited' }) },
        { profileId: `${p}2`, snapshot: snapshot(`${p}2`, { [a]: 'realized' }, { v: 2 }) },
        { profileId: `${p}4`, snapshot: snapshot(`${p}4`, { [b]: 'realized', [c]: 'existing' }) },
      ]);
      const members = await readAllMembers(store, [a, b], 1);
      assert.deepEqual(ids(members), [`${p}2`, `${p}3`, `${p}4`, `${p}5`]);
      // Members come with their current snapshot and seq.
      assert.deepEqual(members[0]!.snapshot?.person, { v: 2 });
      assert.equal(members[2]!.seq, lastSeq);
      assert.deepEqual(ids(await readSegmentMembers(store, [a], null, 10)), [`${p}2`, `${p}5`]);
      assert.deepEqual(ids(await readSegmentMembers(store, [c], null, 10)), [`${p}4`]);
      assert.equal(await store.countSegmentMembers([a, b]), 4);
    });

    it('orders profile ids byte-wise (UTF-8), the same on every store', async () => {
      const p = unique('order');
      const segment = `${p}seg`;
      const suffixes = ['b', 'B', 'a', 'a b', 'Z', 'é', '😀', '\uFFFD', '10', '9'];
      await store.upsertProfiles(
        suffixes.map((s) => ({ profileId: p + s, snapshot: snapshot(p + s, { [segment]: 'realized' }) })),
      );
      const expected = suffixes.map((s) => p + s).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.deepEqual(ids(await readAllMembers(store, [segment], 3)), expected);
    });

    it('writes and pages a 5000-profile batch in one call', async () => {
      const p = unique('bulk');
      const [s1, s2] = [`${p}s1`, `${p}s2`];
      const batch = Array.from({ length: 5000 }, (_, i) => `${p}${String(i).padStart(5, '0')}`);
      const base = await store.head();
      const { lastSeq } = await store.upsertProfiles(
        batch.map((id) => ({ profileId: id, snapshot: snapshot(id, { [s1]: 'realized', [s2]: 'existing' }) })),
      );
      assert.equal(lastSeq - base, 5000);
      assert.equal(await store.countChangesAfter(base), 5000);
      assert.deepEqual(ids(await readSegmentMembers(store, [s1, s2], null, 5000)), batch);
      await store.upsertProfiles(
        batch.map((id) => ({ profileId: id, snapshot: snapshot(id, { [s1]: 'exited', [s2]: 'existing' }) })),
      );
      assert.deepEqual(await readSegmentMembers(store, [s1], null, 10), []);
      assert.equal((await readSegmentMembers(store, [s2], null, 5000)).length, 5000);
    });

    it('reads, writes and overwrites the ledger per destination', async () => {
      const p = unique('ledger');
      const [d1, d2] = [`${p}d1`, `${p}d2`];
      assert.equal((await store.readLedger(d1, [`${p}1`])).size, 0);
      await store.writeLedger(d1, [
        { profileId: `${p}1`, projection: projection('one@x', 's') },
        { profileId: `${p}2`, projection: projection('two@x', 's') },
      ]);
      assert.deepEqual(
        await store.readLedger(d1, [`${p}1`, `${p}2`, `${p}3`]),
        new Map([
          [`${p}1`, projection('one@x', 's')],
          [`${p}2`, projection('two@x', 's')],
        ]),
      );
      assert.equal((await store.readLedger(d2, [`${p}1`])).size, 0, 'destinations do not see each other');

      await store.writeLedger(d1, [{ profileId: `${p}1`, projection: projection('new@x', 't') }]);
      await store.writeLedger(d2, [{ profileId: `${p}1`, projection: projection('other@x', 's') }]);
      const d1Ledger = await store.readLedger(d1, [`${p}1`, `${p}2`]);
      assert.deepEqual(d1Ledger.get(`${p}1`), projection('new@x', 't'));
      assert.deepEqual(d1Ledger.get(`${p}2`), projection('two@x', 's'));
      assert.deepEqual((await store.readLedger(d2, [`${p}1`])).get(`${p}1`), projection('other@x', 's'));

      await store.writeLedger(d1, [
        { profileId: `${p}3`, projection: projection('first@x', 's') },
        { profileId: `${p}3`, projection: projection('last@x', 's') },
      ]);
      assert.deepEqual((await store.readLedger(d1, [`${p}3`])).get(`${p}3`), projection('last@x', 's'));
      // A large write (written in batches by some stores): the last entry of each profile wins.
      const many = Array.from({ length: 250 }, (_, i) => ({
        profileId: `${p}m${i % 120}`,
        projection: projection(`${i}@x`, 's'),
      }));
      await store.writeLedger(d1, many);
      const written = await store.readLedger(
        d1,
        many.map((e) => e.profileId),
      );
      assert.equal(written.size, 120);
      for (let k = 0; k < 120; k++)
        assert.deepEqual(written.get(`${p}m${k}`), projection(`${k + (k < 10 ? 240 : 120)}@x`, 's'));
      await store.writeLedger(d1, []);
      assert.equal((await store.readLedger(d1, [])).size, 0);
    });

    it('reads export candidates with their ledger entry, and re-export members unparsed once their key matches the ledger', async () => {
      const p = unique('keys');
      const d = `${p}dest`;
      // A segment id with quotes, a backslash and a dot is still read literally.
      const seg = `${p}seg "quoted" \\ back.slash`;
      const activation: Activation = { segments: [{ id: seg }], attributes: ['person.email', 'person.name.first'] };
      const spec = changeKeySpecOf(activation);
      const view: LedgerView = { destinationId: d, segmentIds: [seg], changeKey: spec, skipUnchanged: true };
      const at = (time: string, status: SegmentStatus = 'realized') => ({ status, lastQualificationTime: time });
      const profile = (
        id: string,
        change: { ups?: Record<string, unknown>; person?: Record<string, unknown>; ecid?: string } = {},
      ): ProfileSnapshot =>
        ({
          profileId: id,
          identityMap: { ecid: [{ id: change.ecid ?? `ecid-${id}` }] },
          segmentMembership: {
            ups: change.ups ?? { [seg]: at('2024-01-01T00:00:00Z'), [`${p}unmapped`]: at('2024-01-01T00:00:00Z') },
          },
          person: { email: `${id}@x`, name: { first: 'Ann', last: 'Lee' }, ...change.person },
        }) as ProfileSnapshot;
      const names = [
        'lastName',
        'unmappedExit',
        'qualified',
        'existing',
        'email',
        'firstName',
        'exit',
        'identity',
        'neverExported',
      ];
      const id = (name: string) => `${p}${name}`;
      const members = () => store.readExportCandidates(view, { segmentIds: [seg], cursor: null, limit: 100 });
      const decided = (candidates: ExportCandidate[]) =>
        candidates.filter((c) => c.snapshot !== null).map((c) => c.profileId);
      const base = await store.head();
      await store.upsertProfiles(names.map((n) => ({ profileId: id(n), snapshot: profile(id(n)) })));

      // Changes come parsed, with the key computed on reading (a write knows no destination).
      const first = await store.readExportCandidates(view, { cursor: base, limit: 100 });
      assert.deepEqual(
        first.map((c) => c.profileId),
        names.map(id),
      );
      for (const c of first) {
        assert.deepEqual(c.snapshot, profile(c.profileId));
        assert.equal(c.previous, null);
        assert.equal(c.changeKey, changeKeyOf(spec, profile(c.profileId)));
      }
      const exported = first.filter((c) => c.profileId !== id('neverExported'));
      await store.writeLedger(
        d,
        exported.map((c) => ({
          profileId: c.profileId,
          projection: projection(c.profileId, seg),
          changeKey: c.changeKey,
        })),
      );
      // Read again, a key computed on reading equals the ledger's: only the profile never exported
      // is decided, by seq and by segment (which also keeps the keys, for the next read to skip
      // its profiles unparsed); forced, every change is.
      const changes = (v: LedgerView) => store.readExportCandidates(v, { cursor: base, limit: 100 });
      assert.deepEqual(decided(await changes(view)), [id('neverExported')]);
      assert.equal(decided(await changes({ ...view, skipUnchanged: false })).length, names.length);
      assert.deepEqual(decided(await members()), [id('neverExported')]);
      assert.deepEqual(decided(await members()), [id('neverExported')]);

      const second: Record<string, ProfileSnapshot> = {
        lastName: profile(id('lastName'), { person: { name: { first: 'Ann', last: 'Other' } } }),
        unmappedExit: profile(id('unmappedExit'), {
          ups: { [seg]: at('2024-01-01T00:00:00Z'), [`${p}unmapped`]: at('2024-02-01T00:00:00Z', 'exited') },
        }),
        qualified: profile(id('qualified'), { ups: { [seg]: at('2024-03-01T00:00:00Z') } }),
        existing: profile(id('existing'), { ups: { [seg]: at('2024-01-01T00:00:00Z', 'existing') } }),
        email: profile(id('email'), { person: { email: 'new@x' } }),
        firstName: profile(id('firstName'), { person: { name: { first: 'Bo', last: 'Lee' } } }),
        exit: profile(id('exit'), { ups: { [seg]: at('2024-03-01T00:00:00Z', 'exited') } }),
        identity: profile(id('identity'), { ecid: 'ecid-new' }),
        neverExported: profile(id('neverExported'), { person: { name: { first: 'Ann', last: 'Other' } } }),
      };
      const afterFirst = await store.head();
      await store.upsertProfiles(names.map((n) => ({ profileId: id(n), snapshot: second[n] as ProfileSnapshot })));
      // The exit comes too: the destination's ledger holds that profile.
      // A rewrite is decided in full where a mapped part changed (or nothing was exported).
      const again = await store.readExportCandidates(view, { cursor: afterFirst, limit: 100 });
      const mappedChange = ['email', 'firstName', 'exit', 'identity', 'neverExported'].map(id);
      assert.deepEqual(decided(again), mappedChange);
      for (const c of again) {
        assert.equal(c.changeKey, changeKeyOf(spec, second[c.profileId.slice(p.length)] as ProfileSnapshot));
        const previous = c.profileId === id('neverExported') ? null : projection(c.profileId, seg);
        assert.deepEqual(
          [c.snapshot, c.previous],
          mappedChange.includes(c.profileId) ? [second[c.profileId.slice(p.length)], previous] : [null, null],
        );
      }
      // By segment: the members; once their keys are kept, only mapped changes are read in full.
      assert.deepEqual(
        (await members()).map((c) => c.profileId),
        names
          .map(id)
          .filter((n) => n !== id('exit'))
          .sort(),
      );
      const unchanged = await members();
      assert.deepEqual(decided(unchanged), ['email', 'firstName', 'identity', 'neverExported'].map(id).sort());
      assert.deepEqual(
        unchanged.map((c) => c.changeKey),
        again
          .filter((c) => c.profileId !== id('exit'))
          .sort((a, b) => (a.profileId < b.profileId ? -1 : 1))
          .map((c) => c.changeKey),
      );

      // Forced, under another mapping, or without a key: every member is read in full.
      const allMembers = names.length - 1;
      const byMembers = (v: LedgerView) =>
        store.readExportCandidates(v, { segmentIds: [seg], cursor: null, limit: 100 });
      assert.equal(decided(await byMembers({ ...view, skipUnchanged: false })).length, allMembers);
      const remapped = changeKeySpecOf({ ...activation, attributes: ['person.email'] });
      const underRemapped = await byMembers({ ...view, changeKey: remapped });
      assert.deepEqual(
        underRemapped.map((c) => [c.snapshot !== null, c.changeKey]),
        underRemapped.map((c) => [true, changeKeyOf(remapped, second[c.profileId.slice(p.length)] as ProfileSnapshot)]),
      );
      const keyless = await byMembers({ ...view, changeKey: null });
      assert.deepEqual([decided(keyless).length, keyless.every((c) => c.changeKey === null)], [allMembers, true]);
      // A ledger entry written without a key never matches.
      await store.writeLedger(d, [{ profileId: id('lastName'), projection: projection(id('lastName'), seg) }]);
      assert.ok(decided(await members()).includes(id('lastName')));
    });

    it('routes changes to the destinations they concern: members of mapped segments, and exits of profiles the ledger holds', async () => {
      const p = unique('route');
      const [a, b, c] = [`${p}A`, `${p}B`, `${p}C`];
      const view = (destinationId: string, segmentIds: string[]): LedgerView => ({
        destinationId,
        segmentIds,
        changeKey: null,
        skipUnchanged: false,
      });
      const [onA, onB, onC, onAB] = [
        view(`${p}dA`, [a]),
        view(`${p}dB`, [b]),
        view(`${p}dC`, [c]),
        view(`${p}dAB`, [a, b]),
      ];
      const changes = async (v: LedgerView, cursor: number, limit = 100) =>
        ids(await store.readExportCandidates(v, { cursor, limit }));
      const base = await store.head();
      await store.upsertProfiles([
        { profileId: `${p}1`, snapshot: snapshot(`${p}1`, { [a]: 'realized' }) },
        { profileId: `${p}2`, snapshot: snapshot(`${p}2`, { [b]: 'existing' }) },
        { profileId: `${p}3`, snapshot: snapshot(`${p}3`, { [`${p}other`]: 'realized' }) },
        { profileId: `${p}4`, snapshot: snapshot(`${p}4`, { [a]: 'realized', [b]: 'realized' }) },
        { profileId: `${p}5`, snapshot: snapshot(`${p}5`, { [a]: 'exited' }) },
      ]);
      assert.deepEqual(await changes(onA, base), [`${p}1`, `${p}4`]);
      assert.deepEqual(await changes(onB, base), [`${p}2`, `${p}4`]);
      assert.deepEqual(await changes(onC, base), [], 'a destination no change concerns reads nothing');
      // A profile under two mapped segments comes once, and pages by seq miss nothing.
      assert.deepEqual(await changes(onAB, base), [`${p}1`, `${p}2`, `${p}4`]);
      const paged: string[] = [];
      for (let cursor = base; ;) {
        const page = await store.readExportCandidates(onAB, { cursor, limit: 1 });
        if (page.length === 0) break;
        paged.push(...ids(page));
        cursor = page[page.length - 1]!.seq;
      }
      assert.deepEqual(paged, [`${p}1`, `${p}2`, `${p}4`]);

      // 4 was exported to dA, not to dB; then 1 and 4 leave every segment.
      await store.writeLedger(onA.destinationId, [{ profileId: `${p}4`, projection: projection(`${p}4`, a) }]);
      const left = await store.head();
      await store.upsertProfiles([
        { profileId: `${p}1`, snapshot: snapshot(`${p}1`, { [a]: 'exited' }) },
        { profileId: `${p}4`, snapshot: snapshot(`${p}4`) },
      ]);
      assert.deepEqual(await changes(onA, left), [`${p}4`], 'the exit of a profile the ledger holds');
      assert.deepEqual(await changes(onB, left), [], 'never exported and in no mapped segment: nothing');
      assert.deepEqual(await changes(onC, left), []);
      // Changed again while out: still the ledger's concern, and no one else's.
      const out = await store.head();
      await store.upsertProfiles([{ profileId: `${p}4`, snapshot: snapshot(`${p}4`, {}, { v: 2 }) }]);
      assert.deepEqual(await changes(onA, out), [`${p}4`]);
      assert.deepEqual(await changes(onB, out), []);
      // Re-entering b makes it dB's concern again.
      await store.upsertProfiles([{ profileId: `${p}4`, snapshot: snapshot(`${p}4`, { [b]: 'realized' }) }]);
      assert.deepEqual(await changes(onB, out), [`${p}4`]);
      assert.deepEqual(ids(await readSegmentMembers(store, [a, b], null, 10)), [`${p}2`, `${p}4`]);
      assert.equal(await store.countSegmentMembers([a]), 0);
    });

    it('keeps dead letters per destination in insertion order', async () => {
      const p = unique('dead');
      const [d1, d2] = [`${p}d1`, `${p}d2`];
      const given = new Date('2024-01-02T03:04:05.678Z');
      const big = 'x'.repeat(1024 * 1024 + 1);
      const before = Date.now();
      await store.addDeadLetters([
        { destinationId: d1, profileId: 'p1', reason: 'record too large', record: big, createdAt: given },
        { destinationId: d2, profileId: 'p2', reason: 'invalid', record: '{}' },
        { destinationId: d1, profileId: 'p3', reason: 'invalid', record: '{"a":1}' },
      ]);
      await store.addDeadLetters([]);
      const letters = await store.listDeadLetters(d1);
      assert.deepEqual(
        letters.map(({ createdAt: _, ...rest }) => rest),
        [
          { destinationId: d1, profileId: 'p1', reason: 'record too large', record: big },
          { destinationId: d1, profileId: 'p3', reason: 'invalid', record: '{"a":1}' },
        ],
      );
      assert.equal(letters[0]!.createdAt?.getTime(), given.getTime());
      const stamped = letters[1]!.createdAt?.getTime() ?? 0;
      assert.ok(stamped >= before - 5000 && stamped <= Date.now() + 5000, 'a missing createdAt is set to now');
      assert.deepEqual(
        (await store.listDeadLetters(d2)).map((d) => d.profileId),
        ['p2'],
      );
      assert.deepEqual(await store.listDeadLetters(`${p}none`), []);
    });

    it('keeps one dead letter per profile and destination, with its projection, and removes them by profile or all', async () => {
      const p = unique('owed');
      const [d1, d2] = [`${p}d1`, `${p}d2`];
      const owed = projection('a@example.com', 'seg');
      await store.addDeadLetters([
        { destinationId: d1, profileId: 'p1', reason: 'too large', record: '{"v":1}', projection: owed },
        { destinationId: d1, profileId: 'p2', reason: 'too large', record: '{"v":2}' },
        { destinationId: d2, profileId: 'p1', reason: 'too large', record: '{"v":3}', projection: owed },
      ]);
      // A newer letter of a profile replaces its earlier one at that destination only.
      const newer = projection('b@example.com', 'seg');
      await store.addDeadLetters([
        { destinationId: d1, profileId: 'p1', reason: 'still too large', record: '{"v":4}', projection: newer },
      ]);
      const letters = await store.listDeadLetters(d1);
      assert.deepEqual(
        letters.map(({ createdAt: _, ...rest }) => rest),
        [
          { destinationId: d1, profileId: 'p2', reason: 'too large', record: '{"v":2}' },
          { destinationId: d1, profileId: 'p1', reason: 'still too large', record: '{"v":4}', projection: newer },
        ],
      );
      assert.deepEqual(
        await store.deadLetteredProjections(d1, ['p1', 'p2', 'p3']),
        new Map<string, Projection | null>([
          ['p2', null],
          ['p1', newer],
        ]),
      );
      assert.deepEqual(await store.deadLetteredProjections(d1, []), new Map());
      assert.equal(await store.removeDeadLetters(d1, ['p1', 'p3']), 1);
      assert.equal(await store.removeDeadLetters(d1, []), 0);
      assert.deepEqual(
        (await store.listDeadLetters(d1)).map((d) => d.profileId),
        ['p2'],
      );
      assert.equal(await store.removeDeadLetters(d1, null), 1);
      assert.deepEqual(await store.listDeadLetters(d1), []);
      assert.deepEqual(
        (await store.listDeadLetters(d2)).map((d) => d.profileId),
        ['p1'],
      );
    });

    it('reads the candidates of given profiles by id, with the ledger and every snapshot', async () => {
      const p = unique('by-id');
      const d = `${p}dest`;
      const activation: Activation = { segments: [{ id: `${p}seg` }], attributes: ['person.email'] };
      const spec = changeKeySpecOf(activation);
      const [a, b] = [snapshot(`${p}b`, { [`${p}seg`]: 'realized' }), snapshot(`${p}a`, { [`${p}seg`]: 'realized' })];
      const { lastSeq } = await store.upsertProfiles([
        { profileId: `${p}b`, snapshot: a },
        { profileId: `${p}a`, snapshot: b },
      ]);
      const exported = projection('x@example.com', `${p}seg`);
      // Its ledger key equals its snapshot's: a read skipping unchanged ones would leave it out; this one does not.
      await store.writeLedger(d, [{ profileId: `${p}a`, projection: exported, changeKey: changeKeyOf(spec, b) }]);
      const read = await store.readProfileCandidates(d, spec, [`${p}b`, `${p}none`, `${p}a`, `${p}a`]);
      assert.deepEqual(
        read.map(({ profileId, seq, snapshot: s, previous, changeKey }) => ({
          profileId,
          seq,
          snapshot: s,
          previous,
          changeKey,
        })),
        [
          { profileId: `${p}a`, seq: lastSeq, snapshot: b, previous: exported, changeKey: changeKeyOf(spec, b) },
          { profileId: `${p}b`, seq: lastSeq - 1, snapshot: a, previous: null, changeKey: changeKeyOf(spec, a) },
        ],
      );
      assert.deepEqual(await store.readProfileCandidates(d, spec, []), []);
    });

    it('deletes a destination with its ledger and dead letters, and remembers that it did', async () => {
      const p = unique('deleted');
      const [gone, kept] = [`${p}gone`, `${p}kept`];
      for (const id of [gone, kept]) {
        await store.saveDestination({ id, settings: { stream: 's' }, activation: null });
        await store.writeLedger(id, [
          { profileId: 'p1', projection: projection('a@example.com', 'seg') },
          { profileId: 'p2', projection: projection('b@example.com', 'seg') },
        ]);
        await store.addDeadLetters([{ destinationId: id, profileId: 'p3', reason: 'too large', record: '{}' }]);
      }
      assert.equal(await store.destinationDeletedAt(gone), null);
      const before = Date.now();
      const removed = await store.deleteDestination(gone);
      assert.deepEqual(
        { ...removed, deletedAt: undefined },
        {
          destination: true,
          ledgerEntries: 2,
          deadLetters: 1,
          deletedAt: undefined,
        },
      );
      assert.ok(Math.abs(removed.deletedAt.getTime() - before) < 5000, 'deleted now');
      assert.equal(await store.getDestination(gone), undefined);
      assert.ok(!(await store.listDestinations()).some((d) => d.id === gone));
      assert.equal((await store.readLedger(gone, ['p1', 'p2'])).size, 0);
      assert.deepEqual(await store.listDeadLetters(gone), []);
      assert.equal((await store.destinationDeletedAt(gone))?.getTime(), removed.deletedAt.getTime());
      // Deleting again removes nothing more and keeps the first deletion's time.
      assert.deepEqual(await store.deleteDestination(gone), {
        destination: false,
        ledgerEntries: 0,
        deadLetters: 0,
        deletedAt: removed.deletedAt,
      });
      // Another destination's rows stay.
      assert.ok(await store.getDestination(kept));
      assert.equal((await store.readLedger(kept, ['p1', 'p2'])).size, 2);
      assert.equal((await store.listDeadLetters(kept)).length, 1);
      assert.equal(await store.destinationDeletedAt(kept), null);
    });

    it('saves, updates, gets and lists destinations', async () => {
      const p = unique('dest');
      const activation: Activation = {
        segments: [{ id: 'seg', name: 'Seg', createdAt: 1648553325000 }],
        attributes: ['person.email'],
      };
      await store.saveDestination({ id: `${p}b`, settings: { stream: 's1', region: 'eu-west-1' }, activation: null });
      await store.saveDestination({
        id: `${p}a`,
        settings: { stream: 's2', credentials: { secretAccessKeyEnv: 'SECRET' } },
        activation,
      });
      assert.deepEqual(await store.getDestination(`${p}a`), {
        id: `${p}a`,
        settings: { stream: 's2', credentials: { secretAccessKeyEnv: 'SECRET' } },
        activation,
      });
      assert.equal(await store.getDestination(`${p}none`), undefined);
      const listed = (await store.listDestinations()).filter((d) => d.id.startsWith(p));
      assert.deepEqual(
        listed.map((d) => d.id),
        [`${p}a`, `${p}b`],
      );

      await store.saveDestination({ id: `${p}a`, settings: { stream: 's3' }, activation: null });
      assert.deepEqual(await store.getDestination(`${p}a`), {
        id: `${p}a`,
        settings: { stream: 's3' },
        activation: null,
      });
      assert.equal((await store.listDestinations()).filter((d) => d.id.startsWith(p)).length, 2);
    });

    it('migrates once: opening again, or several at once, changes nothing', async () => {
      const at = await backend.freshLocation();
      // Workers starting together against one new database.
      const [first, second] = await Promise.all([open(at), open(at), open(at)]);
      const { lastSeq } = await first.upsertProfiles([
        { profileId: 'kept', snapshot: snapshot('kept', { s: 'realized' }) },
      ]);
      const later = await open(at);
      assert.deepEqual(
        await backend.appliedMigrations(at),
        migrations.map((m) => m.version),
      );
      assert.equal(await second.head(), lastSeq);
      assert.deepEqual(ids(await readSegmentMembers(later, ['s'], null, 10)), ['kept']);
    });

    it('gives concurrent writers unique increasing seqs, and readers paging by seq miss no write', async () => {
      const at = await backend.freshLocation();
      const writers = await Promise.all(Array.from({ length: 4 }, () => open(at)));
      // Several readers, each on its own connection, to catch a late commit behind a cursor.
      const readers = await Promise.all(Array.from({ length: 3 }, () => open(at)));
      const pool = Array.from({ length: 300 }, (_, i) => `p${i}`);
      const returned: number[][] = writers.map(() => []);
      let writing = true;

      // Writers rewrite overlapping profiles, so rows also move to new seqs while readers page.
      const write = async (w: number) => {
        for (let batch = 0; batch < 40; batch++) {
          const chosen = Array.from({ length: 30 }, (_, j) => pool[(batch * 37 + w * 71 + j * 7) % pool.length]!);
          const { lastSeq } = await writers[w]!.upsertProfiles(
            chosen.map((id) => ({ profileId: id, snapshot: snapshot(id, {}, { writer: w, batch }) })),
          );
          returned[w]!.push(lastSeq);
        }
      };
      /** Pages until caught up after the writers finished; returns the last seq seen per profile. */
      const read = async (reader: Store) => {
        const lastSeen = new Map<string, number>();
        for (let cursor = 0; ;) {
          const done = !writing;
          const page = await readChangesAfter(reader, cursor, 25);
          assertStrictlyIncreasing([cursor, ...page.map((r) => r.seq)], 'reader pages');
          for (const row of page) lastSeen.set(row.profileId, row.seq);
          if (page.length > 0) cursor = page[page.length - 1]!.seq;
          else if (done) return lastSeen;
        }
      };

      const reading = Promise.all(readers.map(read));
      await Promise.all(writers.map((_, w) => write(w)));
      writing = false;
      const seen = await reading;

      for (const seqs of returned) assertStrictlyIncreasing(seqs, 'one writer’s lastSeqs');
      const allReturned = returned.flat();
      assert.equal(new Set(allReturned).size, allReturned.length, 'writers never share a seq');
      const final = await readChangesAfter(readers[0]!, 0, 10_000);
      assert.equal(new Set(final.map((r) => r.seq)).size, final.length);
      for (const lastSeen of seen) {
        assert.equal(lastSeen.size, final.length);
        for (const row of final)
          assert.equal(lastSeen.get(row.profileId), row.seq, `a reader missed the last write of ${row.profileId}`);
      }
    });
  });
}

describe('openStore', function () {
  it('opens an in-memory SQLite store for :memory:', async () => {
    const store = await openStore(':memory:');
    try {
      assert.ok(store instanceof SqliteStore);
      const { lastSeq } = await store.upsertProfiles([{ profileId: 'm', snapshot: snapshot('m') }]);
      assert.equal(lastSeq, 1);
    } finally {
      await store.close();
    }
  });

  it('accepts the postgresql:// scheme too', async () => {
    const url = (await createTestDatabase()).replace(/^postgres:/, 'postgresql:');
    const store = await openStore(url);
    try {
      assert.ok(store instanceof PostgresStore);
      assert.equal(await store.head(), 0);
    } finally {
      await store.close();
    }
    await store.close(); // closing twice is harmless (shutdown paths may overlap)
  });
});

describe('PostgresStore keeping change keys computed on reading', function () {
  it('skips rows a writer holds instead of waiting for them, and keeps the others', async () => {
    const url = await createTestDatabase();
    const store = await openStore(url);
    const writer = new Client({ connectionString: url });
    await writer.connect();
    try {
      const activation: Activation = { segments: [{ id: 'seg' }], attributes: [] };
      const view: LedgerView = {
        destinationId: 'd',
        segmentIds: ['seg'],
        changeKey: changeKeySpecOf(activation),
        skipUnchanged: true,
      };
      const ids = ['free', 'held'];
      // Writes store no keys: re-export reads compute them.
      await store.upsertProfiles(ids.map((id) => ({ profileId: id, snapshot: snapshot(id, { seg: 'realized' }) })));
      const members = () => store.readExportCandidates(view, { segmentIds: ['seg'], cursor: null, limit: 10 });
      const exported = (candidates: ExportCandidate[]) =>
        candidates.map((c) => ({
          profileId: c.profileId,
          projection: projection(c.profileId, 'seg'),
          changeKey: c.changeKey,
        }));
      // Exported once: the next re-export read keeps the keys it computes.
      await store.writeLedger('d', exported(await members()));
      // Another transaction holds one row, as a concurrent upsertProfiles would.
      await writer.query('BEGIN');
      await writer.query("SELECT 1 FROM profiles WHERE profile_id = 'held' FOR UPDATE");
      await members();
      await writer.query('COMMIT');
      // Both are skipped either way (a key computed on reading is compared too): the rows show what was kept.
      const keptKeys = async () =>
        (
          await writer.query<{ profile_id: string; kept: boolean }>(
            'SELECT profile_id, change_keys IS NOT NULL AS kept FROM profiles ORDER BY profile_id',
          )
        ).rows.map((r) => [r.profile_id, r.kept]);
      assert.deepEqual(
        await keptKeys(),
        [
          ['free', true],
          ['held', false],
        ],
        'the held row was left without its key, the other kept it',
      );
      assert.deepEqual(
        (await members()).map((c) => c.snapshot),
        [null, null],
      );
      // Once nothing holds it, that read kept its key too.
      assert.deepEqual(await keptKeys(), [
        ['free', true],
        ['held', true],
      ]);
    } finally {
      await writer.end();
      await store.close();
    }
  });
});
