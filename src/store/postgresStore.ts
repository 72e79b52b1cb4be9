import { Pool } from 'pg';
import type { PoolClient, QueryResult, QueryResultRow } from 'pg';
import type { Activation } from '../domain/activation';
import type { ProfileSnapshot } from '../domain/profile';
import { identityKeyText, identityKeysOf, resolveProfileIds } from '../domain/profileIdentity';
import type { IdentityKey } from '../domain/profileIdentity';
import type { Projection } from '../domain/projection';
import type { ChangeKeySpec } from '../domain/changeKey';
import { migratePostgres } from './migrations';
import { isPostgresConnectionLoss, StoreUnavailableError } from './storeUnavailable';
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

/**
 * Advisory lock key ("ka" + 2) held by every profile writer until its commit.
 *
 * Why: a sequence hands out values in call order but transactions commit in any order. Without
 * the lock, writer A could take seqs 1-10, writer B 11-20, B commits, a reader pages up to 20 and
 * moves its cursor there, then A commits rows 1-10 behind the cursor: they would never be read.
 * With the lock, a writer takes its seqs only after the previous writer committed, and
 * PostgreSQL makes a commit visible before it releases the transaction's locks, so every
 * committed seq is below every seq still in flight: whatever a reader sees, it also sees every
 * row below the highest seq it sees, so a seq cursor never skips a row.
 * Cost: profile writes are serialized (a 5,000-profile page takes two statements, about 0.2 s
 * here), and readers are never blocked. The alternative, reading only below the smallest seq of
 * any in-flight writer, needs bookkeeping of in-flight writers that a crashed worker could leave
 * behind.
 */
const PROFILE_WRITE_LOCK = 0x6b61_0002;

/** The highest seq given out (0: none); the head only where no writer is between nextval and commit. */
async function sequenceHead(client: PoolClient): Promise<number> {
  const { rows } = await client.query<{ head: string }>(
    'SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS head FROM profile_seq',
  );
  return Number(rows[0]?.head ?? 0);
}

interface DestinationDbRow {
  id: string;
  settings: unknown;
  activation: Activation | null;
}

/*
 * Batches travel as arrays expanded on the server, so one statement writes a whole page. Ids go
 * as text[]; JSON documents go as one JSON array text zipped with the ids by ROWS FROM: sending
 * them as a json[] literal costs three times as much (pg escapes every quote of every document).
 */
const UPSERT_PROFILES = `
  WITH written AS (
    INSERT INTO profiles (profile_id, seq, snapshot, change_keys, updated_at)
    SELECT t.profile_id, nextval('profile_seq'), t.snapshot, NULL, now()
    FROM ROWS FROM (unnest($1::text[]), json_array_elements($2::json)) WITH ORDINALITY AS t (profile_id, snapshot, ord)
    -- Volatile output expressions run after the sort: seqs follow the input order.
    ORDER BY t.ord
    ON CONFLICT (profile_id) DO UPDATE
      SET seq = EXCLUDED.seq, snapshot = EXCLUDED.snapshot, change_keys = NULL, updated_at = EXCLUDED.updated_at
    RETURNING seq
  )
  SELECT min(seq) AS first_seq, max(seq) AS last_seq FROM written`;

/*
 * Gives the membership rows of the written profiles the seq of their write: the wanted pairs
 * ($2, $3) as members, added when new; then the rows of the written profiles ($1) not written so
 * (segments they left) become exit rows with that seq. Every row of a profile carries its latest
 * seq, so a change is found under each segment it concerns (see READ_CHANGES).
 */
const SYNC_MEMBERS = `
  INSERT INTO profile_segments (segment_id, profile_id, seq, member)
  SELECT w.segment_id, w.profile_id, p.seq, true
  FROM unnest($1::text[], $2::text[]) AS w (profile_id, segment_id) JOIN profiles p ON p.profile_id = w.profile_id
  ON CONFLICT (segment_id, profile_id) DO UPDATE SET seq = EXCLUDED.seq, member = true`;

const MARK_EXITS = `
  UPDATE profile_segments ps SET seq = p.seq, member = false
  FROM profiles p
  WHERE ps.profile_id = ANY ($1::text[]) AND p.profile_id = ps.profile_id AND ps.seq <> p.seq`;

