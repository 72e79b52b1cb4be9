import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { ActivationClient } from '../../src/client/activationClient';
import { ensureStream } from '../../src/embedded/ensureStream';
import { waitFor } from '../../src/embedded/waitFor';
import type { DestinationStatus, ReexportProgress } from '../../src/workflows/messages';
import { readAllRecords } from '../support/kinesisStream';
import { profile, profileIds, recordsPerProfile, seedMembers, statusesOf } from '../support/profiles';
import { useKinesisFixture } from '../support/kinesisFixture';
import { withWorker } from '../support/temporal';

const SECRET_ENV = 'REEXPORT_TEST_KINESIS_SECRET';

describe('re-exports by the destination actor (real Temporal dev server, Kinesis emulator, SQLite)', function () {
  const fx = useKinesisFixture('reexport', { proxy: true });

  before(() => {
    process.env[SECRET_ENV] = 'any';
  });

  afterEach(() => fx.proxy.reset());

  /** A destination on a fresh stream (through the fault proxy when asked). */
  /** Small re-export pages, so that a few thousand members span several pages (and so several activities). */
  const PAGE_SIZE = 2000;

  async function newDestination(
    client: ActivationClient,
    options: { shards?: number; viaProxy?: boolean } = {},
  ): Promise<{ id: string; stream: string }> {
    const stream = `reexport-${randomUUID()}`;
    await ensureStream(fx.kinesis, stream, options.shards ?? 2);
    const { id } = await client.createDestination(
      {
        name: stream,
        region: 'us-east-1',
        stream,
        endpoint: options.viaProxy ? fx.proxy.endpoint : fx.emulator.endpoint,
        credentials: { type: 'accessKey', accessKeyId: 'AKIAREEXPORTTEST01', secretAccessKeyEnv: SECRET_ENV },
      },
      undefined,
      { reexportPageSize: PAGE_SIZE },
    );
    return { id, stream };
  }

  /** Ingests through the client (which tells the destinations); returns the last change sequence. */
  async function ingest(client: ActivationClient, profiles: ReturnType<typeof profile>[]): Promise<number> {
    const result = await client.ingest(Readable.from([profiles.map((p) => JSON.stringify(p.snapshot)).join('\n')]));
    assert.equal(result.accepted, profiles.length);
    return result.lastSeq;
  }

  function idle(
    client: ActivationClient,
    id: string,
    check: (s: DestinationStatus) => boolean = () => true,
  ): Promise<DestinationStatus> {
    return waitFor(
      async () => {
        const status = await client.status(id);
        return status.state === 'idle' && status.pending === 0 && status.reexport === null && check(status)
          ? status
          : undefined;
      },
      { timeoutMs: 90_000, what: `destination ${id} to be idle` },
    );
  }

  it('back-fills the current members of a segment mapped on a live destination', async () => {
    await withWorker(fx.store, async ({ client }) => {
      const { id, stream } = await newDestination(client);
      const p = `live-${randomUUID()}-`;
      const [segA, segB] = [`${p}A`, `${p}B`];
      await client.activate(id, { segments: [{ id: segA }], attributes: ['person.email'] });
      const onlyA = profileIds(`${p}a-`, 6);
      const onlyB = profileIds(`${p}b-`, 7);
      const both = profileIds(`${p}ab-`, 4);
      const exitedB = profileIds(`${p}xb-`, 2);
      const neither = profileIds(`${p}n-`, 3);
      const email = (pid: string) => ({ person: { email: `${pid}@example.com` } });
      await ingest(client, [
        ...onlyA.map((pid) => profile(pid, { [segA]: 'realized' }, email(pid))),
        ...onlyB.map((pid) => profile(pid, { [segB]: 'realized' }, email(pid))),
        ...both.map((pid) => profile(pid, { [segA]: 'existing', [segB]: 'realized' }, email(pid))),
        ...exitedB.map((pid) => profile(pid, { [segB]: 'exited' }, email(pid))),
        ...neither.map((pid) => profile(pid, {}, email(pid))),
      ]);
      // Routed by segment: only the members of the mapped segment are read and decided.
      await idle(client, id, (s) => s.counters.received === onlyA.length + both.length);

      const status = await client.activate(id, {
        segments: [{ id: segA }, { id: segB }],
        attributes: ['person.email'],
      });
      assert.equal(status.activation?.segments.length, 2);
      const done = await idle(client, id, (s) => s.recentReexports[0]?.trigger === 'activation');
      const backfill = done.recentReexports[0] as ReexportProgress;
      assert.deepEqual(backfill.segmentIds, [segB]);
      assert.equal(backfill.profilesRead, onlyB.length + both.length);
      assert.equal(backfill.profilesExported, onlyB.length + both.length);
      assert.equal(backfill.estimatedTotal, onlyB.length + both.length);
      assert.equal(backfill.estimatedRemaining, 0);

      const all = [...onlyA, ...onlyB, ...both, ...exitedB, ...neither];
      const per = recordsPerProfile(await readAllRecords(fx.kinesis, stream), all);
      for (const pid of onlyA) assert.deepEqual(per.get(pid)?.map(statusesOf), [{ [segA]: 'realized' }], pid);
      for (const pid of onlyB) assert.deepEqual(per.get(pid)?.map(statusesOf), [{ [segB]: 'realized' }], pid);
      for (const pid of both) {
        assert.deepEqual(
          per.get(pid)?.map(statusesOf),
          [{ [segA]: 'realized' }, { [segA]: 'existing', [segB]: 'realized' }],
          pid,
        );
      }
      for (const pid of [...exitedB, ...neither]) assert.deepEqual(per.get(pid), [], pid);
      const record = per.get(onlyB[0] as string)?.[0];
      assert.deepEqual(JSON.parse(record?.data ?? '{}'), {
        person: { email: `${onlyB[0]}@example.com` },
        segmentMembership: { ups: { [segB]: { lastQualificationTime: '2024-03-01T12:00:00Z', status: 'realized' } } },
        identityMap: { ecid: [{ id: `ecid-${onlyB[0]}` }] },
      });
    });
  });

  it('re-exports by the diff rules, or with force every member; one at a time; a bad request changes nothing', async () => {
    await withWorker(fx.store, async ({ client }) => {
      const { id, stream } = await newDestination(client);
      const p = `re-${randomUUID()}-`;
      const seg = `${p}S`;
      const members = profileIds(`${p}m-`, 4500); // three pages
      await seedMembers(fx.store, members, { [seg]: 'realized' });
      await client.activate(id, { segments: [{ id: seg }], attributes: ['person.email'] });
      await idle(client, id, (s) => s.recentReexports.length === 1);

      const diff = await client.reexport(id);
      assert.equal(diff.trigger, 'manual');
      assert.equal(diff.force, false);
      const unchanged = await client.waitForReexport(id, diff.id);
      assert.equal(unchanged.profilesRead, members.length);
      assert.equal(unchanged.profilesExported, 0, 'nothing changed since the back-fill');
      assert.equal(unchanged.profilesSkipped, members.length);
      assert.equal(unchanged.pagesDone, 3);

      // Paused, a re-export is accepted but waits; a second one is rejected and changes nothing.
      await client.pause(id);
      const forced = await client.reexport(id, { force: true });
      await assert.rejects(client.reexport(id), (err: unknown) => {
        assert.ok(err instanceof WorkflowUpdateFailedError);
        assert.match(String(err.cause?.message), /re-export of this destination is running already/);
        return true;
      });
      await assert.rejects(client.reexport(id, { force: 'yes' } as never), /force/);
      const paused = await client.status(id);
      assert.equal(paused.state, 'paused');
      assert.equal(paused.reexport?.id, forced.id);
      assert.equal(paused.reexport?.pagesDone, 0);
      await client.resume(id);
      const resent = await client.waitForReexport(id, forced.id);
      assert.equal(resent.profilesExported, members.length);

      const per = recordsPerProfile(await readAllRecords(fx.kinesis, stream, { timeoutMs: 60_000 }), members);
      for (const pid of members)
        assert.deepEqual(per.get(pid)?.map(statusesOf), [{ [seg]: 'realized' }, { [seg]: 'existing' }], pid);
      const status = await client.status(id);
      assert.deepEqual(
        status.recentReexports.map((r) => r.id),
        [forced.id, diff.id, status.recentReexports[2]?.id],
      );
      assert.equal(status.counters.exported, 2 * members.length);
    });
  });

  it('stops a re-export on a terminal error, keeps its cursor, and finishes it after resume', async () => {
    await withWorker(fx.store, async ({ client }) => {
      const { id, stream } = await newDestination(client, { viaProxy: true });
      const p = `err-${randomUUID()}-`;
      const seg = `${p}S`;
      const members = profileIds(`${p}m-`, 3000);
      await seedMembers(fx.store, members, { [seg]: 'realized' });
      await client.activate(id, { segments: [{ id: seg }], attributes: ['person.email'] });
      await idle(client, id, (s) => s.recentReexports.length === 1);

      fx.proxy.setFaults({ accessDenied: ['PutRecords'] });
      const forced = await client.reexport(id, { force: true });
      const stopped = await waitFor(
        async () => {
          const s = await client.status(id);
          return s.state === 'error' ? s : undefined;
        },
        { timeoutMs: 60_000, what: 'the re-export to stop on AccessDenied' },
      );
      assert.match(stopped.lastError ?? '', /AccessDeniedException on PutRecords/);
      assert.equal(stopped.reexport?.id, forced.id);
      assert.equal(stopped.reexport?.pagesDone, 0);

      fx.proxy.setFaults({ accessDenied: [] });
      await client.resume(id);
      const done = await client.waitForReexport(id, forced.id);
      assert.equal(done.profilesExported, members.length);
      const per = recordsPerProfile(await readAllRecords(fx.kinesis, stream, { timeoutMs: 60_000 }), members);
      for (const pid of members)
        assert.deepEqual(per.get(pid)?.map(statusesOf), [{ [seg]: 'realized' }, { [seg]: 'existing' }], pid);
    });
  });

  it('takes turns with change exports: a profile is never in flight twice and its newest state comes last', async () => {
    await withWorker(fx.store, async ({ client }) => {
      // One shard, throttled at the service's 1,000 records/s: a forced re-export of 6,000 members lasts seconds.
      const { id, stream } = await newDestination(client, { shards: 1, viaProxy: true });
      const p = `turns-${randomUUID()}-`;
      const seg = `${p}S`;
      const members = profileIds(`${p}m-`, 6000);
      await seedMembers(fx.store, members, { [seg]: 'realized' });
      await client.activate(id, { segments: [{ id: seg }], attributes: ['person.email'] });
      await idle(client, id, (s) => s.recentReexports.length === 1);

      fx.proxy.setFaults({ shardThrottling: true });
      const forced = await client.reexport(id, { force: true });
      await waitFor(async () => ((await client.status(id)).reexport?.pagesDone ?? 0) >= 1, {
        timeoutMs: 60_000,
        what: 'the first re-export page',
      });
      const changed = members.filter((_, i) => i % 60 === 0);
      const changedUpTo = await ingest(
        client,
        changed.map((pid) => profile(pid, { [seg]: 'existing' }, { person: { email: `new-${pid}@example.com` } })),
      );

      const decided = await waitFor(
        async () => {
          const s = await client.status(id);
          return s.checkpoint >= changedUpTo ? s : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 50, what: 'the changes to be decided' },
      );
      assert.equal(decided.reexport?.id, forced.id, 'the changes were exported while the re-export was still running');
      const done = await client.waitForReexport(id, forced.id);
      assert.equal(done.profilesExported, members.length);
      assert.equal(fx.proxy.observed.partitionKeyOverlaps, 0, 'records of one profile were in flight together');

      const per = recordsPerProfile(await readAllRecords(fx.kinesis, stream, { timeoutMs: 60_000 }), members);
      for (const pid of changed) {
        const records = per.get(pid) ?? [];
        const last = JSON.parse(records[records.length - 1]?.data ?? '{}') as { person?: { email?: string } };
        assert.equal(last.person?.email, `new-${pid}@example.com`, `the newest state of ${pid} comes last`);
      }
    });
  });
});
