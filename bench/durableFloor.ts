import { join } from 'node:path';
import Database from 'better-sqlite3';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Activation } from '../src/domain/activation';
import { decideExport } from '../src/domain/diff';
import type { DestinationSettings } from '../src/domain/destination';
import { partitionKeyOf } from '../src/domain/partitionKey';
import type { ProfileSnapshot } from '../src/domain/profile';
import type { Projection } from '../src/domain/projection';
import type { BenchProfile } from './profiles';

/** Profiles read, decided and sent together: one PutRecords call's worth (500 records). */
const CHUNK = 500;

/**
 * The least work a durable exporter does for each record of an export, for the worker's CPU to be
 * measured against (the bare loop measures the SDK alone): read the snapshot with its ledger entry
 * from SQLite (WAL, synchronous NORMAL, as the store), parse it, decide and build the record with
 * the engine's own functions, send it (1 call in flight, failed entries resent), and write the
 * ledger for the acknowledged records in one transaction per call. No change keys, no other
 * index, no routing by segment, no checkpoints, dead letters or ordering per profile, no Temporal.
 * The snapshots are written to `dir` first, unmeasured; `run` returns what to measure.
 */
export function durableFloor(
  kinesis: KinesisClient,
  stream: string,
  dir: string,
  profiles: readonly BenchProfile[],
  activation: Activation,
  settings: DestinationSettings,
): { run: () => Promise<void>; close: () => void } {
  const db = new Database(join(dir, 'floor.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`
    CREATE TABLE profiles (profile_id TEXT NOT NULL PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, snapshot TEXT NOT NULL);
    CREATE TABLE ledger (
      profile_id TEXT NOT NULL PRIMARY KEY,
      projection TEXT NOT NULL
    );
  `);
  const insert = db.prepare<[string, number, string]>('INSERT INTO profiles VALUES (?, ?, ?)');
  db.transaction(() => profiles.forEach((p, i) => insert.run(p.profileId, i + 1, JSON.stringify(p.snapshot))))();
  const read = db
    .prepare<[number, number], [number, string, string, string | null]>(
      `SELECT p.seq, p.profile_id, p.snapshot, l.projection FROM profiles p
       LEFT JOIN ledger l ON l.profile_id = p.profile_id
       WHERE p.seq > ? ORDER BY p.seq LIMIT ?`,
    )
    .raw();
  const upsert = db.prepare<[string, string]>(
    `INSERT INTO ledger VALUES (?, ?) ON CONFLICT (profile_id) DO UPDATE SET projection = excluded.projection`,
  );
  const writeLedger = db.transaction((acked: { profileId: string; projection: Projection }[]) => {
    for (const { profileId, projection } of acked) upsert.run(profileId, JSON.stringify(projection));
  });

  const run = async (): Promise<void> => {
    for (let cursor = 0, rows = read.all(cursor, CHUNK); rows.length > 0; rows = read.all(cursor, CHUNK)) {
      cursor = (rows[rows.length - 1] as (typeof rows)[number])[0];
      let pending: { profileId: string; partitionKey: string; data: Buffer; projection: Projection }[] = [];
      for (const [, profileId, text, previous] of rows) {
        const snapshot = JSON.parse(text) as ProfileSnapshot;
        const previousProjection = previous === null ? null : (JSON.parse(previous) as Projection);
        const decision = decideExport(snapshot, previousProjection, activation, settings.exportOptions);
        if (decision.kind !== 'export') continue;
        pending.push({
          profileId,
          partitionKey: partitionKeyOf(settings.partitionKey, profileId, snapshot),
          data: Buffer.from(JSON.stringify(decision.record)),
          projection: decision.projection,
        });
      }
      while (pending.length > 0) {
        const sent = pending;
        const { Records: results = [] } = await kinesis.send(
          new PutRecordsCommand({
            StreamName: stream,
            Records: sent.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })),
          }),
        );
        writeLedger(sent.filter((_, i) => results[i]?.ErrorCode === undefined));
        pending = sent.filter((_, i) => results[i]?.ErrorCode !== undefined);
      }
    }
  };
  return { run, close: () => db.close() };
}
