import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Activation } from '../domain/activation';
import type { ChangeKeySpec } from '../domain/changeKey';
import type { ProfileSnapshot } from '../domain/profile';
import type { Projection } from '../domain/projection';
import { migrateSqlite } from './migrations';
import { latestPerProfile, memberSegmentIds, toExportCandidate } from './store';
import type { CandidateRange, DeadLetter, DestinationRow, ExportCandidate, LedgerEntry, LedgerView, Store } from './store';

/** seq, profile_id, snapshot, change key now, ledger's change key, ledger's projection. */
type CandidateRow = [number, string, string, string | null, string | null, string | null];

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

/** A JSON path of SQLite's JSON functions with every step quoted, so any key is taken literally. */
function jsonPath(steps: readonly string[]): string {
  return `$${steps.map((step) => `."${step.replace(/["\\]/g, '\\$&')}"`).join('')}`;
}

/**
 * The SQL of a spec's change key over `p.snapshot`, with its parameters: computed inside SQLite,
 * whose JSON functions parse a snapshot once per row however many paths are read.
 */
function changeKeySql(spec: ChangeKeySpec | null): { sql: string; params: string[] } {
  if (spec === null) return { sql: 'NULL', params: [] };
  const memberships = spec.segmentIds.map(() => "coalesce(json_extract(p.snapshot, ?) IN ('realized', 'existing'), 0)");
  const attributes = spec.attributePaths.map(() => 'p.snapshot -> ?');
  return {
    sql: `json_array(?, ${[...memberships, "p.snapshot -> '$.identityMap'", ...attributes].join(', ')})`,
    params: [
      spec.id,
      ...spec.segmentIds.map((id) => jsonPath(['segmentMembership', 'ups', id, 'status'])),
      ...spec.attributePaths.map(jsonPath),
    ],
  };
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

/** Distinct change key specs whose candidate statements stay prepared; mappings change rarely. */
const MAX_CACHED_SPECS = 16;

function prepareStatements(db: Database.Database) {
  return {
    // Reserves `count` seqs at once; the transaction holds SQLite's write lock, so no other
    // writer (in this or another process) can commit a seq in between.
    reserveSeqs: db
      .prepare<[number], number>("UPDATE sequences SET value = value + ? WHERE name = 'profile_seq' RETURNING value")
      .pluck(),
    upsertProfile: db.prepare<[string, number, string, number]>(
      `INSERT INTO profiles (profile_id, seq, snapshot, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (profile_id) DO UPDATE SET seq = excluded.seq, snapshot = excluded.snapshot, updated_at = excluded.updated_at`,
    ),
    segmentsOf: db.prepare<[string], string>('SELECT segment_id FROM profile_segments WHERE profile_id = ?').pluck(),
    addMember: db.prepare<[string, string]>('INSERT OR IGNORE INTO profile_segments (segment_id, profile_id) VALUES (?, ?)'),
    removeMember: db.prepare<[string, string]>('DELETE FROM profile_segments WHERE segment_id = ? AND profile_id = ?'),
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
    writeLedger: db.prepare<(string | number | null)[]>(ledgerUpsert(1)),
    writeLedgerBatch: db.prepare<(string | number | null)[]>(ledgerUpsert(LEDGER_BATCH)),
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
    getDestination: db.prepare<[string], DestinationDbRow>('SELECT id, settings, activation FROM destinations WHERE id = ?'),
    listDestinations: db.prepare<[], DestinationDbRow>('SELECT id, settings, activation FROM destinations ORDER BY id'),
  };
}

/**
 * The embedded store: one SQLite file in WAL mode (readers never block the writer), shared
 * safely by several processes on one host (a worker and the CLI). better-sqlite3 is synchronous;
 * the methods still return promises to satisfy the Store interface.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmt: ReturnType<typeof prepareStatements>;
  private readonly candidateStatements = new Map<string, { statement: Database.Statement<unknown[], CandidateRow>; params: string[] }>();

  /** Opens (creating the parent directory) and migrates the file at `path`, or an in-memory database for ':memory:'. */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    try {
      this.db.pragma('journal_mode = WAL');
      // With WAL, NORMAL loses at most the last commits on power loss, never consistency.
      this.db.pragma('synchronous = NORMAL');
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
      return this.db
        .transaction(() => {
          const lastSeq = this.stmt.reserveSeqs.get(latest.length);
          if (lastSeq === undefined) throw new Error('profile_seq row is missing from the sequences table');
          const now = Date.now();
          let seq = lastSeq - latest.length;
          for (const { profileId, snapshot } of latest) {
            this.stmt.upsertProfile.run(profileId, ++seq, JSON.stringify(snapshot), now);
            this.syncMembership(profileId, memberSegmentIds(snapshot));
          }
          return { lastSeq };
        })
        .immediate();
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
    return this.run(() => (segmentIds.length === 0 ? 0 : (this.stmt.countMembers.get(JSON.stringify([...new Set(segmentIds)])) ?? 0)));
  }

  readExportCandidates(view: LedgerView, range: CandidateRange): Promise<ExportCandidate[]> {
    return this.run(() => {
      let rows: CandidateRow[];
      if ('afterSeq' in range) {
        const { statement, params } = this.candidateStatement(view.changeKey, 'seq');
        rows = statement.all(...params, view.destinationId, range.afterSeq, range.limit);
      } else {
        const ids = this.segmentPageIds(range.segmentIds, range.afterProfileId, range.limit);
        if (ids.length === 0) return [];
        const { statement, params } = this.candidateStatement(view.changeKey, 'ids');
        rows = statement.all(...params, view.destinationId, JSON.stringify(ids), range.limit);
      }
      return rows.map(([seq, profileId, snapshot, changeKey, ledgerKey, projection]) =>
        toExportCandidate(view, seq, profileId, snapshot, changeKey, ledgerKey, projection),
      );
    });
  }

  /** The candidate read of a spec with its key's parameters, prepared once: by seq, or for a list of ids (one JSON array parameter). */
  private candidateStatement(spec: ChangeKeySpec | null, by: 'seq' | 'ids'): { statement: Database.Statement<unknown[], CandidateRow>; params: string[] } {
    const cacheKey = `${by} ${spec?.id ?? ''}`;
    let prepared = this.candidateStatements.get(cacheKey);
    if (prepared === undefined) {
      if (this.candidateStatements.size >= MAX_CACHED_SPECS) this.candidateStatements.clear();
      const key = changeKeySql(spec);
      const where = by === 'seq' ? 'p.seq > ? ORDER BY p.seq' : 'p.profile_id IN (SELECT value FROM json_each(?)) ORDER BY p.profile_id';
      const statement = this.db
        .prepare<unknown[], CandidateRow>(
          `SELECT p.seq, p.profile_id, p.snapshot, ${key.sql}, l.change_key, l.projection
           FROM profiles p LEFT JOIN ledger l ON l.destination_id = ? AND l.profile_id = p.profile_id
           WHERE ${where} LIMIT ?`,
        )
        .raw();
      prepared = { statement, params: key.params };
      this.candidateStatements.set(cacheKey, prepared);
    }
    return prepared;
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
      const values = (e: LedgerEntry) => [destinationId, e.profileId, JSON.stringify(e.projection), e.changeKey ?? null, now];
      this.db
        .transaction(() => {
          let i = 0;
          for (; i + LEDGER_BATCH <= entries.length; i += LEDGER_BATCH) this.stmt.writeLedgerBatch.run(...entries.slice(i, i + LEDGER_BATCH).flatMap(values));
          for (; i < entries.length; i++) this.stmt.writeLedger.run(...values(entries[i] as LedgerEntry));
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
            this.stmt.addDeadLetter.run(e.destinationId, e.profileId, e.reason, e.record, e.createdAt?.getTime() ?? now);
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

  /** Runs synchronous work as a promise; a throw becomes a rejection, as callers of an async store expect. */
  private run<T>(work: () => T): Promise<T> {
    return new Promise((resolve) => resolve(work()));
  }
}