/** A write of the profile after its erasure was requested is a new profile: the purge leaves it. */
const CANCEL_ERASURES = 'DELETE FROM erasure_requests WHERE profile_id = ANY ($1::text[])';

const IDENTITY_OWNERS = `
  SELECT pi.namespace, pi.identity, pi.profile_id
  FROM profile_identities pi
  JOIN unnest($1::text[], $2::text[]) AS k (namespace, identity) USING (namespace, identity)`;

/** The stored owners of the identities of the snapshots without profileId (the others do not look them up). */
async function identityOwners(
  client: PoolClient,
  profiles: { snapshot: ProfileSnapshot }[],
): Promise<Map<string, string>> {
  const keys = profiles.filter((p) => p.snapshot.profileId === undefined).flatMap((p) => identityKeysOf(p.snapshot));
  const owners = new Map<string, string>();
  if (keys.length === 0) return owners;
  const { rows } = await client.query<{ namespace: string; identity: string; profile_id: string }>(IDENTITY_OWNERS, [
    keys.map((k) => k.namespace),
    keys.map((k) => k.id),
  ]);
  for (const r of rows) owners.set(identityKeyText({ namespace: r.namespace, id: r.identity }), r.profile_id);
  return owners;
}

/*
 * Points each written profile's ($1) identities at it and drops the ones it no longer has. Two
 * statements: one statement must not both delete and update the same row.
 */
const REMOVE_IDENTITIES = `
  DELETE FROM profile_identities pi
  WHERE pi.profile_id = ANY ($1::text[])
    AND NOT EXISTS (
      SELECT 1 FROM unnest($2::text[], $3::text[], $4::text[]) AS w (profile_id, namespace, identity)
      WHERE w.profile_id = pi.profile_id AND w.namespace = pi.namespace AND w.identity = pi.identity
    )`;
const CLAIM_IDENTITIES = `
  INSERT INTO profile_identities (namespace, identity, profile_id)
  SELECT namespace, identity, profile_id
  FROM unnest($1::text[], $2::text[], $3::text[]) AS w (profile_id, namespace, identity)
  ON CONFLICT (namespace, identity) DO UPDATE SET profile_id = EXCLUDED.profile_id
    WHERE profile_identities.profile_id <> EXCLUDED.profile_id`;

async function syncIdentities(
  client: PoolClient,
  ids: string[],
  latest: { profileId: string; snapshot: ProfileSnapshot }[],
): Promise<void> {
  // One owner per identity: the last profile written with it wins, as on SQLite.
  const wanted = new Map<string, { profileId: string; key: IdentityKey }>();
  for (const { profileId, snapshot } of latest) {
    for (const key of identityKeysOf(snapshot)) {
      const text = identityKeyText(key);
      wanted.delete(text);
      wanted.set(text, { profileId, key });
    }
  }
  const rows = [...wanted.values()];
  const columns = [rows.map((w) => w.profileId), rows.map((w) => w.key.namespace), rows.map((w) => w.key.id)];
  await client.query(REMOVE_IDENTITIES, [ids, ...columns]);
  await client.query(CLAIM_IDENTITIES, columns);
}

/*
 * Profiles with the destination's ($1) ledger entry and stored change key under the spec $2. A
 * profile whose stored key equals its ledger key comes without its snapshot and ledger entry
 * when $3 (skip unchanged) holds; the ledger's key comes too, for a key computed on read
 * (toExportCandidate). Texts are read as they are and parsed only when needed.
 */
const CANDIDATES = `
  SELECT p.seq, p.profile_id, p.change_keys ->> $2::text AS change_key,
    CASE WHEN $3 AND p.change_keys ->> $2::text = l.change_key THEN NULL ELSE p.snapshot::text END AS snapshot,
    CASE WHEN $3 AND p.change_keys ->> $2::text = l.change_key THEN NULL ELSE l.projection::text END AS projection,
    l.change_key AS ledger_key
  FROM profiles p
  LEFT JOIN ledger l ON l.destination_id = $1 AND l.profile_id = p.profile_id`;

