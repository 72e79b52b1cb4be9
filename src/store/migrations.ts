import type BetterSqlite3 from 'better-sqlite3';
import type { ClientBase } from 'pg';

/**
 * One numbered schema step. Applied versions are recorded in `schema_migrations`; a step is
 * never edited once released, a change is a new step. The dialects differ in types (json,
 * timestamptz, identity columns, collations), so each step carries the SQL of both.
 */
export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

/*
 * Ids are compared byte-wise on both dialects (SQLite's BINARY, PostgreSQL's "C" collation), so
 * paging by profile id gives the same order on either store and does not depend on the
 * database's locale (a glibc locale upgrade cannot reorder or corrupt these indexes).
 * Times are epoch milliseconds on SQLite and timestamptz on PostgreSQL.
 * profile_segments has no foreign key to profiles: only upsertProfiles writes it, in the same
 * transaction as the profile, and a per-row key check doubled the cost of a page on PostgreSQL.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'profiles and segment membership',
    sqlite: `
      CREATE TABLE profiles (
        profile_id TEXT NOT NULL PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        snapshot TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      -- Writers are serialized by SQLite's write lock; this row is the change sequence, kept apart
      -- from max(seq) so a seq is never handed out twice even if profiles are deleted some day.
      CREATE TABLE sequences (
        name TEXT NOT NULL PRIMARY KEY,
        value INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO sequences (name, value) VALUES ('profile_seq', 0);
      CREATE TABLE profile_segments (
        segment_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        PRIMARY KEY (segment_id, profile_id)
      ) WITHOUT ROWID;
      CREATE INDEX profile_segments_by_profile ON profile_segments (profile_id);
    `,
    postgres: `
      CREATE SEQUENCE profile_seq AS bigint;
      CREATE TABLE profiles (
        profile_id text COLLATE "C" NOT NULL PRIMARY KEY,
        seq bigint NOT NULL UNIQUE,
        -- json (not jsonb): kept as written, cheaper to store, never queried inside.
        snapshot json NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE profile_segments (
        segment_id text COLLATE "C" NOT NULL,
        profile_id text COLLATE "C" NOT NULL,
        PRIMARY KEY (segment_id, profile_id)
      );
      CREATE INDEX profile_segments_by_profile ON profile_segments (profile_id);
    `,
  },
  {
    version: 2,
    name: 'export ledger and dead letters',
    sqlite: `
      CREATE TABLE ledger (
        destination_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        projection TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (destination_id, profile_id)
      );
      CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        destination_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        record TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX dead_letters_by_destination ON dead_letters (destination_id, id);
    `,
    postgres: `
      CREATE TABLE ledger (
        destination_id text COLLATE "C" NOT NULL,
        profile_id text COLLATE "C" NOT NULL,
        projection json NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (destination_id, profile_id)
      );
      CREATE TABLE dead_letters (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        destination_id text COLLATE "C" NOT NULL,
        profile_id text COLLATE "C" NOT NULL,
        reason text NOT NULL,
        record text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX dead_letters_by_destination ON dead_letters (destination_id, id);
    `,
  },
  {
    version: 3,
    name: 'destinations',
    sqlite: `
      CREATE TABLE destinations (
        id TEXT NOT NULL PRIMARY KEY,
        settings TEXT NOT NULL,
        activation TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
    postgres: `
      CREATE TABLE destinations (
        id text COLLATE "C" NOT NULL PRIMARY KEY,
        settings json NOT NULL,
        activation json,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 4,
    name: 'change key in the ledger',
    sqlite: `ALTER TABLE ledger ADD COLUMN change_key TEXT;`,
    postgres: `ALTER TABLE ledger ADD COLUMN change_key text;`,
  },
  {
    version: 5,
    name: 'change keys of each snapshot',
    // Spec id -> the snapshot's change key under that mapping, for the mappings of the destinations
    // activated when the snapshot was written; rewritten whole with each snapshot.
    sqlite: `ALTER TABLE profiles ADD COLUMN change_keys TEXT;`,
    postgres: `ALTER TABLE profiles ADD COLUMN change_keys jsonb;`,
  },
  {
    version: 6,
    name: 'changes routed by segment',
    // Every membership row of a profile carries the seq of its latest write; a row of a segment the
    // profile left stays, as an exit (member false): a destination reads the changes under its
    // mapped segments only, exits of profiles its ledger holds included.
    sqlite: `
      ALTER TABLE profile_segments ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE profile_segments ADD COLUMN member INTEGER NOT NULL DEFAULT 1;
      UPDATE profile_segments
        SET seq = coalesce((SELECT p.seq FROM profiles p WHERE p.profile_id = profile_segments.profile_id), 0);
      CREATE INDEX profile_segments_by_seq ON profile_segments (segment_id, seq, member);
    `,
    postgres: `
      ALTER TABLE profile_segments
        ADD COLUMN seq bigint NOT NULL DEFAULT 0,
        ADD COLUMN member boolean NOT NULL DEFAULT true;
      UPDATE profile_segments ps SET seq = p.seq FROM profiles p WHERE p.profile_id = ps.profile_id;
      CREATE INDEX profile_segments_by_seq ON profile_segments (segment_id, seq) INCLUDE (profile_id, member);
    `,
  },
  {
    version: 7,
    name: 'announcement outbox, erasure requests, ledger by profile',
    // announcement_outbox: one row per profile write (its seq range), written in the write's
    // transaction and deleted once its destinations were told: what no one announced yet.
    // erasure_requests: profiles being forgotten, from their exit records to their purge.
    // ledger_by_profile: which destinations hold a profile (announcements, erasure).
    sqlite: `
      CREATE TABLE announcement_outbox (
        last_seq INTEGER NOT NULL PRIMARY KEY,
        first_seq INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE erasure_requests (
        profile_id TEXT NOT NULL PRIMARY KEY,
        requested_at INTEGER NOT NULL
      );
      CREATE INDEX ledger_by_profile ON ledger (profile_id);
    `,
    postgres: `
      CREATE TABLE announcement_outbox (
        last_seq bigint NOT NULL PRIMARY KEY,
        first_seq bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE erasure_requests (
        profile_id text COLLATE "C" NOT NULL PRIMARY KEY,
        requested_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX ledger_by_profile ON ledger (profile_id);
    `,
  },
  {
    version: 8,
    name: 'identity index',
    // Identity (namespace lower-cased, id) -> the profile it belongs to (domain/profileIdentity):
    // a snapshot without profileId that shares one is that profile. Filled from the stored
    // snapshots; where two profiles share an identity, the one written last keeps it.
    sqlite: `
      CREATE TABLE profile_identities (
        namespace TEXT NOT NULL,
        identity TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        PRIMARY KEY (namespace, identity)
      ) WITHOUT ROWID;
      CREATE INDEX profile_identities_by_profile ON profile_identities (profile_id);
      INSERT OR IGNORE INTO profile_identities (namespace, identity, profile_id)
        SELECT lower(ns.key), json_extract(i.value, '$.id'), p.profile_id
        FROM profiles p, json_each(p.snapshot, '$.identityMap') ns, json_each(ns.value) i
        ORDER BY p.seq DESC;
    `,
    postgres: `
      CREATE TABLE profile_identities (
        namespace text COLLATE "C" NOT NULL,
        identity text COLLATE "C" NOT NULL,
        profile_id text COLLATE "C" NOT NULL,
        PRIMARY KEY (namespace, identity)
      );
      CREATE INDEX profile_identities_by_profile ON profile_identities (profile_id);
      INSERT INTO profile_identities (namespace, identity, profile_id)
        SELECT DISTINCT ON (lower(ns.key), i.value ->> 'id') lower(ns.key), i.value ->> 'id', p.profile_id
        FROM profiles p, json_each(p.snapshot -> 'identityMap') ns, json_array_elements(ns.value) i
        ORDER BY lower(ns.key), i.value ->> 'id', p.seq DESC;
    `,
  },
  {
    version: 9,
    name: 'dead letters by profile, deleted destinations',
    // dead_letters.projection: what the record would have put in the ledger, so later changes of the
    // profile are decided against the export that is owed (domain/deadLetterRule); null in older rows.
    // deleted_destinations: ids whose destination was deleted, so every command can say so.
    sqlite: `
      ALTER TABLE dead_letters ADD COLUMN projection TEXT;
      CREATE INDEX dead_letters_by_profile ON dead_letters (destination_id, profile_id);
      CREATE TABLE deleted_destinations (
        id TEXT NOT NULL PRIMARY KEY,
        deleted_at INTEGER NOT NULL
      );
    `,
    postgres: `
      ALTER TABLE dead_letters ADD COLUMN projection json;
      CREATE INDEX dead_letters_by_profile ON dead_letters (destination_id, profile_id);
      CREATE TABLE deleted_destinations (
        id text COLLATE "C" NOT NULL PRIMARY KEY,
        deleted_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];

const SQLITE_MIGRATIONS_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`;

const POSTGRES_MIGRATIONS_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer NOT NULL PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`;

/** Advisory lock key ("ka" + 1) that serializes migration runs of all workers sharing a database. */
const POSTGRES_MIGRATION_LOCK = 0x6b61_0001;

