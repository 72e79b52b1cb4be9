import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join, resolve } from 'node:path';
import { Client } from 'pg';

const run = promisify(execFile);

/**
 * No file of the SQLite store (database, WAL, shared memory) contains any of `needles`. The files
 * are read by a child process: closing a descriptor of them here would drop every POSIX lock this
 * process holds on them, its open store connections' included, and the next process to close its
 * connection would then take itself for the last one and remove the WAL and shared memory from
 * under them (they stop seeing new writes).
 */
export async function assertNoBytes(databasePath: string, needles: string[]): Promise<void> {
  const dir = resolve(databasePath, '..');
  const base = databasePath.slice(dir.length + 1);
  const files = (await readdir(dir)).filter((f) => f.startsWith(base));
  assert.ok(files.length > 0);
  const script = `const { readFileSync } = require('node:fs');
const [files, needles] = JSON.parse(process.argv[1]);
const found = files.flatMap((f) => needles.filter((n) => readFileSync(f).indexOf(Buffer.from(n)) !== -1).map((n) => [f, n]));
process.stdout.write(JSON.stringify(found));`;
  const { stdout } = await run(process.execPath, [
    '-e',
    script,
    JSON.stringify([files.map((f) => join(dir, f)), needles]),
  ]);
  const found = JSON.parse(stdout) as [string, string][];
  assert.deepEqual(
    found.map(([file, needle]) => `${file.slice(dir.length + 1)} still holds "${needle}"`),
    [],
  );
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
