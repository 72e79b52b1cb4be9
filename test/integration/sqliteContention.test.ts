import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqliteStore';
import { profile } from '../support/profiles';

describe('SQLite store with another process writing to the same file', function () {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ka-sqlite-busy-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('waits for a write lock held longer than SQLite’s wait, without stalling its event loop', async () => {
    const path = join(dir, 'store.sqlite');
    const store = new SqliteStore(path);
    // Another connection to the file (an ingest process) holds the write lock for 6 s, longer
    // than better-sqlite3's default 5 s wait.
    const other = new Database(path);
    const holdMs = 6000;
    other.exec('BEGIN IMMEDIATE');
    const lockedAt = Date.now();
    const release = setTimeout(() => other.exec('COMMIT'), holdMs);
    let longestGap = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 10);
    try {
      const { lastSeq } = await store.upsertProfiles([profile('p-1', { seg: 'realized' })]);
      assert.equal(lastSeq, 1);
      assert.ok(Date.now() - lockedAt >= holdMs - 50, 'the write went through while the lock was held');
      // The lock is waited for asynchronously: timers (and an activity's heartbeats) keep running.
      assert.ok(longestGap < 500, `the event loop stalled for ${Math.round(longestGap)} ms`);
    } finally {
      clearTimeout(release);
      clearInterval(ticker);
      if (other.inTransaction) other.exec('COMMIT');
      other.close();
      await store.close();
    }
  });

  it('opens a file already migrated while another connection holds the write lock, taking no lock', async () => {
    const path = join(dir, 'store.sqlite');
    const store = new SqliteStore(path);
    await store.upsertProfiles([profile('p-1', { seg: 'realized' })]);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      // Opening on this thread while the lock is held here: waiting for it could never succeed.
      const second = new SqliteStore(path);
      try {
        assert.equal(await second.countSegmentMembers(['seg']), 1);
      } finally {
        await second.close();
      }
    } finally {
      other.exec('COMMIT');
      other.close();
      await store.close();
    }
  });
});