/*
 * Keeps change keys a read computed ($1: spec id; $2..$4: profile, seq, key zipped) in the rows
 * that still hold the snapshot they were computed from. Rows a writer holds are skipped, not
 * waited for (they get their own keys): waiting could deadlock with a writer that locks the
 * same rows in another order.
 */
const KEEP_KEYS = `
  UPDATE profiles p SET change_keys = coalesce(p.change_keys, '{}'::jsonb) || jsonb_build_object($1::text, k.change_key)
  FROM unnest($2::text[], $3::bigint[], $4::text[]) AS k (profile_id, seq, change_key)
  WHERE p.profile_id = k.profile_id AND p.seq = k.seq
    AND p.profile_id IN (SELECT q.profile_id FROM profiles q
      WHERE q.profile_id = ANY ($2::text[]) FOR UPDATE SKIP LOCKED)`;

const READ_CANDIDATES_AFTER = `${CANDIDATES} WHERE p.seq > $4 ORDER BY p.seq LIMIT $5`;

const READ_CANDIDATES_OF = `${CANDIDATES} WHERE p.profile_id = ANY ($4::text[]) ORDER BY p.profile_id`;

/*
 * Members: for each requested segment ($4), at most `limit` ($6) ids from the (segment_id,
 * profile_id) index after the cursor ($5); the union is ordered and cut to `limit`, so a profile
 * in two segments comes once. The per-segment LIMIT lets the planner stop each range scan early
 * on large segments instead of sorting all remaining members of every segment on each page.
 */
const READ_CANDIDATE_MEMBERS = `${CANDIDATES}
  WHERE p.profile_id IN (
    SELECT DISTINCT m.profile_id
    FROM unnest($4::text[]) AS s (segment_id)
    CROSS JOIN LATERAL (
      SELECT ps.profile_id FROM profile_segments ps
      WHERE ps.segment_id = s.segment_id AND ps.profile_id > $5 AND ps.member
      ORDER BY ps.profile_id LIMIT $6
    ) m
    ORDER BY m.profile_id LIMIT $6
  )
  ORDER BY p.profile_id`;

/*
 * Changes after the change cursor ($5) under the destination's segments ($4): for each segment, at most
 * `limit` ($6) rows from the (segment_id, seq) index, members and the exits of profiles the
 * destination's ledger holds; the union is ordered by seq and cut to `limit`. A profile's rows
 * all carry its latest seq, so one under two segments comes once, and each full scan holds
 * `limit` distinct profiles: the first `limit` of the union are below the end of every scan.
 * The ledger is probed by key for exits only, as a scalar subquery: the planner may run an EXISTS
 * as a hash of every ledger row, built again for each chunk.
 */
const READ_CHANGES = `${CANDIDATES}
  WHERE p.profile_id IN (
    SELECT m.profile_id
    FROM unnest($4::text[]) AS s (segment_id)
    CROSS JOIN LATERAL (
      SELECT ps.profile_id, ps.seq FROM profile_segments ps
      WHERE ps.segment_id = s.segment_id AND ps.seq > $5
        AND (ps.member OR (SELECT true FROM ledger x WHERE x.destination_id = $1 AND x.profile_id = ps.profile_id) IS NOT NULL)
      ORDER BY ps.seq LIMIT $6
    ) m
    GROUP BY m.profile_id ORDER BY max(m.seq) LIMIT $6
  )
  ORDER BY p.seq`;

interface CandidateRow {
  seq: string;
  profile_id: string;
  change_key: string | null;
  snapshot: string | null;
  projection: string | null;
  ledger_key: string | null;
}

function storedCandidate(r: CandidateRow): StoredCandidate {
  return {
    seq: Number(r.seq),
    profileId: r.profile_id,
    snapshot: r.snapshot,
    changeKey: r.change_key,
    projection: r.projection,
    ledgerKey: r.ledger_key,
  };
}

const WRITE_LEDGER = `
  INSERT INTO ledger (destination_id, profile_id, projection, change_key, updated_at)
  SELECT $1, t.profile_id, t.projection, t.change_key, now()
  FROM ROWS FROM (unnest($2::text[]), json_array_elements($3::json), unnest($4::text[]))
    AS t (profile_id, projection, change_key)
  ON CONFLICT (destination_id, profile_id) DO UPDATE
    SET projection = EXCLUDED.projection, change_key = EXCLUDED.change_key, updated_at = EXCLUDED.updated_at`;

