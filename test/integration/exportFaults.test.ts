import { counters } from '../support/counters';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { Context } from '@temporalio/activity';
import type { ActivationClient } from '../../src/client/activationClient';
import type { Activation } from '../../src/domain/activation';
import type { DestinationSettingsInput } from '../../src/domain/destination';
import { profileIdHash } from '../../src/domain/partitionKey';
import type { ProfileSnapshot } from '../../src/domain/profile';
import { startKinesisEmulator } from '../../src/embedded/kinesisEmulator';
import type { KinesisEmulator } from '../../src/embedded/kinesisEmulator';
import { waitFor } from '../../src/embedded/waitFor';
import { createKinesisClient } from '../../src/kinesis/client';
import { DEFAULT_CONCURRENCY } from '../../src/kinesis/recordWriter';
import { SqliteStore } from '../../src/store/sqliteStore';
import type { Store } from '../../src/store/store';
import type { ErrorRetry, DestinationStatus } from '../../src/workflows/messages';
import { startKinesisFaultProxy } from '../support/kinesisFaultProxy';
import type { KinesisFaultProxy } from '../support/kinesisFaultProxy';
import { createStream, readAllRecords } from '../support/kinesisStream';
import type { StoredRecord } from '../support/kinesisStream';
import { statusesOf } from '../support/profiles';
import { withWorker } from '../support/temporal';

const SECRET_ENV = 'EXPORT_FAULTS_TEST_SECRET';
const ACTIVATION: Activation = {
  segments: [{ id: 'seg-faults' }],
  attributes: ['person.email', 'person.name.firstName'],
};

