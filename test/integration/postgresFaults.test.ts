import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Client } from 'pg';
import { EXPORT_CHUNK_SIZE, MAX_UNACKNOWLEDGED } from '../../src/activities/pagePipeline';
import type { ActivationClient } from '../../src/client/activationClient';
import type { Activation } from '../../src/domain/activation';
import type { DestinationSettingsInput } from '../../src/domain/destination';
import { waitFor } from '../../src/embedded/waitFor';
import { PostgresStore } from '../../src/store/postgresStore';
import type { DestinationStatus } from '../../src/workflows/messages';
import { spawnCli } from '../support/cli';
import { useKinesisFixture } from '../support/kinesisFixture';
import { createStream, readAllRecords } from '../support/kinesisStream';
import { createTestDatabase, startPostgres } from '../support/postgres';
import type { TestPostgres } from '../support/postgres';
import { profile, profileIds, recordsPerProfile } from '../support/profiles';
import { getTestTemporal, processEnv, withWorker } from '../support/temporal';

const SECRET_ENV = 'POSTGRES_FAULTS_TEST_SECRET';
const ACTIVATION: Activation = { segments: [{ id: 'seg-pg' }], attributes: ['person.email'] };
/** How long the server stays down in a restart: longer than a connection attempt, shorter than the store waits. */
const RESTART_OUTAGE_MS = 3000;

function lines(ids: string[]): string[] {
  return ids.map(
    (id) =>
      `${JSON.stringify(profile(id, { 'seg-pg': 'realized' }, { person: { email: `${id}@x.example` } }).snapshot)}\n`,
  );
}

/** Waits out an outage: how long the server stays down is the fault itself, not a synchronisation. */
function outage(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One count over a short-lived connection of its own (the store's pool is what is under test). */
async function count(url: string, sql: string): Promise<number> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(sql);
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

/** Profile ids stored, over a connection of its own. */
async function storedIds(url: string): Promise<Set<string>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ profile_id: string }>('SELECT profile_id FROM profiles');
    return new Set(rows.map((r) => r.profile_id));
  } finally {
    await client.end();
  }
}