/* A profile keeps one dead letter per destination: the earlier ones of the written profiles go first. */
const REPLACED_DEAD_LETTERS = `
  DELETE FROM dead_letters d
  USING json_to_recordset($1::json) AS t (destination_id text, profile_id text)
  WHERE d.destination_id = t.destination_id AND d.profile_id = t.profile_id`;

const ADD_DEAD_LETTERS = `
  INSERT INTO dead_letters (destination_id, profile_id, reason, record, projection, created_at)
  SELECT t.destination_id, t.profile_id, t.reason, t.record, t.projection, coalesce(t.created_at, now())
  FROM ROWS FROM (
    json_to_recordset($1::json)
      AS (destination_id text, profile_id text, reason text, record text, projection json, created_at timestamptz)
  ) WITH ORDINALITY AS t (destination_id, profile_id, reason, record, projection, created_at, ord)
  ORDER BY t.ord`;

const SAVE_DESTINATION = `
  INSERT INTO destinations (id, settings, activation) VALUES ($1, $2::json, $3::json)
  ON CONFLICT (id) DO UPDATE
    SET settings = EXCLUDED.settings, activation = EXCLUDED.activation, updated_at = now()`;

/**
 * How long an operation waits for a lost server to come back (a restart takes a few seconds)
 * before it fails with StoreUnavailableError, and how long opening one connection may take.
 */
export const DEFAULT_STORE_WAIT_MS = 15_000;
const CONNECT_TIMEOUT_MS = 10_000;

export interface PostgresStoreOptions {
  /** See DEFAULT_STORE_WAIT_MS. */
  waitMs?: number;
}

/** The shared store for many workers: a pg connection pool on one PostgreSQL database. */
export class PostgresStore implements Store {
  private closed = false;

  private constructor(
    private readonly pool: Pool,
    /** How messages name it: server and database, never credentials. */
    private readonly name: string,
    private readonly waitMs: number,
  ) {}

  /** Connects to `url` (postgres://...), applies pending migrations and returns the store. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = new Pool({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    // An idle connection that breaks (server restart, network) is dropped from the pool and the
    // next query opens a new one; without a listener the 'error' event would crash the process.
    pool.on('error', () => undefined);
    const store = new PostgresStore(pool, storeName(url), options.waitMs ?? DEFAULT_STORE_WAIT_MS);
    try {
      await store.transaction((client) => migratePostgres(client));
    } catch (err) {
      await pool.end();
      throw err;
    }
    return store;
  }

  async upsertProfiles(profiles: { profileId: string; snapshot: ProfileSnapshot }[]): Promise<UpsertResult> {
    if (profiles.length === 0) return { lastSeq: await this.head(), profileIds: [], conflicts: [] };
    return this.transaction(async (client) => {
      // Resolved under the write lock (writeProfiles takes it again, a no-op): no other writer
      // gives one of these identities to another profile meanwhile.
      await client.query('SELECT pg_advisory_xact_lock($1)', [PROFILE_WRITE_LOCK]);
      const { resolved, conflicts } = resolveProfileIds(profiles, await identityOwners(client, profiles));
      const latest = latestPerProfile(resolved);
      if (latest.length === 0) {
        const { rows } = await client.query<{ max: string | null }>('SELECT max(seq) AS max FROM profiles');
        return { lastSeq: Number(rows[0]?.max ?? 0), profileIds: [], conflicts };
      }
      const profileIds = latest.map((p) => p.profileId);
      const written = await this.writeProfiles(client, latest);
      await client.query(CANCEL_ERASURES, [profileIds]);
      return { ...written, profileIds, conflicts };
    });
  }

  /** Writes distinct profiles, with their announcement outbox row, in the caller's transaction. */
  private async writeProfiles(
    client: PoolClient,
    latest: { profileId: string; snapshot: ProfileSnapshot }[],
  ): Promise<{ lastSeq: number }> {
    const ids = latest.map((p) => p.profileId);
    const memberIds: string[] = [];
    const memberSegments: string[] = [];
    for (const { profileId, snapshot } of latest) {
      for (const segmentId of memberSegmentIds(snapshot)) {
        memberIds.push(profileId);
        memberSegments.push(segmentId);
      }
    }
    await client.query('SELECT pg_advisory_xact_lock($1)', [PROFILE_WRITE_LOCK]);
    const { rows } = await client.query<{ first_seq: string; last_seq: string }>(UPSERT_PROFILES, [
      ids,
      JSON.stringify(latest.map((p) => p.snapshot)),
    ]);
    await client.query(SYNC_MEMBERS, [memberIds, memberSegments]);
    await client.query(MARK_EXITS, [ids]);
    await syncIdentities(client, ids, latest);
    const lastSeq = Number(rows[0]?.last_seq);
    await client.query('INSERT INTO announcement_outbox (last_seq, first_seq) VALUES ($1, $2)', [
      lastSeq,
      Number(rows[0]?.first_seq),
    ]);
    return { lastSeq };
  }

