import { PostgresStore } from './postgresStore';
import { SqliteStore } from './sqliteStore';
import type { Store } from './store';

/** Where the embedded store lives when DATABASE_URL is not set. */
export const DEFAULT_SQLITE_PATH = './.data/store.sqlite';

/**
 * Opens and migrates the store named by DATABASE_URL: a postgres:// or postgresql:// URL is the
 * shared PostgreSQL store, anything else a SQLite file path (or ':memory:'). Unset or empty means
 * the embedded default file, so an empty variable in a compose file behaves like a missing one.
 */
export async function openStore(url: string | undefined): Promise<Store> {
  if (url === undefined || url === '') return new SqliteStore(DEFAULT_SQLITE_PATH);
  if (/^postgres(ql)?:\/\//i.test(url)) return PostgresStore.open(url);
  return new SqliteStore(url);
}
