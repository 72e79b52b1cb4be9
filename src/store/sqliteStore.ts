import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { Activation } from '../domain/activation';
import type { ProfileSnapshot } from '../domain/profile';
import { identityKeyText, identityKeysOf, resolveProfileIds } from '../domain/profileIdentity';
import type { IdentityKey } from '../domain/profileIdentity';
import type { Projection } from '../domain/projection';
import type { ChangeKeySpec } from '../domain/changeKey';
import { migrateSqlite } from './migrations';
import {
  concernedBy,
  erasureTombstone,
  keysComputedOnRead,
  latestPerProfile,
  memberSegmentIds,
  mergePatches,
  toExportCandidate,
} from './store';
import type {
  CandidateRange,
  ChangedProfiles,
  DeadLetter,
  DestinationRemoval,
  DestinationRow,
  ExportCandidate,
  LedgerEntry,
  LedgerHolding,
  LedgerView,
  ProfilePatch,
  Store,
  StoredCandidate,
  UnannouncedWrite,
  UpsertResult,
} from './store';

/** seq, profile_id, snapshot (null: unchanged), stored change key, ledger's projection, ledger's change key. */
type CandidateRow = [number, string, string | null, string | null, string | null, string | null];

function storedCandidate([seq, profileId, snapshot, changeKey, projection, ledgerKey]: CandidateRow): StoredCandidate {
  return { seq, profileId, snapshot, changeKey, projection, ledgerKey };
}

/** Changed profiles by id (ids: a JSON array) or by seq range (from, to). */
interface ChangedParams {
  ids: string | null;
  from: number | null;
  to: number | null;
}

const CHANGED_SQL = `SELECT value FROM json_each(@ids) WHERE @ids IS NOT NULL
  UNION ALL SELECT profile_id FROM profiles WHERE @ids IS NULL AND seq BETWEEN @from AND @to`;

/** The named parameters of a candidate read. */
interface CandidateParams {
  destination: string;
  key: string | null;
  skip: number;
  limit: number;
}

interface DeadLetterRow {
  destination_id: string;
  profile_id: string;
  reason: string;
  record: string;
  projection: string | null;
  created_at: number;
}

interface DestinationDbRow {
  id: string;
  settings: string;
  activation: string | null;
}

function toDestination(row: DestinationDbRow): DestinationRow {
  return {
    id: row.id,
    settings: JSON.parse(row.settings),
    activation: row.activation === null ? null : (JSON.parse(row.activation) as Activation),
  };
}

/*
 * Profiles with the view's ledger entry and stored change key (@key: the JSON path of the view's
 * spec in change_keys). A profile whose stored key equals its ledger key comes without its
 * snapshot and ledger entry when the view skips unchanged profiles: nothing mapped changed since
 * its last export. The ledger's key comes too, for a key computed on read (toExportCandidate).
 * SQLite parses the small change_keys text once per row for all three uses.
 */
function candidatesSql(where: string, from = 'profiles p'): string {
  return `SELECT p.seq, p.profile_id,
      CASE WHEN @skip AND p.change_keys ->> @key = l.change_key THEN NULL ELSE p.snapshot END,
      p.change_keys ->> @key,
      CASE WHEN @skip AND p.change_keys ->> @key = l.change_key THEN NULL ELSE l.projection END,
      l.change_key
    FROM ${from}
    LEFT JOIN ledger l ON l.destination_id = @destination AND l.profile_id = p.profile_id
    WHERE ${where} LIMIT @limit`;
}

/**
 * Ledger rows per INSERT statement: one statement call per row costs more than SQLite's own
 * work for it. Within one statement a later row of the same profile wins, as across statements.
 */
const LEDGER_BATCH = 100;

function ledgerUpsert(rows: number): string {
  return `INSERT INTO ledger (destination_id, profile_id, projection, change_key, updated_at)
    VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?)').join(', ')}
    ON CONFLICT (destination_id, profile_id) DO UPDATE
      SET projection = excluded.projection, change_key = excluded.change_key, updated_at = excluded.updated_at`;
}