  async mergeProfiles(
    patches: ProfilePatch[],
  ): Promise<{ lastSeq: number; written: number; rejected: { index: number; reason: string }[] }> {
    return this.transaction(async (client) => {
      // Every profile writer takes this lock first, then the rows: the stored snapshots cannot
      // change between this read and the commit of the merged ones (FOR UPDATE also keeps out
      // any writer that does not take the lock).
      await client.query('SELECT pg_advisory_xact_lock($1)', [PROFILE_WRITE_LOCK]);
      const { rows } = await client.query<{ profile_id: string; snapshot: ProfileSnapshot }>(
        'SELECT profile_id, snapshot FROM profiles WHERE profile_id = ANY ($1::text[]) ORDER BY profile_id FOR UPDATE',
        [[...new Set(patches.map((p) => p.profileId))]],
      );
      const { merged, rejected } = mergePatches(new Map(rows.map((r) => [r.profile_id, r.snapshot])), patches);
      // This writer holds the lock: the sequence is the head.
      if (merged.length === 0) return { lastSeq: await sequenceHead(client), written: 0, rejected };
      const { lastSeq } = await this.writeProfiles(client, merged);
      await client.query(CANCEL_ERASURES, [merged.map((p) => p.profileId)]);
      return { lastSeq, written: merged.length, rejected };
    });
  }

  async destinationsConcerned(changed: ChangedProfiles): Promise<string[]> {
    const [where, params] =
      'profileIds' in changed
        ? ['x.profile_id = ANY ($1::text[])', [changed.profileIds]]
        : [
            'x.profile_id IN (SELECT profile_id FROM profiles WHERE seq BETWEEN $1 AND $2)',
            [changed.fromSeq, changed.toSeq],
          ];
    const [segments, holders, destinations] = await Promise.all([
      this.query<{ segment_id: string }>(
        `SELECT DISTINCT segment_id FROM profile_segments x WHERE x.member AND ${where}`,
        params,
      ),
      this.query<{ destination_id: string }>(`SELECT DISTINCT destination_id FROM ledger x WHERE ${where}`, params),
      this.listDestinations(),
    ]);
    return concernedBy(
      destinations,
      new Set(segments.rows.map((r) => r.segment_id)),
      holders.rows.map((r) => r.destination_id),
    );
  }

  async unannouncedWrites(olderThanMs: number): Promise<UnannouncedWrite[]> {
    const { rows } = await this.query<{ first_seq: string; last_seq: string }>(
      `SELECT first_seq, last_seq FROM announcement_outbox
       WHERE created_at <= now() - make_interval(secs => $1::double precision / 1000) ORDER BY last_seq`,
      [olderThanMs],
    );
    return rows.map((r) => ({ firstSeq: Number(r.first_seq), lastSeq: Number(r.last_seq) }));
  }

  async markAnnounced(lastSeqs: number[]): Promise<void> {
    if (lastSeqs.length === 0) return;
    await this.query('DELETE FROM announcement_outbox WHERE last_seq = ANY ($1::bigint[])', [lastSeqs]);
  }

