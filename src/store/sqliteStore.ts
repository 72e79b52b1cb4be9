import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { Activation } from '../domain/activation';
import type { ProfileSnapshot } from '../domain/profile';
import type { Projection } from '../domain/projection';
import { migrateSqlite } from './migrations';
import {
  activatedSpecs,
  changeKeysOf,
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
  DestinationRow,
  ExportCandidate,
  LedgerEntry,
  LedgerHolding,
  LedgerView,
  ProfilePatch,
  Store,
  UnannouncedWrite,
} from './store';

/** seq, profile_id, snapshot (null: unchanged), stored change key, ledger's projection. */
type CandidateRow = [number, string, string | null, string | null, string | null];

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
 * its last export. SQLite parses the small change_keys text once per row for all three uses.
 */
function candidatesSql(where: string): string {
  return `SELECT p.seq, p.profile_id,
      CASE WHEN @skip AND p.change_keys ->> @key = l.change_key THEN NULL ELSE p.snapshot END,
      p.change_keys ->> @key,
      CASE WHEN @skip AND p.change_keys ->> @key = l.change_key THEN NULL ELSE l.projection END
    FROM profiles p
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
    upsertProfile: db.prepare<[string, number, string, string, number]>(
      `INSERT INTO profiles (profile_id, seq, snapshot, change_keys, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (profile_id) DO UPDATE
         SET seq = excluded.seq, snapshot = excluded.snapshot, change_keys = excluded.change_keys, updated_at = excluded.updated_at`,
    ),
    // Only while the profile still has the snapshot the key was computed from.
    keepKey: db.prepare<[{ key: string | null; value: string; id: string; seq: number }]>(
      `UPDATE profiles SET change_keys = json_set(coalesce(change_keys, '{}'), @key, @value) WHERE profile_id = @id AND seq = @seq`,
    ),
    activations: db.prepare<[], string>('SELECT activation FROM destinations WHERE activation IS NOT NULL').pluck(),
    candidatesSince: db
      .prepare<[CandidateParams & { after: number }], CandidateRow>(candidatesSql('p.seq > @after ORDER BY p.seq'))
      .raw(),
    candidatesOf: db
      .prepare<[CandidateParams & { ids: string }], CandidateRow>(
        candidatesSql('p.profile_id IN (SELECT value FROM json_each(@ids)) ORDER BY p.profile_id'),
      )
      .raw(),
    segmentsOf: db.prepare<[string], string>('SELECT segment_id FROM profile_segments WHERE profile_id = ?').pluck(),
    addMember: db.prepare<[string, string]>(
      'INSERT OR IGNORE INTO profile_segments (segment_id, profile_id) VALUES (?, ?)',
    ),
    removeMember: db.prepare<[string, string]>('DELETE FROM profile_segments WHERE segment_id = ? AND profile_id = ?'),
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
        `SELECT DISTINCT ps.segment_id FROM profile_segments ps WHERE ps.profile_id IN (${CHANGED_SQL})`,
      )
      .pluck(),
    holdersOfChanged: db
      .prepare<[ChangedParams], string>(
        `SELECT DISTINCT l.destination_id FROM ledger l WHERE l.profile_id IN (${CHANGED_SQL})`,
      )
      .pluck(),
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
    purge: ['profiles', 'profile_segments', 'ledger', 'dead_letters', 'erasure_requests'].map((table) =>
      db.prepare<[string]>(`DELETE FROM ${table} WHERE profile_id IN (SELECT value FROM json_each(?))`),
    ),
    countSince: db.prepare<[number], number>('SELECT count(*) FROM profiles WHERE seq > ?').pluck(),
    maxSeq: db.prepare<[], number>('SELECT coalesce(max(seq), 0) FROM profiles').pluck(),
    // An index range scan on (segment_id, profile_id) that stops after `limit` rows.
    segmentPage: db
      .prepare<[string, string, number], string>(
        'SELECT profile_id FROM profile_segments WHERE segment_id = ? AND profile_id > ? ORDER BY profile_id LIMIT ?',
      )
      .pluck(),
    countMembers: db
      .prepare<[string], number>(
        'SELECT count(DISTINCT profile_id) FROM profile_segments WHERE segment_id IN (SELECT value FROM json_each(?))',
      )
      .pluck(),
    readLedger: db.prepare<[string, string], { profile_id: string; projection: string }>(
      `SELECT profile_id, projection FROM ledger
       WHERE destination_id = ? AND profile_id IN (SELECT value FROM json_each(?))`,
    ),
    writeLedger: db.prepare<[(string | number | null)[]]>(ledgerUpsert(1)),
    writeLedgerBatch: db.prepare<[(string | number | null)[]]>(ledgerUpsert(LEDGER_BATCH)),
    addDeadLetter: db.prepare<[string, string, string, string, number]>(
      'INSERT INTO dead_letters (destination_id, profile_id, reason, record, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
    listDeadLetters: db.prepare<[string], DeadLetterRow>(
      `SELECT destination_id, profile_id, reason, record, created_at FROM dead_letters
       WHERE destination_id = ? ORDER BY id`,
    ),
    saveDestination: db.prepare<[string, string, string | null, number, number]>(
      `INSERT INTO destinations (id, settings, activation, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, activation = excluded.activation, updated_at = excluded.updated_at`,
    ),
    getDestination: db.prepare<[string], DestinationDbRow>(
      'SELECT id, settings, activation FROM destinations WHERE id = ?',
    ),
    listDestinations: db.prepare<[], DestinationDbRow>('SELECT id, settings, activation FROM destinations ORDER BY id'),
  };
}

/** How long one attempt waits for another writer's lock, synchronously. */
const BUSY_WAIT_MS = 50;
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
    // for as long: wait briefly here, and longer, asynchronously, in `run`.
    this.db = new Database(path, { timeout: BUSY_WAIT_MS });
    try {
      this.db.pragma('journal_mode = WAL');
      // With WAL, NORMAL loses at most the last commits on power loss, never consistency.
      this.db.pragma('synchronous = NORMAL');
      // Deleted content is overwritten with zeros: an erased profile leaves no bytes behind.
      this.db.pragma('secure_delete = ON');
      migrateSqlite(this.db);
      this.stmt = prepareStatements(this.db);
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  upsertProfiles(profiles: { profileId: string; snapshot: ProfileSnapshot }[]): Promise<{ lastSeq: number }> {
    return this.run(() => {
      const latest = latestPerProfile(profiles);
      if (latest.length === 0) return { lastSeq: this.stmt.maxSeq.get() ?? 0 };
      // IMMEDIATE takes the write lock at BEGIN, so a concurrent writer waits instead of failing
      // with SQLITE_BUSY when upgrading a read transaction. One writer at a time also means seqs
      // commit in increasing order: a reader's seq cursor never passes a row committed later.
      return this.db.transaction(() => this.writeProfiles(latest)).immediate();
    });
  }

  /** Writes distinct profiles, with their announcement outbox row; runs inside a write transaction. */
  private writeProfiles(latest: { profileId: string; snapshot: ProfileSnapshot }[]): { lastSeq: number } {
    const lastSeq = this.stmt.reserveSeqs.get(latest.length);
    if (lastSeq === undefined) throw new Error('profile_seq row is missing from the sequences table');
    const now = Date.now();
    const specs = activatedSpecs(this.stmt.activations.all().map((a) => JSON.parse(a) as Activation));
    let seq = lastSeq - latest.length;
    for (const { profileId, snapshot } of latest) {
      this.stmt.upsertProfile.run(profileId, ++seq, JSON.stringify(snapshot), changeKeysOf(specs, snapshot), now);
      this.syncMembership(profileId, memberSegmentIds(snapshot));
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
          const { lastSeq } = merged.length > 0 ? this.writeProfiles(merged) : { lastSeq: this.stmt.maxSeq.get() ?? 0 };
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
      const ids = JSON.stringify(profileIds);
      // secure_delete (set at open) zeroes the deleted cells and freed pages in the file.
      this.db
        .transaction(() => {
          for (const purge of this.stmt.purge) purge.run(ids);
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

  /** Changes only the membership rows that differ, so an unchanged membership writes nothing. */
  private syncMembership(profileId: string, segmentIds: string[]): void {
    const wanted = new Set(segmentIds);
    for (const segmentId of this.stmt.segmentsOf.all(profileId)) {
      if (!wanted.delete(segmentId)) this.stmt.removeMember.run(segmentId, profileId);
    }
    for (const segmentId of wanted) this.stmt.addMember.run(segmentId, profileId);
  }

  countProfilesSince(afterSeq: number): Promise<number> {
    return this.run(() => this.stmt.countSince.get(afterSeq) ?? 0);
  }

  maxSeq(): Promise<number> {
    return this.run(() => this.stmt.maxSeq.get() ?? 0);
  }

  /**
   * The next `limit` ids of each segment (bounded index range scans); the candidate query orders
   * their union byte-wise and cuts it to `limit`: the cost of a page does not grow with the
   * segment's size, and a profile in two segments comes once.
   */
  private segmentPageIds(segmentIds: string[], afterProfileId: string | null, limit: number): string[] {
    const ids = new Set<string>();
    for (const segmentId of new Set(segmentIds)) {
      for (const id of this.stmt.segmentPage.all(segmentId, afterProfileId ?? '', limit)) ids.add(id);
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
      let rows: CandidateRow[];
      if ('afterSeq' in range) rows = this.stmt.candidatesSince.all({ ...params, after: range.afterSeq });
      else {
        const ids = this.segmentPageIds(range.segmentIds, range.afterProfileId, range.limit);
        if (ids.length === 0) return [];
        rows = this.stmt.candidatesOf.all({ ...params, ids: JSON.stringify(ids) });
      }
      const candidates = rows.map(([seq, profileId, snapshot, changeKey, projection]) =>
        toExportCandidate(spec, seq, profileId, snapshot, changeKey, projection),
      );
      const computed = keysComputedOnRead(
        rows.map((row) => row[3]),
        candidates,
      );
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

  addDeadLetters(entries: DeadLetter[]): Promise<void> {
    return this.run(() => {
      const now = Date.now();
      this.db
        .transaction(() => {
          for (const e of entries) {
            this.stmt.addDeadLetter.run(
              e.destinationId,
              e.profileId,
              e.reason,
              e.record,
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
        createdAt: new Date(r.created_at),
      })),
    );
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