function prepareStatements(db: Database.Database) {
  return {
    // Reserves `count` seqs at once; the transaction holds SQLite's write lock, so no other
    // writer (in this or another process) can commit a seq in between.
    reserveSeqs: db
      .prepare<[number], number>("UPDATE sequences SET value = value + ? WHERE name = 'profile_seq' RETURNING value")
      .pluck(),
    upsertProfile: db.prepare<[string, number, string, number]>(
      `INSERT INTO profiles (profile_id, seq, snapshot, change_keys, updated_at) VALUES (?, ?, ?, NULL, ?)
       ON CONFLICT (profile_id) DO UPDATE
         SET seq = excluded.seq, snapshot = excluded.snapshot, change_keys = NULL, updated_at = excluded.updated_at`,
    ),
    // Only while the profile still has the snapshot the key was computed from.
    keepKey: db.prepare<[{ key: string | null; value: string; id: string; seq: number }]>(
      `UPDATE profiles SET change_keys = json_set(coalesce(change_keys, '{}'), @key, @value) ` +
        'WHERE profile_id = @id AND seq = @seq',
    ),
    candidatesAfter: db
      .prepare<[CandidateParams & { cursor: number }], CandidateRow>(candidatesSql('p.seq > @cursor ORDER BY p.seq'))
      .raw(),
    candidatesOf: db
      .prepare<[CandidateParams & { ids: string }], CandidateRow>(
        candidatesSql('p.profile_id IN (SELECT value FROM json_each(@ids)) ORDER BY p.profile_id'),
      )
      .raw(),
    // A re-export page of one segment in one query: its members by id, joined to their rows.
    candidatesOfSegment: db
      .prepare<[CandidateParams & { segment: string; cursor: string }], CandidateRow>(
        candidatesSql(
          's.segment_id = @segment AND s.profile_id > @cursor AND s.member ORDER BY s.profile_id',
          'profile_segments s CROSS JOIN profiles p ON p.profile_id = s.profile_id',
        ),
      )
      .raw(),
    candidatesBySeqOf: db
      .prepare<[CandidateParams & { ids: string }], CandidateRow>(
        candidatesSql('p.profile_id IN (SELECT value FROM json_each(@ids)) ORDER BY p.seq'),
      )
      .raw(),
    // A member row gets the write's seq, a new one is added; then the rows not written (segments
    // the profile is no longer in) become exit rows with the same seq: every row of a profile
    // carries its latest seq, so a change is found under each segment it concerns.
    addMember: db.prepare<[string, string, number]>(
      `INSERT INTO profile_segments (segment_id, profile_id, seq, member) VALUES (?, ?, ?, 1)
       ON CONFLICT (segment_id, profile_id) DO UPDATE SET seq = excluded.seq, member = 1`,
    ),
    markExits: db.prepare<[number, string, number]>(
      'UPDATE profile_segments SET seq = ?, member = 0 WHERE profile_id = ? AND seq <> ?',
    ),
    // One segment's changes after the change cursor: its members, and those that left it if the destination's
    // ledger holds them. An index range scan on (segment_id, seq) that stops after `limit` rows.
    segmentChanges: db
      .prepare<[{ segment: string; cursor: number; destination: string; limit: number }], [string, number]>(
        `SELECT ps.profile_id, ps.seq FROM profile_segments ps
         WHERE ps.segment_id = @segment AND ps.seq > @cursor
           AND (ps.member OR EXISTS (SELECT 1 FROM ledger l
             WHERE l.destination_id = @destination AND l.profile_id = ps.profile_id))
         ORDER BY ps.seq LIMIT @limit`,
      )
      .raw(),
    identityOwner: db
      .prepare<[string, string], string>(
        'SELECT profile_id FROM profile_identities WHERE namespace = ? AND identity = ?',
      )
      .pluck(),
    identitiesOf: db.prepare<[string], IdentityKey>(
      'SELECT namespace, identity AS id FROM profile_identities WHERE profile_id = ?',
    ),
    removeIdentity: db.prepare<[string, string, string]>(
      'DELETE FROM profile_identities WHERE namespace = ? AND identity = ? AND profile_id = ?',
    ),
    claimIdentity: db.prepare<[string, string, string]>(
      `INSERT INTO profile_identities (namespace, identity, profile_id) VALUES (?, ?, ?)
       ON CONFLICT (namespace, identity) DO UPDATE SET profile_id = excluded.profile_id`,
    ),
    addOutbox: db.prepare<[number, number, number]>(
      'INSERT INTO announcement_outbox (last_seq, first_seq, created_at) VALUES (?, ?, ?)',
    ),
    unannounced: db.prepare<[number], { first_seq: number; last_seq: number }>(
      'SELECT first_seq, last_seq FROM announcement_outbox WHERE created_at <= ? ORDER BY last_seq',
    ),
    markAnnounced: db.prepare<[string]>(
      'DELETE FROM announcement_outbox WHERE last_seq IN (SELECT value FROM json_each(?))',
    ),
    snapshotsOf: db.prepare<[string], { profile_id: string; snapshot: string }>(
      'SELECT profile_id, snapshot FROM profiles WHERE profile_id IN (SELECT value FROM json_each(?))',
    ),
    segmentsOfChanged: db
      .prepare<[ChangedParams], string>(
        `SELECT DISTINCT ps.segment_id FROM profile_segments ps WHERE ps.member AND ps.profile_id IN (${CHANGED_SQL})`,
      )
      .pluck(),
    holdersOfChanged: db
      .prepare<[ChangedParams], string>(
        `SELECT DISTINCT l.destination_id FROM ledger l WHERE l.profile_id IN (${CHANGED_SQL})`,
      )
      .pluck(),
    // A write of the profile after its erasure was requested is a new profile: the purge leaves it.
    cancelErasures: db.prepare<[string]>(
      'DELETE FROM erasure_requests WHERE profile_id IN (SELECT value FROM json_each(?))',
    ),
    addErasure: db.prepare<[string, number]>(
      'INSERT OR IGNORE INTO erasure_requests (profile_id, requested_at) VALUES (?, ?)',
    ),
    erasures: db.prepare<[{ ids: string | null }], { profile_id: string; requested_at: number }>(
      `SELECT profile_id, requested_at FROM erasure_requests
       WHERE @ids IS NULL OR profile_id IN (SELECT value FROM json_each(@ids)) ORDER BY requested_at, profile_id`,
    ),
    holdingsOf: db.prepare<[string], { destination_id: string; profile_id: string; projection: string }>(
      `SELECT destination_id, profile_id, projection FROM ledger
       WHERE profile_id IN (SELECT value FROM json_each(?)) ORDER BY destination_id, profile_id`,
    ),
    purge: ['profiles', 'profile_segments', 'ledger', 'dead_letters', 'erasure_requests', 'profile_identities'].map(
      (table) => db.prepare<[string]>(`DELETE FROM ${table} WHERE profile_id IN (SELECT value FROM json_each(?))`),
    ),
    countChangesAfter: db.prepare<[number], number>('SELECT count(*) FROM profiles WHERE seq > ?').pluck(),
    // The sequence, not max(seq): a purged profile may have held the highest seq.
    head: db.prepare<[], number>("SELECT value FROM sequences WHERE name = 'profile_seq'").pluck(),
    // An index range scan on (segment_id, profile_id) that stops after `limit` rows.
    segmentPage: db
      .prepare<[string, string, number], string>(
        'SELECT profile_id FROM profile_segments WHERE segment_id = ? AND profile_id > ? AND member ' +
          'ORDER BY profile_id LIMIT ?',
      )
      .pluck(),
    countMembers: db
      .prepare<[string], number>(
        'SELECT count(DISTINCT profile_id) FROM profile_segments ' +
          'WHERE segment_id IN (SELECT value FROM json_each(?)) AND member',
      )
      .pluck(),
    readLedger: db.prepare<[string, string], { profile_id: string; projection: string }>(
      `SELECT profile_id, projection FROM ledger
       WHERE destination_id = ? AND profile_id IN (SELECT value FROM json_each(?))`,
    ),
    writeLedger: db.prepare<[(string | number | null)[]]>(ledgerUpsert(1)),
    writeLedgerBatch: db.prepare<[(string | number | null)[]]>(ledgerUpsert(LEDGER_BATCH)),
    addDeadLetter: db.prepare<[string, string, string, string, string | null, number]>(
      `INSERT INTO dead_letters (destination_id, profile_id, reason, record, projection, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    listDeadLetters: db.prepare<[string], DeadLetterRow>(
      `SELECT destination_id, profile_id, reason, record, projection, created_at FROM dead_letters
       WHERE destination_id = ? ORDER BY id`,
    ),
    deadLetterProjections: db.prepare<[string, string], { profile_id: string; projection: string | null }>(
      `SELECT profile_id, projection FROM dead_letters
       WHERE destination_id = ? AND profile_id IN (SELECT value FROM json_each(?)) ORDER BY id`,
    ),
    removeDeadLetters: db.prepare<[{ destination: string; ids: string | null }]>(
      `DELETE FROM dead_letters WHERE destination_id = @destination
         AND (@ids IS NULL OR profile_id IN (SELECT value FROM json_each(@ids)))`,
    ),
    deleteLedger: db.prepare<[string]>('DELETE FROM ledger WHERE destination_id = ?'),
    deleteDestination: db.prepare<[string]>('DELETE FROM destinations WHERE id = ?'),
    markDeleted: db.prepare<[string, number]>(
      'INSERT OR IGNORE INTO deleted_destinations (id, deleted_at) VALUES (?, ?)',
    ),
    deletedAt: db.prepare<[string], number>('SELECT deleted_at FROM deleted_destinations WHERE id = ?').pluck(),
    saveDestination: db.prepare<[string, string, string | null, number, number]>(
      `INSERT INTO destinations (id, settings, activation, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE
         SET settings = excluded.settings, activation = excluded.activation, updated_at = excluded.updated_at`,
    ),
    getDestination: db.prepare<[string], DestinationDbRow>(
      'SELECT id, settings, activation FROM destinations WHERE id = ?',
    ),
    listDestinations: db.prepare<[], DestinationDbRow>('SELECT id, settings, activation FROM destinations ORDER BY id'),
  };
}

/** How long one attempt waits for another writer's lock, synchronously. */
const BUSY_WAIT_MS = 50;
/** How long opening waits for the lock when the file needs migrating: once per process, before any work. */
const OPEN_BUSY_WAIT_MS = 10_000;
/** How long a write keeps trying while another process holds the lock. */
const BUSY_RETRY_FOR_MS = 60_000;

/**
 * The embedded store: one SQLite file in WAL mode (readers never block the writer), shared
 * safely by several processes on one host (a worker and the CLI). better-sqlite3 is synchronous;
 * the methods still return promises to satisfy the Store interface.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmt: ReturnType<typeof prepareStatements>;

  /** Opens (creating the parent directory) and migrates the file at `path`, or an in-memory database for ':memory:'. */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    // better-sqlite3 waits for a lock synchronously, stalling the event loop (heartbeats included)
    // for as long: wait briefly here, and longer, asynchronously, in `run`. Only opening (migrating
    // a new file, seldom contended) waits longer, as no activity runs on this store yet.
    this.db = new Database(path, { timeout: OPEN_BUSY_WAIT_MS });
    try {
      this.db.pragma('journal_mode = WAL');
      // With WAL, NORMAL loses at most the last commits on power loss, never consistency.
      this.db.pragma('synchronous = NORMAL');
      // Deleted content is overwritten with zeros: an erased profile leaves no bytes behind.
      this.db.pragma('secure_delete = ON');
      migrateSqlite(this.db);
      this.db.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
      this.stmt = prepareStatements(this.db);
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  upsertProfiles(profiles: { profileId: string; snapshot: ProfileSnapshot }[]): Promise<UpsertResult> {
    return this.run(() => {
      if (profiles.length === 0) return { lastSeq: this.stmt.head.get() ?? 0, profileIds: [], conflicts: [] };
      // IMMEDIATE takes the write lock at BEGIN, so a concurrent writer waits instead of failing
      // with SQLITE_BUSY when upgrading a read transaction. One writer at a time also means seqs
      // commit in increasing order: a reader's seq cursor never passes a row committed later.
      return this.db
        .transaction(() => {
          const { resolved, conflicts } = resolveProfileIds(profiles, this.identityOwners(profiles));
          const latest = latestPerProfile(resolved);
          if (latest.length === 0) return { lastSeq: this.stmt.head.get() ?? 0, profileIds: [], conflicts };
          const profileIds = latest.map((p) => p.profileId);
          const written = this.writeProfiles(latest);
          this.stmt.cancelErasures.run(JSON.stringify(profileIds));
          return { ...written, profileIds, conflicts };
        })
        .immediate();
    });
  }

  /** Writes distinct profiles, with their announcement outbox row; runs inside a write transaction. */
  private writeProfiles(latest: { profileId: string; snapshot: ProfileSnapshot }[]): { lastSeq: number } {
    const lastSeq = this.stmt.reserveSeqs.get(latest.length);
    if (lastSeq === undefined) throw new Error('profile_seq row is missing from the sequences table');
    const now = Date.now();
    let seq = lastSeq - latest.length;
    for (const { profileId, snapshot } of latest) {
      this.stmt.upsertProfile.run(profileId, ++seq, JSON.stringify(snapshot), now);
      for (const segmentId of memberSegmentIds(snapshot)) this.stmt.addMember.run(segmentId, profileId, seq);
      this.stmt.markExits.run(seq, profileId, seq);
      this.syncIdentities(profileId, snapshot);
    }
    this.stmt.addOutbox.run(lastSeq, lastSeq - latest.length + 1, now);
    return { lastSeq };
  }

  mergeProfiles(
    patches: ProfilePatch[],
  ): Promise<{ lastSeq: number; written: number; rejected: { index: number; reason: string }[] }> {
    return this.run(() =>
      // The write lock is held from the read of the stored snapshots to the commit of the merged
      // ones: no other writer (of any process) can change them in between.
      this.db
        .transaction(() => {
          const ids = JSON.stringify([...new Set(patches.map((p) => p.profileId))]);
          const stored = new Map(
            this.stmt.snapshotsOf.all(ids).map((r) => [r.profile_id, JSON.parse(r.snapshot) as ProfileSnapshot]),
          );
          const { merged, rejected } = mergePatches(stored, patches);
          const { lastSeq } = merged.length > 0 ? this.writeProfiles(merged) : { lastSeq: this.stmt.head.get() ?? 0 };
          this.stmt.cancelErasures.run(JSON.stringify(merged.map((p) => p.profileId)));
          return { lastSeq, written: merged.length, rejected };
        })
        .immediate(),
    );
  }

  destinationsConcerned(changed: ChangedProfiles): Promise<string[]> {
    return this.run(() => {
      const select =
        'profileIds' in changed
          ? { ids: JSON.stringify(changed.profileIds), from: null, to: null }
          : { ids: null, from: changed.fromSeq, to: changed.toSeq };
      const segments = new Set(this.stmt.segmentsOfChanged.all(select));
      const holders = this.stmt.holdersOfChanged.all(select);
      return concernedBy(this.stmt.listDestinations.all().map(toDestination), segments, holders);
    });
  }

  unannouncedWrites(olderThanMs: number): Promise<UnannouncedWrite[]> {
    return this.run(() =>
      this.stmt.unannounced.all(Date.now() - olderThanMs).map((r) => ({ firstSeq: r.first_seq, lastSeq: r.last_seq })),
    );
  }

  markAnnounced(lastSeqs: number[]): Promise<void> {
    return this.run(() => {
      if (lastSeqs.length > 0) this.stmt.markAnnounced.run(JSON.stringify(lastSeqs));
    });
  }

  requestErasure(profileIds: string[]): Promise<{ found: string[]; lastSeq: number }> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const rows = this.stmt.snapshotsOf.all(JSON.stringify([...new Set(profileIds)]));
          if (rows.length === 0) return { found: [], lastSeq: 0 };
          const now = Date.now();
          for (const r of rows) this.stmt.addErasure.run(r.profile_id, now);
          const { lastSeq } = this.writeProfiles(
            rows.map((r) => ({
              profileId: r.profile_id,
              snapshot: erasureTombstone(r.profile_id, JSON.parse(r.snapshot) as ProfileSnapshot),
            })),
          );
          return { found: rows.map((r) => r.profile_id), lastSeq };
        })
        .immediate(),
    );
  }

  pendingErasures(profileIds?: string[]): Promise<{ profileId: string; requestedAt: Date }[]> {
    return this.run(() =>
      this.stmt.erasures
        .all({ ids: profileIds === undefined ? null : JSON.stringify(profileIds) })
        .map((r) => ({ profileId: r.profile_id, requestedAt: new Date(r.requested_at) })),
    );
  }

  ledgerHoldings(profileIds: string[]): Promise<LedgerHolding[]> {
    return this.run(() =>
      this.stmt.holdingsOf.all(JSON.stringify(profileIds)).map((r) => ({
        destinationId: r.destination_id,
        profileId: r.profile_id,
        projection: JSON.parse(r.projection) as Projection,
      })),
    );
  }

  purgeProfiles(profileIds: string[]): Promise<void> {
    return this.run(() => {
      if (profileIds.length === 0) return;
      // secure_delete (set at open) zeroes the deleted cells and freed pages in the file. Only
      // profiles whose erasure is still requested go: one written again meanwhile is a new profile.
      this.db
        .transaction(() => {
          const requested = this.stmt.erasures.all({ ids: JSON.stringify(profileIds) }).map((r) => r.profile_id);
          const ids = JSON.stringify(requested);
          if (requested.length > 0) for (const purge of this.stmt.purge) purge.run(ids);
        })
        .immediate();
      // The WAL still holds page images with the old values: copy them back and truncate it.
      // A reader of another connection can hold the checkpoint back for a moment: try again.
      for (let attempt = 0; ; attempt++) {
        const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
        if (result?.busy === 0 || attempt >= 50) break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    });
  }

  /** The stored owners of the identities of the snapshots without profileId (the others do not look them up). */
  private identityOwners(profiles: { snapshot: ProfileSnapshot }[]): Map<string, string> {
    const owners = new Map<string, string>();
    for (const { snapshot } of profiles) {
      if (snapshot.profileId !== undefined) continue;
      for (const key of identityKeysOf(snapshot)) {
        const owner = this.stmt.identityOwner.get(key.namespace, key.id);
        if (owner !== undefined) owners.set(identityKeyText(key), owner);
      }
    }
    return owners;
  }

  /** Points the profile's identities at it and drops the ones it no longer has; unchanged identities write nothing. */
  private syncIdentities(profileId: string, snapshot: ProfileSnapshot): void {
    const wanted = new Map(identityKeysOf(snapshot).map((key) => [identityKeyText(key), key]));
    for (const held of this.stmt.identitiesOf.all(profileId)) {
      if (!wanted.delete(identityKeyText(held))) this.stmt.removeIdentity.run(held.namespace, held.id, profileId);
    }
    for (const key of wanted.values()) this.stmt.claimIdentity.run(key.namespace, key.id, profileId);
  }

  countChangesAfter(cursor: number): Promise<number> {
    return this.run(() => this.stmt.countChangesAfter.get(cursor) ?? 0);
  }

  head(): Promise<number> {
    return this.run(() => this.stmt.head.get() ?? 0);
  }

  /**
   * The next `limit` ids of each segment (given once each; bounded index range scans); the candidate query orders
   * their union byte-wise and cuts it to `limit`: the cost of a page does not grow with the
   * segment's size, and a profile in two segments comes once.
   */
  private segmentPageIds(segmentIds: readonly string[], cursor: string | null, limit: number): string[] {
    const ids = new Set<string>();
    for (const segmentId of segmentIds) {
      for (const id of this.stmt.segmentPage.all(segmentId, cursor ?? '', limit)) ids.add(id);
    }
    return [...ids];
  }

  /**
   * The next `limit` profiles, by seq, changed after the change cursor under any of the segments (bounded
   * index range scans per segment, merged): the cost of a chunk grows with the changes that
   * concern the destination, not with all changes. A profile under two segments has the same seq
   * in both (see addMember) and comes once. Each full scan holds `limit` distinct profiles, so
   * the first `limit` of the merge are below the end of every scan: none is missed.
   */
  private changedIds(destination: string, segmentIds: readonly string[], cursor: number, limit: number): string[] {
    const changes: [string, number][] = [];
    for (const segment of new Set(segmentIds))
      changes.push(...this.stmt.segmentChanges.all({ segment, cursor, destination, limit }));
    changes.sort((a, b) => a[1] - b[1]);
    const ids = new Set<string>();
    for (const [id] of changes) {
      if (ids.size === limit) break;
      ids.add(id);
    }
    return [...ids];
  }

  countSegmentMembers(segmentIds: string[]): Promise<number> {
    return this.run(() =>
      segmentIds.length === 0 ? 0 : (this.stmt.countMembers.get(JSON.stringify([...new Set(segmentIds)])) ?? 0),
    );
  }

  readExportCandidates(view: LedgerView, range: CandidateRange): Promise<ExportCandidate[]> {
    return this.run(() => {
      const spec = view.changeKey;
      // Spec ids are hex digits: quoting is enough to make a literal path step of one.
      const params = {
        destination: view.destinationId,
        key: spec && `$."${spec.id}"`,
        skip: view.skipUnchanged ? 1 : 0,
        limit: range.limit,
      };
      const { segmentIds } = view;
      let rows: CandidateRow[];
      if (!('segmentIds' in range)) {
        const { cursor, limit } = range;
        rows =
          segmentIds === null
            ? this.stmt.candidatesAfter.all({ ...params, cursor })
            : // One read transaction: the candidates are the profiles as the change scan saw them.
              this.db.transaction(() => {
                const ids = this.changedIds(view.destinationId, segmentIds, cursor, limit);
                return ids.length === 0 ? [] : this.stmt.candidatesBySeqOf.all({ ...params, ids: JSON.stringify(ids) });
              })();
      } else {
        const segments = [...new Set(range.segmentIds)];
        if (segments.length === 1) {
          rows = this.stmt.candidatesOfSegment.all({
            ...params,
            segment: segments[0] as string,
            cursor: range.cursor ?? '',
          });
        } else {
          // Members of several segments, each once: their ids first, then their rows.
          const ids = this.segmentPageIds(segments, range.cursor, range.limit);
          if (ids.length === 0) return [];
          rows = this.stmt.candidatesOf.all({ ...params, ids: JSON.stringify(ids) });
        }
      }
      const stored = rows.map(storedCandidate);
      const candidates = stored.map((row) => toExportCandidate(spec, view.skipUnchanged, row));
      const computed = keysComputedOnRead(range, stored, candidates);
      if (computed.length > 0) {
        this.db
          .transaction(() => {
            for (const { profileId, seq, changeKey } of computed)
              this.stmt.keepKey.run({ key: params.key, value: changeKey, id: profileId, seq });
          })
          .immediate();
      }
      return candidates;
    });
  }

  readLedger(destinationId: string, profileIds: string[]): Promise<Map<string, Projection>> {
    return this.run(() => {
      const rows = profileIds.length === 0 ? [] : this.stmt.readLedger.all(destinationId, JSON.stringify(profileIds));
      return new Map(rows.map((r) => [r.profile_id, JSON.parse(r.projection) as Projection]));
    });
  }

  writeLedger(destinationId: string, entries: LedgerEntry[]): Promise<void> {
    return this.run(() => {
      const now = Date.now();
      // One parameter array, refilled per statement: spreading rows into arguments costs more.
      const params: (string | number | null)[] = [];
      const bind = (from: number, to: number): (string | number | null)[] => {
        params.length = 0;
        for (let i = from; i < to; i++) {
          const e = entries[i] as LedgerEntry;
          params.push(destinationId, e.profileId, JSON.stringify(e.projection), e.changeKey ?? null, now);
        }
        return params;
      };
      this.db
        .transaction(() => {
          let i = 0;
          for (; i + LEDGER_BATCH <= entries.length; i += LEDGER_BATCH)
            this.stmt.writeLedgerBatch.run(bind(i, i + LEDGER_BATCH));
          for (; i < entries.length; i++) this.stmt.writeLedger.run(bind(i, i + 1));
        })
        .immediate();
    });
  }

  readProfileCandidates(
    destinationId: string,
    changeKey: ChangeKeySpec | null,
    profileIds: string[],
  ): Promise<ExportCandidate[]> {
    return this.run(() => {
      if (profileIds.length === 0) return [];
      const rows = this.stmt.candidatesOf.all({
        destination: destinationId,
        key: changeKey && `$."${changeKey.id}"`,
        skip: 0,
        limit: profileIds.length,
        ids: JSON.stringify([...new Set(profileIds)]),
      });
      return rows.map((row) => toExportCandidate(changeKey, false, storedCandidate(row)));
    });
  }

  addDeadLetters(entries: DeadLetter[]): Promise<void> {
    return this.run(() => {
      const now = Date.now();
      this.db
        .transaction(() => {
          for (const e of entries) {
            this.stmt.removeDeadLetters.run({ destination: e.destinationId, ids: JSON.stringify([e.profileId]) });
            this.stmt.addDeadLetter.run(
              e.destinationId,
              e.profileId,
              e.reason,
              e.record,
              e.projection === undefined ? null : JSON.stringify(e.projection),
              e.createdAt?.getTime() ?? now,
            );
          }
        })
        .immediate();
    });
  }

  listDeadLetters(destinationId: string): Promise<DeadLetter[]> {
    return this.run(() =>
      this.stmt.listDeadLetters.all(destinationId).map((r) => ({
        destinationId: r.destination_id,
        profileId: r.profile_id,
        reason: r.reason,
        record: r.record,
        ...(r.projection === null ? {} : { projection: JSON.parse(r.projection) as Projection }),
        createdAt: new Date(r.created_at),
      })),
    );
  }

  deadLetteredProjections(destinationId: string, profileIds: string[]): Promise<Map<string, Projection | null>> {
    return this.run(() => {
      if (profileIds.length === 0) return new Map<string, Projection | null>();
      const rows = this.stmt.deadLetterProjections.all(destinationId, JSON.stringify(profileIds));
      return new Map(
        rows.map((r) => [r.profile_id, r.projection === null ? null : (JSON.parse(r.projection) as Projection)]),
      );
    });
  }

  removeDeadLetters(destinationId: string, profileIds: string[] | null): Promise<number> {
    return this.run(() => {
      if (profileIds !== null && profileIds.length === 0) return 0;
      const ids = profileIds === null ? null : JSON.stringify(profileIds);
      return this.stmt.removeDeadLetters.run({ destination: destinationId, ids }).changes;
    });
  }

  saveDestination(row: DestinationRow): Promise<void> {
    return this.run(() => {
      const activation = row.activation === null ? null : JSON.stringify(row.activation);
      const now = Date.now();
      this.stmt.saveDestination.run(row.id, JSON.stringify(row.settings ?? null), activation, now, now);
    });
  }

  getDestination(id: string): Promise<DestinationRow | undefined> {
    return this.run(() => {
      const row = this.stmt.getDestination.get(id);
      return row && toDestination(row);
    });
  }

  listDestinations(): Promise<DestinationRow[]> {
    return this.run(() => this.stmt.listDestinations.all().map(toDestination));
  }

  deleteDestination(id: string): Promise<DestinationRemoval> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const ledgerEntries = this.stmt.deleteLedger.run(id).changes;
          const deadLetters = this.stmt.removeDeadLetters.run({ destination: id, ids: null }).changes;
          const destination = this.stmt.deleteDestination.run(id).changes > 0;
          this.stmt.markDeleted.run(id, Date.now());
          const deletedAt = new Date(this.stmt.deletedAt.get(id) ?? Date.now());
          return { destination, ledgerEntries, deadLetters, deletedAt };
        })
        .immediate(),
    );
  }

  destinationDeletedAt(id: string): Promise<Date | null> {
    return this.run(() => {
      const at = this.stmt.deletedAt.get(id);
      return at === undefined ? null : new Date(at);
    });
  }

  close(): Promise<void> {
    return this.run(() => {
      if (this.db.open) this.db.close();
    });
  }

  /**
   * Runs synchronous work as a promise; a throw becomes a rejection, as callers of an async store
   * expect. Work that finds the file locked by another writer (an ingest process beside the
   * worker) is tried again for up to a minute: it failed taking the lock, before changing anything.
   */
  private async run<T>(work: () => T): Promise<T> {
    const deadline = Date.now() + BUSY_RETRY_FOR_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return work();
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
      }
      await delay(Math.min(BUSY_WAIT_MS * 2 ** attempt, 1000));
    }
  }
}