  async requestErasure(profileIds: string[]): Promise<{ found: string[]; lastSeq: number }> {
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [PROFILE_WRITE_LOCK]);
      const { rows } = await client.query<{ profile_id: string; snapshot: ProfileSnapshot }>(
        'SELECT profile_id, snapshot FROM profiles WHERE profile_id = ANY ($1::text[]) ORDER BY profile_id FOR UPDATE',
        [[...new Set(profileIds)]],
      );
      if (rows.length === 0) return { found: [], lastSeq: 0 };
      const found = rows.map((r) => r.profile_id);
      await client.query('INSERT INTO erasure_requests (profile_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [
        found,
      ]);
      const { lastSeq } = await this.writeProfiles(
        client,
        rows.map((r) => ({ profileId: r.profile_id, snapshot: erasureTombstone(r.profile_id, r.snapshot) })),
      );
      return { found, lastSeq };
    });
  }

  async pendingErasures(profileIds?: string[]): Promise<{ profileId: string; requestedAt: Date }[]> {
    const { rows } = await this.query<{ profile_id: string; requested_at: Date }>(
      `SELECT profile_id, requested_at FROM erasure_requests
       WHERE $1::text[] IS NULL OR profile_id = ANY ($1::text[]) ORDER BY requested_at, profile_id`,
      [profileIds ?? null],
    );
    return rows.map((r) => ({ profileId: r.profile_id, requestedAt: r.requested_at }));
  }

  async ledgerHoldings(profileIds: string[]): Promise<LedgerHolding[]> {
    const { rows } = await this.query<{ destination_id: string; profile_id: string; projection: Projection }>(
      `SELECT destination_id, profile_id, projection FROM ledger
       WHERE profile_id = ANY ($1::text[]) ORDER BY destination_id, profile_id`,
      [profileIds],
    );
    return rows.map((r) => ({ destinationId: r.destination_id, profileId: r.profile_id, projection: r.projection }));
  }

  async purgeProfiles(profileIds: string[]): Promise<void> {
    if (profileIds.length === 0) return;
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [PROFILE_WRITE_LOCK]);
      // Only profiles whose erasure is still requested go: one written again meanwhile is a new profile.
      const { rows } = await client.query<{ profile_id: string }>(
        'SELECT profile_id FROM erasure_requests WHERE profile_id = ANY ($1::text[])',
        [profileIds],
      );
      const requested = rows.map((r) => r.profile_id);
      if (requested.length === 0) return;
      for (const table of [
        'profiles',
        'profile_segments',
        'ledger',
        'dead_letters',
        'erasure_requests',
        'profile_identities',
      ])
        await client.query(`DELETE FROM ${table} WHERE profile_id = ANY ($1::text[])`, [requested]);
    });
  }

  async countChangesAfter(cursor: number): Promise<number> {
    const { rows } = await this.query<{ n: string }>('SELECT count(*) AS n FROM profiles WHERE seq > $1', [cursor]);
    return Number(rows[0]?.n ?? 0);
  }

  async head(): Promise<number> {
    // Under the writers' lock, shared: a seq a writer took but has not committed yet is no head
    // (a page reading up to it would pass that write). Not max(seq): a purged profile may have
    // held the highest seq, and the head must not move back.
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [PROFILE_WRITE_LOCK]);
      return sequenceHead(client);
    });
  }

  async countSegmentMembers(segmentIds: string[]): Promise<number> {
    if (segmentIds.length === 0) return 0;
    const { rows } = await this.query<{ count: string }>(
      'SELECT count(DISTINCT profile_id) AS count FROM profile_segments WHERE segment_id = ANY ($1::text[]) AND member',
      [[...new Set(segmentIds)]],
    );
    return Number(rows[0]?.count ?? 0);
  }

  async readExportCandidates(view: LedgerView, range: CandidateRange): Promise<ExportCandidate[]> {
    const spec = view.changeKey;
    const keyParams = [view.destinationId, spec?.id ?? null, view.skipUnchanged];
    const { segmentIds } = view;
    let rows: CandidateRow[];
    if ('segmentIds' in range) {
      if (range.segmentIds.length === 0) return [];
      const params = [...keyParams, [...new Set(range.segmentIds)], range.cursor ?? '', range.limit];
      rows = (await this.query<CandidateRow>(READ_CANDIDATE_MEMBERS, params)).rows;
    } else if (segmentIds === null) {
      rows = (await this.query<CandidateRow>(READ_CANDIDATES_AFTER, [...keyParams, range.cursor, range.limit])).rows;
    } else {
      if (segmentIds.length === 0) return [];
      const params = [...keyParams, [...new Set(segmentIds)], range.cursor, range.limit];
      rows = (await this.query<CandidateRow>(READ_CHANGES, params)).rows;
    }
    const stored = rows.map(storedCandidate);
    const candidates = stored.map((row) => toExportCandidate(spec, view.skipUnchanged, row));
    const computed = keysComputedOnRead(range, stored, candidates);
    if (spec !== null && computed.length > 0) {
      await this.query(KEEP_KEYS, [
        spec.id,
        computed.map((c) => c.profileId),
        computed.map((c) => c.seq),
        computed.map((c) => c.changeKey),
      ]);
    }
    return candidates;
  }

  async readLedger(destinationId: string, profileIds: string[]): Promise<Map<string, Projection>> {
    if (profileIds.length === 0) return new Map();
    const { rows } = await this.query<{ profile_id: string; projection: Projection }>(
      'SELECT profile_id, projection FROM ledger WHERE destination_id = $1 AND profile_id = ANY ($2::text[])',
      [destinationId, profileIds],
    );
    return new Map(rows.map((r) => [r.profile_id, r.projection]));
  }

  async writeLedger(destinationId: string, entries: LedgerEntry[]): Promise<void> {
    // One statement may not update a row twice: the last entry of a profile wins.
    const latest = latestPerProfile(entries);
    if (latest.length === 0) return;
    await this.query(WRITE_LEDGER, [
      destinationId,
      latest.map((e) => e.profileId),
      JSON.stringify(latest.map((e) => e.projection)),
      latest.map((e) => e.changeKey ?? null),
    ]);
  }

  async readProfileCandidates(
    destinationId: string,
    changeKey: ChangeKeySpec | null,
    profileIds: string[],
  ): Promise<ExportCandidate[]> {
    if (profileIds.length === 0) return [];
    const { rows } = await this.query<CandidateRow>(READ_CANDIDATES_OF, [
      destinationId,
      changeKey?.id ?? null,
      false,
      [...new Set(profileIds)],
    ]);
    return rows.map((r) => toExportCandidate(changeKey, false, storedCandidate(r)));
  }

  async addDeadLetters(entries: DeadLetter[]): Promise<void> {
    if (entries.length === 0) return;
    const rows = JSON.stringify(
      entries.map((e) => ({
        destination_id: e.destinationId,
        profile_id: e.profileId,
        reason: e.reason,
        record: e.record,
        projection: e.projection ?? null,
        created_at: e.createdAt?.toISOString() ?? null,
      })),
    );
    await this.transaction(async (client) => {
      await client.query(REPLACED_DEAD_LETTERS, [rows]);
      await client.query(ADD_DEAD_LETTERS, [rows]);
    });
  }

  async listDeadLetters(destinationId: string): Promise<DeadLetter[]> {
    const { rows } = await this.query<{
      destination_id: string;
      profile_id: string;
      reason: string;
      record: string;
      projection: Projection | null;
      created_at: Date;
    }>(
      `SELECT destination_id, profile_id, reason, record, projection, created_at FROM dead_letters
       WHERE destination_id = $1 ORDER BY id`,
      [destinationId],
    );
    return rows.map((r) => ({
      destinationId: r.destination_id,
      profileId: r.profile_id,
      reason: r.reason,
      record: r.record,
      ...(r.projection === null ? {} : { projection: r.projection }),
      createdAt: r.created_at,
    }));
  }

  async deadLetteredProjections(destinationId: string, profileIds: string[]): Promise<Map<string, Projection | null>> {
    if (profileIds.length === 0) return new Map();
    const { rows } = await this.query<{ profile_id: string; projection: Projection | null }>(
      `SELECT profile_id, projection FROM dead_letters
       WHERE destination_id = $1 AND profile_id = ANY ($2::text[]) ORDER BY id`,
      [destinationId, profileIds],
    );
    return new Map(rows.map((r) => [r.profile_id, r.projection]));
  }

  async removeDeadLetters(destinationId: string, profileIds: string[] | null): Promise<number> {
    if (profileIds !== null && profileIds.length === 0) return 0;
    const { rowCount } = await this.query(
      'DELETE FROM dead_letters WHERE destination_id = $1 AND ($2::text[] IS NULL OR profile_id = ANY ($2::text[]))',
      [destinationId, profileIds],
    );
    return rowCount ?? 0;
  }

  async saveDestination(row: DestinationRow): Promise<void> {
    await this.query(SAVE_DESTINATION, [
      row.id,
      JSON.stringify(row.settings ?? null),
      row.activation === null ? null : JSON.stringify(row.activation),
    ]);
  }

  async getDestination(id: string): Promise<DestinationRow | undefined> {
    const { rows } = await this.query<DestinationDbRow>(
      'SELECT id, settings, activation FROM destinations WHERE id = $1',
      [id],
    );
    return rows[0];
  }

  async listDestinations(): Promise<DestinationRow[]> {
    const { rows } = await this.query<DestinationDbRow>(
      'SELECT id, settings, activation FROM destinations ORDER BY id',
    );
    return rows;
  }

  async deleteDestination(id: string): Promise<DestinationRemoval> {
    return this.transaction(async (client) => {
      const ledger = await client.query('DELETE FROM ledger WHERE destination_id = $1', [id]);
      const letters = await client.query('DELETE FROM dead_letters WHERE destination_id = $1', [id]);
      const row = await client.query('DELETE FROM destinations WHERE id = $1', [id]);
      const { rows } = await client.query<{ deleted_at: Date }>(
        `INSERT INTO deleted_destinations (id) VALUES ($1)
         ON CONFLICT (id) DO UPDATE SET deleted_at = deleted_destinations.deleted_at RETURNING deleted_at`,
        [id],
      );
      return {
        destination: (row.rowCount ?? 0) > 0,
        ledgerEntries: ledger.rowCount ?? 0,
        deadLetters: letters.rowCount ?? 0,
        deletedAt: (rows[0] as { deleted_at: Date }).deleted_at,
      };
    });
  }

  async destinationDeletedAt(id: string): Promise<Date | null> {
    const { rows } = await this.query<{ deleted_at: Date }>(
      'SELECT deleted_at FROM deleted_destinations WHERE id = $1',
      [id],
    );
    return rows[0]?.deleted_at ?? null;
  }

  async close(): Promise<void> {
    // pool.end() throws when called twice; closing a closed store is a no-op.
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    return this.reconnecting(() => this.pool.query<R>(text, values));
  }

  /**
   * Runs `work` in one transaction on one pooled connection; a connection that failed to roll
   * back is discarded. A transaction cut by a lost connection is rolled back by the server, and
   * is run again (see reconnecting).
   */
  private transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.reconnecting(async () => {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (err) {
        const rolledBack = await client.query('ROLLBACK').then(
          () => true,
          () => false,
        );
        client.release(!rolledBack);
        throw err;
      }
    });
  }

  /**
   * Runs `op` again while the connection is lost, with a growing pause, for up to `waitMs`; then
   * fails with StoreUnavailableError. Every operation is one statement or one transaction, and
   * repeating a write that did commit (its answer was lost) writes the same state again: only a
   * dead letter, a plain insert, can then be listed twice.
   */
  private async reconnecting<T>(op: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.waitMs;
    for (let pauseMs = 100; ; pauseMs = Math.min(pauseMs * 2, 1000)) {
      try {
        return await op();
      } catch (err) {
        if (this.closed || !isPostgresConnectionLoss(err)) throw err;
        const left = deadline - Date.now();
        if (left <= 0) throw new StoreUnavailableError(this.name, err);
        await new Promise((resolve) => setTimeout(resolve, Math.min(pauseMs, left)));
      }
    }
  }
}

/** `PostgreSQL at host:port/database`, from the connection URL. */
function storeName(url: string): string {
  try {
    const { hostname, port, pathname } = new URL(url);
    return `PostgreSQL at ${hostname}:${port || '5432'}${pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}
