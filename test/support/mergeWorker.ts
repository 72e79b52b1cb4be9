// A worker thread that merges patches into a SQLite store of its own connection, so that a test
// can run merges of one profile truly at the same time (better-sqlite3 is synchronous).
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from '../../src/store/sqliteStore';
import type { ProfilePatch } from '../../src/store/store';

const { path, patches } = workerData as { path: string; patches: ProfilePatch[] };
const store = new SqliteStore(path);
void (async () => {
  // One call per patch, as separate requests would: each its own transaction.
  await Promise.all(patches.map((p) => store.mergeProfiles([p])));
  await store.close();
  parentPort?.postMessage('done');
})();