describe("PostgreSQL restarts and outages during exports and ingests, on a cluster of the test's own", function () {
  const fx = useKinesisFixture('pg-faults', { proxy: true });
  let pg: TestPostgres;
  let serverDown = false;
  let streams = 0;

  before(async () => {
    process.env[SECRET_ENV] = 'test-secret';
    pg = await startPostgres();
  });

  after(async () => {
    await pg?.stop();
  });

  beforeEach(() => fx.proxy.reset());

  // A failed test leaves the server up for the next one.
  afterEach(async () => {
    if (serverDown) await up();
  });

  const down = async (): Promise<void> => {
    serverDown = true;
    await pg.down();
  };
  const up = async (): Promise<void> => {
    await pg.up();
    serverDown = false;
  };

  const freshStream = async (): Promise<string> => {
    const stream = `pg-faults-${++streams}`;
    await createStream(fx.kinesis, stream, 1);
    return stream;
  };

  const settingsFor = (stream: string): DestinationSettingsInput => ({
    name: stream,
    region: 'us-east-1',
    stream,
    endpoint: fx.proxy.endpoint,
    credentials: { type: 'accessKey', accessKeyId: 'AKIAPGFAULTSEXAMP01', secretAccessKeyEnv: SECRET_ENV },
  });

  const waitForStatus = (
    client: ActivationClient,
    id: string,
    what: string,
    done: (s: DestinationStatus) => boolean,
    timeoutMs: number,
  ): Promise<DestinationStatus> =>
    waitFor(
      async () => {
        const status = await client.status(id);
        return done(status) ? status : undefined;
      },
      { timeoutMs, intervalMs: 100, what },
    );

  const caughtUp = (seq: number) => (s: DestinationStatus) =>
    s.state === 'idle' && s.checkpoint >= seq && s.pending === 0;

  it('resumes an export after a restart: every record arrives, duplicates only of what was in flight', async () => {
    const url = await createTestDatabase(pg);
    const store = await PostgresStore.open(url);
    const stream = await freshStream();
    const ids = profileIds('restart-', 6000);
    // The stream's one shard takes 1,000 records/s: the export lasts long enough to be cut.
    fx.proxy.setFaults({ shardThrottling: true });
    try {
      await withWorker(store, async ({ client }) => {
        const { id } = await client.createDestination(settingsFor(stream));
        await client.activate(id, ACTIVATION);
        const { lastSeq } = await client.ingest(Readable.from(lines(ids)));

        const exportedBefore = await waitFor(
          async () => {
            const n = await count(url, 'SELECT count(*) AS n FROM ledger');
            return n >= 1000 ? n : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 50, what: 'the export to be under way' },
        );
        await down();
        await outage(RESTART_OUTAGE_MS);
        await up();
        assert.ok(exportedBefore < ids.length, `the export was over (${exportedBefore}) before the restart`);

        const status = await waitForStatus(client, id, 'the export to finish', caughtUp(lastSeq), 120_000);
        assert.equal(status.lastError, null);
        const per = recordsPerProfile(await readAllRecords(fx.kinesis, stream), ids);
        assert.deepEqual(
          [...per].filter(([, records]) => records.length === 0).map(([p]) => p),
          [],
          'profiles never exported',
        );
        const duplicates = [...per.values()].reduce((n, records) => n + records.length - 1, 0);
        assert.ok(
          duplicates <= MAX_UNACKNOWLEDGED + EXPORT_CHUNK_SIZE,
          `${duplicates} duplicates: more than one restart's records in flight`,
        );
        assert.equal(await count(url, 'SELECT count(*) AS n FROM ledger'), ids.length);
      });
    } finally {
      await store.close();
    }
  });

  it('an ingest across a restart stores every line and exits 0', async () => {
    const url = await createTestDatabase(pg);
    // The store's migrations, before the ingest (whose own open would wait for them otherwise).
    await (await PostgresStore.open(url)).close();
    const temporal = await getTestTemporal();
    const ids = profileIds('ingest-', 4000);
    const feed = lines(ids);
    const half = ids.length / 2;
    const { child, result } = spawnCli(['ingest', '-', '--json'], processEnv(temporal.server, 'no-worker', url));
    child.stdin.write(feed.slice(0, half).join(''));
    await waitFor(async () => (await count(url, 'SELECT count(*) AS n FROM profiles')) >= half || undefined, {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: 'the first half to be stored',
    });
    await down();
    // Read while the server is down: the ingest writes them once it is back.
    child.stdin.write(feed.slice(half).join(''));
    await outage(RESTART_OUTAGE_MS);
    await up();
    child.stdin.end();
    const { code, stdout, stderr } = await result;
    assert.equal(code, 0, stderr);
    assert.equal((JSON.parse(stdout) as { accepted: number }).accepted, ids.length);
    const stored = await storedIds(url);
    assert.deepEqual(
      ids.filter((p) => !stored.has(p)),
      [],
      'accepted lines missing from the store',
    );
  });

  it('an ingest whose store stays down fails with one line naming it, and every line it says is stored is', async () => {
    const url = await createTestDatabase(pg);
    await (await PostgresStore.open(url)).close();
    const temporal = await getTestTemporal();
    const ids = profileIds('down-', 3000);
    const feed = lines(ids);
    const stored = 1000;
    const { child, result } = spawnCli(['ingest', '-'], processEnv(temporal.server, 'no-worker', url));
    child.stdin.write(feed.slice(0, stored).join(''));
    await waitFor(async () => (await count(url, 'SELECT count(*) AS n FROM profiles')) >= stored || undefined, {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: 'the first lines to be stored',
    });
    await down();
    child.stdin.end(feed.slice(stored).join(''));
    // The CLI waits for the store as long as the store waits (15 s), then gives up.
    const { code, stderr } = await result;
    await up();

    assert.equal(code, 1, stderr);
    const errorLines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('\r'));
    assert.equal(errorLines.length, 1, `more than one line: ${stderr}`);
    const line = errorLines[0] ?? '';
    const database = new URL(url).pathname;
    const match = new RegExp(
      `^kinesis-activation: the store is unreachable \\(PostgreSQL at 127\\.0\\.0\\.1:\\d+${database}\\): .+; ` +
        'lines 1 to (\\d+) are stored \\((\\d+) accepted\\), none after line \\1: send those again$',
    ).exec(line);
    assert.ok(match, line);
    assert.doesNotMatch(line, /Temporal/);
    const [, storedThrough, accepted] = match.map(Number) as [number, number, number];
    assert.deepEqual([storedThrough, accepted], [stored, stored], 'the lines read before the outage');
    // Acknowledged means stored: every line it names, and none after.
    const inStore = await storedIds(url);
    assert.deepEqual(
      ids.filter((p, i) => i < stored && !inStore.has(p)),
      [],
      'lines said to be stored are missing',
    );
    assert.equal(inStore.size, stored);
  });

  it('a destination whose store stays down shows error naming the store, and recovers by itself', async () => {
    const url = await createTestDatabase(pg);
    // The worker waits 2 s for a lost store before it reports it (15 s by default).
    const store = await PostgresStore.open(url, { waitMs: 2000 });
    const stream = await freshStream();
    const ids = profileIds('outage-', 500);
    try {
      await withWorker(store, async ({ client }) => {
        const { id } = await client.createDestination(settingsFor(stream), undefined, {
          errorRetry: { initialMs: 500, maxMs: 1000 },
        });
        await client.activate(id, ACTIVATION);
        // Stored while paused, exported once resumed with the store down.
        await client.pause(id);
        await waitForStatus(client, id, 'the pause', (s) => s.state === 'paused', 30_000);
        const { lastSeq } = await client.ingest(Readable.from(lines(ids)));
        await down();
        await client.resume(id);

        const failed = await waitForStatus(client, id, 'the outage to show', (s) => s.state === 'error', 60_000);
        const database = new URL(url).pathname;
        assert.match(
          failed.lastError ?? '',
          new RegExp(`^the store is unreachable \\(PostgreSQL at 127\\.0\\.0\\.1:\\d+${database}\\): \\S`),
        );
        assert.doesNotMatch(failed.lastError ?? '', /\n|\sat\s\S+ \(/, 'a stack trace');

        await up();
        const status = await waitForStatus(client, id, 'the recovery', caughtUp(lastSeq), 60_000);
        assert.equal(status.lastError, null);
        const per = recordsPerProfile(await readAllRecords(fx.kinesis, stream), ids);
        assert.deepEqual(
          [...per].filter(([, records]) => records.length !== 1).map(([p, r]) => `${p}: ${r.length}`),
          [],
          'profiles not exported exactly once',
        );
      });
    } finally {
      await store.close();
    }
  });
});