function pending(applied: Set<number>): Migration[] {
  return migrations.filter((m) => !applied.has(m.version));
}

/**
 * Applies the missing steps in one IMMEDIATE transaction: it takes SQLite's write lock up front,
 * so a second process opening the same file waits (busy timeout) and then finds nothing to do.
 * A file already up to date is only read: opening it (a CLI beside a busy worker) takes no lock.
 */
export function migrateSqlite(db: BetterSqlite3.Database): void {
  if (pending(appliedSqlite(db)).length === 0) return;
  db.transaction(() => {
    db.exec(SQLITE_MIGRATIONS_TABLE);
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const m of pending(appliedSqlite(db))) {
      db.exec(m.sqlite);
      record.run(m.version, m.name, Date.now());
    }
  }).immediate();
}

function appliedSqlite(db: BetterSqlite3.Database): Set<number> {
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (hasTable === undefined) return new Set();
  return new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
}

/**
 * Applies the missing steps. The caller runs this inside one transaction: the transaction-level
 * advisory lock makes workers starting together against one database wait for each other
 * (CREATE TABLE IF NOT EXISTS alone still fails on concurrent creation), and is released at
 * commit or rollback.
 */
export async function migratePostgres(client: ClientBase): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [POSTGRES_MIGRATION_LOCK]);
  await client.query(POSTGRES_MIGRATIONS_TABLE);
  const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
  for (const m of pending(new Set(rows.map((r) => r.version)))) {
    await client.query(m.postgres);
    await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
  }
}