/** Profile `p-<i>` in the mapped segment; `version` is its first name, so each version is a mapped change. */
function snapshot(i: number, version: number, padding = ''): ProfileSnapshot {
  return {
    profileId: `p-${i}`,
    identityMap: { ecid: [{ id: String(1e6 + i) }] },
    person: { email: `p${i}@example.com`, name: { firstName: `v${version}${padding}` } },
    segmentMembership: { ups: { 'seg-faults': { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
  };
}

function ndjson(snapshots: ProfileSnapshot[]): Readable {
  return Readable.from(snapshots.map((s) => `${JSON.stringify(s)}\n`));
}

/** The version a stored record carries, and whose it is (by partition key: the profile-id hash). */
function versionOf(record: StoredRecord): number {
  const body = JSON.parse(record.data) as { person: { name: { firstName: string } } };
  return Number(body.person.name.firstName.slice(1));
}

/** Versions per profile id, in the order a consumer of each shard reads them. */
function versionsByProfile(records: readonly StoredRecord[], profiles: number): Map<string, number[]> {
  const byKey = new Map(Array.from({ length: profiles }, (_, i) => [profileIdHash(`p-${i}`), `p-${i}`]));
  const versions = new Map<string, number[]>();
  for (const record of records) {
    const profileId = byKey.get(record.partitionKey);
    assert.ok(profileId, `unexpected partition key ${record.partitionKey}`);
    versions.set(profileId, [...(versions.get(profileId) ?? []), versionOf(record)]);
  }
  return versions;
}

describe('exports through a real Temporal worker with faults injected in front of Kinesis', function () {
  let emulator: KinesisEmulator;
  let proxy: KinesisFaultProxy;
  let kinesis: KinesisClient;
  let dir: string;
  let streams = 0;

  before(async () => {
    process.env[SECRET_ENV] = 'test-secret';
    emulator = await startKinesisEmulator();
    proxy = await startKinesisFaultProxy(emulator.endpoint);
    kinesis = createKinesisClient({
      region: 'us-east-1',
      endpoint: emulator.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    dir = mkdtempSync(join(tmpdir(), 'ka-faults-'));
  });

  after(async () => {
    kinesis?.destroy();
    await proxy?.stop();
    await emulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => proxy.reset());

  /** A fresh store and stream per test, so no test sees another's profiles or records. */
  const freshSetup = async (shards = 2): Promise<{ store: SqliteStore; stream: string }> => {
    const stream = `faults-${++streams}`;
    await createStream(kinesis, stream, shards);
    return { store: new SqliteStore(join(dir, `${stream}.sqlite`)), stream };
  };

  const settingsFor = (stream: string, extra: Partial<DestinationSettingsInput> = {}): DestinationSettingsInput => ({
    name: stream,
    region: 'us-east-1',
    stream,
    endpoint: proxy.endpoint,
    credentials: { type: 'accessKey', accessKeyId: 'AKIAFAULTSEXAMPLE01', secretAccessKeyEnv: SECRET_ENV },
    ...extra,
  });

  const createActivated = async (
    client: ActivationClient,
    settings: DestinationSettingsInput,
    errorRetry?: ErrorRetry,
  ): Promise<string> => {
    const { id } = await client.createDestination(settings, undefined, errorRetry ? { errorRetry } : {});
    await client.activate(id, ACTIVATION);
    return id;
  };

  const waitForStatus = (
    client: ActivationClient,
    id: string,
    what: string,
    done: (s: DestinationStatus) => boolean,
    timeoutMs = 30_000,
  ): Promise<DestinationStatus> =>
    waitFor(
      async () => {
        const status = await client.status(id);
        return done(status) ? status : undefined;
      },
      { timeoutMs, intervalMs: 50, what },
    );

  /** Idle with every change up to `seq` decided. */
  const caughtUp = (seq: number) => (s: DestinationStatus) =>
    s.state === 'idle' && s.checkpoint >= seq && s.pending === 0;

  const stoppedInError = (client: ActivationClient, id: string, what = 'the destination to stop in error') =>
    waitForStatus(client, id, what, (s) => s.state === 'error', 10_000);

  /** Ingests profiles p-0 .. p-(count-1) at `version`. */
  const ingestVersion = (client: ActivationClient, count: number, version: number) =>
    client.ingest(ndjson(Array.from({ length: count }, (_, i) => snapshot(i, version))));

  it('delivers every record, each profile in order, when 30% of the records of every call fail', async () => {
    const { store, stream } = await freshSetup();
    const profiles = 200;
    proxy.setFaults({ recordFailureRate: 0.3, seed: 11 });
    await withWorker(store, async ({ client }) => {
      const id = await createActivated(client, settingsFor(stream));

      // Rounds exported one after the other: every version of every profile must arrive.
      let seq = 0;
      for (let version = 1; version <= 3; version++) {
        seq = (await ingestVersion(client, profiles, version)).lastSeq;
        await waitForStatus(client, id, `version ${version} to be exported`, caughtUp(seq));
      }
      const exact = versionsByProfile(await readAllRecords(kinesis, stream), profiles);
      assert.equal(exact.size, profiles);
      for (const [profileId, versions] of exact) assert.deepEqual(versions, [1, 2, 3], profileId);

      // Rounds ingested while earlier ones are still being exported: changes waiting together
      // are coalesced, but a consumer still sees each profile's versions in order, ending at the last.
      for (let version = 4; version <= 6; version++) {
        seq = (await ingestVersion(client, profiles, version)).lastSeq;
      }
      const status = await waitForStatus(client, id, 'every version to be exported', caughtUp(seq));

      const records = await readAllRecords(kinesis, stream);
      assert.equal(records.length, status.counters.exported, 'every acknowledged record is in the stream, once');
      for (const [profileId, versions] of versionsByProfile(records, profiles)) {
        assert.deepEqual(versions.slice(0, 3), [1, 2, 3], profileId);
        const later = versions.slice(3);
        assert.ok(
          later.every((v, i) => i === 0 || v > (later[i - 1] as number)),
          `${profileId}: versions out of order: ${versions.join(',')}`,
        );
        assert.equal(later[later.length - 1], 6, `${profileId}: latest version missing (${versions.join(',')})`);
      }
      assert.ok(proxy.injected.failedEntries > profiles, `only ${proxy.injected.failedEntries} entries failed`);
      assert.equal(proxy.observed.partitionKeyOverlaps, 0, 'a profile was in flight twice');
      assert.equal(status.counters.deadLettered, 0);
      assert.equal(status.lastError, null);
    });
    await store.close();
  });

  it('delivers every record within a bound when 5% of the PutRecords calls are never answered', async () => {
    const { store, stream } = await freshSetup();
    const profiles = 10_000;
    // Long enough for a real call on a busy machine: one that times out after the emulator wrote
    // it is resent, a duplicate (at least once), never a loss.
    const requestTimeoutMs = 2000;
    await withWorker(
      store,
      async ({ client }) => {
        const id = await createActivated(client, settingsFor(stream));
        proxy.setFaults({ hangRate: 0.05, seed: 6 });
        const started = performance.now();
        const { lastSeq } = await ingestVersion(client, profiles, 1);
        // Each hung call costs its timeout and a backoff; unabandoned, one would hold its page until
        // the activity's start-to-close timeout (minutes).
        const boundMs = 30_000;
        const status = await waitForStatus(client, id, 'the export to finish', caughtUp(lastSeq), boundMs);
        const elapsed = performance.now() - started;

        assert.ok(proxy.injected.hungCalls >= 2, `fewer than two calls hung in ${proxy.counts.PutRecords} calls`);
        assert.deepEqual(status.counters, counters({ received: profiles, exported: profiles }));
        assert.equal(status.lastError, null);
        const versions = versionsByProfile(await readAllRecords(kinesis, stream), profiles);
        assert.equal(versions.size, profiles, 'every profile reached the stream');
        for (const [profileId, seen] of versions)
          assert.ok(
            seen.every((v) => v === 1),
            profileId,
          );
        assert.ok(elapsed < boundMs, `${Math.round(elapsed)} ms`);
      },
      { aws: { http: { requestTimeoutMs } } },
    );
    await store.close();
  });

  it('sends the exit of a profile that exits while its earlier record awaits its answer', async () => {
    const { store, stream } = await freshSetup(1);
    const others = 5999;
    await withWorker(
      store,
      async ({ client }) => {
        const id = await createActivated(client, settingsFor(stream));
        await waitForStatus(client, id, 'the activation to settle', (s) => s.state === 'idle');
        await client.pause(id);
        // p-0 first, so its record goes in the page's first call.
        await ingestVersion(client, 1, 1);
        await client.ingest(ndjson(Array.from({ length: others }, (_, i) => snapshot(i + 1, 1))));
        const hold = proxy.holdAnswers();
        await client.resume(id);
        const held = await waitFor(() => hold.calls[0], { timeoutMs: 30_000, intervalMs: 10, what: 'the first call' });
        assert.ok(held.partitionKeys.includes(profileIdHash('p-0')), 'p-0 is not in the first call');

        // p-0 exits while its realized record awaits its answer, unacknowledged, not in the
        // ledger; the other answers go on, and the export reads on past the others.
        const exited = snapshot(0, 1);
        exited.segmentMembership = {
          ups: { 'seg-faults': { status: 'exited', lastQualificationTime: '2024-01-02T00:00:00Z' } },
        };
        const exit = await client.ingest(ndjson([exited]));
        hold.stop();
        for (const call of hold.calls.slice(1)) call.release();
        const lastKey = profileIdHash(`p-${others}`);
        await waitFor(async () => (await readAllRecords(kinesis, stream)).some((r) => r.partitionKey === lastKey), {
          timeoutMs: 30_000,
          what: `p-${others} in the stream`,
        });
        held.release();
        await waitForStatus(client, id, 'the export to finish', caughtUp(exit.lastSeq), 60_000);

        const p0 = (await readAllRecords(kinesis, stream)).filter((r) => r.partitionKey === profileIdHash('p-0'));
        assert.deepEqual(
          p0.map((r) => statusesOf(r)['seg-faults']),
          ['realized', 'exited'],
          'p-0 realized, then exited, as its consumer must see it',
        );
        assert.equal(proxy.observed.partitionKeyOverlaps, 0, 'a profile was in flight twice');
      },
      // A fixed number of calls in flight: the held call takes one, the others go on.
      { aws: { fixedCallsInFlight: 4 } },
    );
    await store.close();
  });

  it('stops in `error` with the cause when PutRecords is denied, retries sparingly, and recovers once it is allowed', async () => {
    const { store, stream } = await freshSetup(1);
    await withWorker(store, async ({ client }) => {
      const id = await createActivated(client, settingsFor(stream), { initialMs: 200, maxMs: 800 });
      proxy.setFaults({ accessDenied: ['PutRecords'] });
      const { lastSeq } = await ingestVersion(client, 2000, 1);

      const stopped = await stoppedInError(client, id);
      // The export's failure, or the creation check's when that check runs after the denial began
      // (it may follow the activation): either names the denied PutRecords.
      assert.match(
        stopped.lastError ?? '',
        /AccessDeniedException\b.*User: \S+ is not authorized to perform: kinesis:PutRecords/,
      );
      assert.ok(stopped.nextRetryAt !== null, 'an automatic retry is planned');

      // Each automatic retry is one export attempt, which stops at the first denied calls.
      const retried = await waitForStatus(client, id, 'three automatic retries', (s) => s.failedAttempts >= 4);
      const calls = proxy.counts.PutRecords ?? 0;
      const after = await client.status(id);
      assert.ok(
        calls <= DEFAULT_CONCURRENCY * (after.failedAttempts + 1),
        `${calls} PutRecords calls in ${after.failedAttempts} failed attempts`,
      );
      assert.equal(retried.state, 'error');
      assert.equal(retried.counters.exported, 0);
      assert.deepEqual(await readAllRecords(kinesis, stream), []);

      proxy.setFaults({ accessDenied: [] });
      const recovered = await waitForStatus(client, id, 'the destination to recover by itself', caughtUp(lastSeq));
      assert.equal(recovered.lastError, null);
      assert.equal(recovered.failedAttempts, 0);
      assert.equal(recovered.nextRetryAt, null);
      assert.deepEqual(recovered.counters, counters({ received: 2000, exported: 2000 }));
      assert.equal((await readAllRecords(kinesis, stream)).length, 2000);
    });
    await store.close();
  });

  it('resumes at once on `resume` or a new configuration, without waiting for the next retry', async () => {
    const { store, stream } = await freshSetup(1);
    await withWorker(store, async ({ client }) => {
      // Retries an hour apart: only the user's action can bring the destination back within the test.
      const id = await createActivated(client, settingsFor(stream), { initialMs: 3_600_000, maxMs: 3_600_000 });
      const hourFromNow = Date.now() + 3_000_000;

      proxy.setFaults({ accessDenied: ['PutRecords'] });
      let { lastSeq } = await ingestVersion(client, 100, 1);
      let stopped = await stoppedInError(client, id);
      assert.ok(Date.parse(stopped.nextRetryAt ?? '') > hourFromNow, `next retry at ${stopped.nextRetryAt}`);
      proxy.setFaults({ accessDenied: [] });
      await client.resume(id);
      let status = await waitForStatus(client, id, 'the destination to resume', caughtUp(lastSeq));
      assert.equal(status.counters.exported, 100);

      proxy.setFaults({ accessDenied: ['PutRecords'] });
      ({ lastSeq } = await ingestVersion(client, 100, 2));
      stopped = await stoppedInError(client, id, 'the destination to stop in error again');
      proxy.setFaults({ accessDenied: [] });
      await client.configure(id, settingsFor(stream, { description: 'fixed' }));
      status = await waitForStatus(client, id, 'the destination to resume after configure', caughtUp(lastSeq));
      assert.equal(status.counters.exported, 200);
      assert.equal(status.lastError, null);
      assert.equal((await readAllRecords(kinesis, stream)).length, 200);
    });
    await store.close();
  });

  it('stops in `error` naming the variable when the worker lacks the secret, refuses to activate, and sends nothing', async () => {
    const { store, stream } = await freshSetup(1);
    await withWorker(store, async ({ client }) => {
      const credentials = {
        type: 'accessKey' as const,
        accessKeyId: 'AKIAFAULTSEXAMPLE01',
        secretAccessKeyEnv: 'EXPORT_FAULTS_UNSET_SECRET',
      };
      // The permission check at creation finds the secret missing: the destination stops in
      // error, and activating it is refused with the same reason.
      const { id } = await client.createDestination(settingsFor(stream, { credentials }), undefined, {
        errorRetry: { initialMs: 3_600_000, maxMs: 3_600_000 },
      });
      const missing =
        'credentials.secretAccessKeyEnv: environment variable EXPORT_FAULTS_UNSET_SECRET is not set on the worker';
      const stopped = await stoppedInError(client, id);
      assert.match(stopped.lastError ?? '', new RegExp(missing.replace(/\./g, '\\.')));
      await assert.rejects(client.activate(id, ACTIVATION), (err: Error) => {
        assert.match(
          String((err as { cause?: Error }).cause?.message ?? err.message),
          /EXPORT_FAULTS_UNSET_SECRET is not set on the worker/,
        );
        return true;
      });
      await client.ingest(ndjson([snapshot(1, 1)]));
      assert.equal((await client.status(id)).state, 'error');
      assert.equal(proxy.counts.PutRecords, undefined);
    });
    await store.close();
  });

  it('dead-letters oversize records with the reason and delivers the rest of the batch', async () => {
    const { store, stream } = await freshSetup(1);
    const oversize = new Set([3, 11, 17]);
    const snapshots = Array.from({ length: 20 }, (_, i) => snapshot(i, 1, oversize.has(i) ? 'x'.repeat(2000) : ''));
    await withWorker(store, async ({ client }) => {
      const id = await createActivated(client, settingsFor(stream, { maxRecordBytes: 1024 }));
      const { lastSeq } = await client.ingest(ndjson(snapshots));
      const status = await waitForStatus(client, id, 'the page to be exported', caughtUp(lastSeq));
      assert.deepEqual(
        status.counters,
        counters({ received: 20, exported: 17, deadLettered: 3, deadLetteredByReason: { 'record-too-large': 3 } }),
      );

      const dead = await store.listDeadLetters(id);
      assert.deepEqual(dead.map((d) => d.profileId).sort(), ['p-11', 'p-17', 'p-3']);
      for (const letter of dead) {
        assert.match(
          letter.reason,
          /^record is \d+ bytes \(data plus partition key\), over the stream's maximum of 1024$/,
        );
        assert.equal(
          (JSON.parse(letter.record) as { person: { email: string } }).person.email,
          `${letter.profileId.replace('-', '')}@example.com`,
        );
      }
      const delivered = versionsByProfile(await readAllRecords(kinesis, stream), 20);
      assert.deepEqual(
        [...delivered.keys()].sort(),
        snapshots
          .map((_, i) => `p-${i}`)
          .filter((_, i) => !oversize.has(i))
          .sort(),
      );
    });
    await store.close();
  });

  it('resumes a retried export activity after its last acknowledged chunk', async () => {
    const { store: inner, stream } = await freshSetup(2);
    const profiles = 6000;
    // The real store, with one failure injected: the fifth ledger write fails (a lost database
    // connection), which fails the activity attempt after some chunks were acknowledged.
    const reads: { attempt: number; cursor: number }[] = [];
    let ledgerWrites = 0;
    const store = new Proxy<Store>(inner, {
      get(target, property, receiver) {
        if (property === 'readExportCandidates') {
          return (...[view, range]: Parameters<Store['readExportCandidates']>) => {
            if (!('segmentIds' in range)) reads.push({ attempt: Context.current().info.attempt, cursor: range.cursor });
            return target.readExportCandidates(view, range);
          };
        }
        if (property === 'writeLedger') {
          return async (...args: Parameters<Store['writeLedger']>) => {
            if (++ledgerWrites === 5) throw new Error('connection to the store lost');
            return target.writeLedger(...args);
          };
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    });

    await withWorker(store, async ({ client }) => {
      const id = await createActivated(client, settingsFor(stream));
      const { lastSeq } = await ingestVersion(client, profiles, 1);
      const status = await waitForStatus(client, id, 'the export to finish', caughtUp(lastSeq), 60_000);

      // The second attempt's first read starts after the chunks the first attempt finished.
      const firstAttempt = reads.filter((r) => r.attempt === 1).map((r) => r.cursor);
      const retry = reads.find((r) => r.attempt === 2);
      assert.ok(retry, `the export activity was not retried (reads ${JSON.stringify(reads)})`);
      assert.ok(retry.cursor > 0, 'the retry started over from the beginning of the page');
      assert.ok(
        firstAttempt.includes(retry.cursor),
        `the retry read after ${retry.cursor}, not after a chunk of the first attempt`,
      );
      assert.ok(retry.cursor < lastSeq);

      // Each profile decided once (none re-decided after the checkpoint), each in the stream.
      assert.equal(status.counters.received, profiles);
      assert.equal(status.counters.exported + status.counters.skipped, profiles);
      const records = await readAllRecords(kinesis, stream);
      const versions = versionsByProfile(records, profiles);
      assert.equal(versions.size, profiles, 'every profile reached the stream');
      // Resent: only the records whose ledger write failed, and the calls in flight with them.
      assert.ok(
        records.length - profiles <= DEFAULT_CONCURRENCY * 500,
        `${records.length - profiles} records sent twice`,
      );
    });
    await inner.close();
  });
});
