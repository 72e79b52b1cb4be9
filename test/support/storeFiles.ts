import { strict as assert } from 'node:assert';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Client } from 'pg';

/** No file of the SQLite store (database, WAL, shared memory) contains any of `needles`. */
export async function assertNoBytes(databasePath: string, needles: string[]): Promise<void> {
  const dir = resolve(databasePath, '..');
  const base = databasePath.slice(dir.length + 1);
  const files = (await readdir(dir)).filter((f) => f.startsWith(base));
  assert.ok(files.length > 0);
  for (const file of files) {
    const bytes = await readFile(join(dir, file));
    for (const needle of needles)
      assert.equal(bytes.indexOf(Buffer.from(needle)), -1, `${file} still holds "${needle}"`);
  }
}

/** No row of any table of the PostgreSQL store mentions any of `needles`. */
export async function assertNoRows(url: string, needles: string[]): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
    );
    for (const { tablename } of tables) {
      for (const needle of needles) {
        const { rows } = await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM "${tablename}" t WHERE t::text LIKE $1`,
          [`%${needle}%`],
        );
        assert.equal(rows[0]?.n, '0', `table ${tablename} still holds "${needle}"`);
      }
    }
  } finally {
    await client.end();
  }
}
