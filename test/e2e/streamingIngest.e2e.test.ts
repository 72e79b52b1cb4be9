import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { profileIdHash } from '../../src/domain/partitionKey';
import { waitFor } from '../../src/embedded/waitFor';
import type { ActivationClient } from '../../src/client/activationClient';
import { runCli } from '../support/cli';
import { useKinesisFixture } from '../support/kinesisFixture';
import { readAllRecords } from '../support/kinesisStream';
import { emulatorDestination } from '../support/destinations';
import type { StoredRecord } from '../support/kinesisStream';
import { profile, statusesOf } from '../support/profiles';
import { processEnv, withWorker } from '../support/temporal';
import { assertNoBytes } from '../support/storeFiles';
import { tailStream } from '../support/streamTail';

const BIN = resolve(__dirname, '..', '..', 'bin', 'kinesis-activation');

describe('streaming ingest, merges and erasure through the CLI, a real worker, Temporal and Kinesis emulator', function () {
  this.timeout(300_000);
  const fx = useKinesisFixture('streaming');

  const newDestination = (client: ActivationClient, segment: string, attributes: string[]) =>
    emulatorDestination(client, fx.kinesis, fx.emulator.endpoint, { segments: [{ id: segment }], attributes });

  const recordOf = (records: StoredRecord[], profileId: string): StoredRecord[] =>
    records.filter((r) => r.partitionKey === profileIdHash(profileId));

  it('a pipe kept open: each line (one every 200 ms for 10 s) is read back from the stream within 1 s, while the pipe is open', async () => {
    await withWorker(fx.store, async ({ temporal, client, taskQueue }) => {
      const { stream } = await newDestination(client, 'seg-live', ['person.email']);
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const child = spawn(process.execPath, [BIN, 'ingest', '-', '--json'], {
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      const send = (id: string): void => {
        child.stdin.write(
          `${JSON.stringify(profile(id, { 'seg-live': 'realized' }, { person: { email: `${id}@x` } }).snapshot)}\n`,
        );
      };
      // One reader tails the stream and notes when each record arrives.
      const tail = tailStream(fx.kinesis, stream);
      const readBack = (id: string, timeoutMs: number) =>
        waitFor(() => tail.arrivals.get(profileIdHash(id)), { timeoutMs, intervalMs: 10, what: `the record of ${id}` });
      try {
        // The CLI process starts (about a second) before the clock runs.
        send('warm-up');
        await readBack('warm-up', 30_000);
        const sentAt = new Map<string, number>();
        for (let i = 0; i < 50; i++) {
          const id = `live-${i}`;
          sentAt.set(id, Date.now());
          send(id);
          await new Promise((r) => setTimeout(r, 200));
        }
        await readBack('live-49', 1000);
        assert.equal(child.exitCode, null, 'the pipe is still open and ingest still running');
        const latencies = [...sentAt].map(([id, at]) => (tail.arrivals.get(profileIdHash(id)) ?? Infinity) - at);
        latencies.sort((a, b) => a - b);
        console.log(
          `      line -> record read back: p50 ${latencies[25]} ms, max ${latencies.at(-1)} ms (${latencies.length} lines)`,
        );
        assert.ok((latencies.at(-1) ?? Infinity) < 1000, `slowest ${latencies.at(-1)} ms`);
      } finally {
        tail.stop();
        child.stdin.end();
      }
      assert.equal(await exited, 0, stderr);
      const report = JSON.parse(stdout) as { accepted: number; unannounced: string | null };
      assert.equal(report.accepted, 51);
      assert.equal(report.unannounced, null);
    });
  });

  it('ingest --merge: a patch changing a mapped attribute exports the merged profile, one changing nothing mapped exports nothing', async () => {
    await withWorker(fx.store, async ({ temporal, client, taskQueue }) => {
      const { id, stream } = await newDestination(client, 'seg-merge', ['person.email', 'person.name.firstName']);
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const full = profile(
        'm-1',
        { 'seg-merge': 'realized' },
        { person: { email: 'old@x', name: { firstName: 'Mo' } } },
      );
      const ingested = await runCli(['ingest', '-', '--json'], env, `${JSON.stringify(full.snapshot)}\n`);
      assert.equal(ingested.code, 0, ingested.stderr);
      await waitFor(async () => recordOf(await readAllRecords(fx.kinesis, stream), 'm-1').length === 1, {
        timeoutMs: 30_000,
        what: 'the first record',
      });
      const patches = [
        { profileId: 'm-1', person: { email: 'new@x', name: null }, loyalty: { tier: 'gold' } },
        { profileId: 'm-1', loyalty: { tier: 'platinum' } },
        { profileId: 'm-2' },
        'not json',
      ];
      const merged = await runCli(
        ['ingest', '--merge', '-', '--json'],
        env,
        patches.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join('\n'),
      );
      assert.equal(merged.code, 3, `exit 3: some lines were rejected; ${merged.stderr}`);
      const report = JSON.parse(merged.stdout) as { accepted: number; rejected: { line: number; reason: string }[] };
      assert.equal(report.accepted, 2);
      assert.deepEqual(
        report.rejected.map((r) => r.line),
        [3, 4],
      );
      assert.match(report.rejected[0]?.reason ?? '', /identityMap/);
      await waitFor(
        async () => {
          const status = await client.status(id);
          return status.state === 'idle' && status.checkpoint >= (await fx.store.head());
        },
        { timeoutMs: 30_000, what: 'the destination to decide the merge' },
      );
      const records = recordOf(await readAllRecords(fx.kinesis, stream), 'm-1');
      assert.equal(records.length, 2, 'one record for the two patches, none for the unmapped-only change');
      assert.deepEqual((JSON.parse(records[1]?.data ?? '{}') as { person: unknown }).person, { email: 'new@x' });
      const unmappedOnly = await runCli(
        ['ingest', '--merge', '-'],
        env,
        `${JSON.stringify({ profileId: 'm-1', loyalty: { tier: 'bronze' } })}\n`,
      );
      assert.equal(unmappedOnly.code, 0, unmappedOnly.stderr);
      await waitFor(async () => (await client.status(id)).checkpoint >= (await fx.store.head()), {
        timeoutMs: 30_000,
        what: 'the destination to decide the unmapped change',
      });
      assert.equal(recordOf(await readAllRecords(fx.kinesis, stream), 'm-1').length, 2);
    });
  });

  it('forget: the exit record is read back, then the person is in no store table or file; ingested again, a new profile', async () => {
    await withWorker(fx.store, async ({ temporal, client, taskQueue }) => {
      const { id, stream } = await newDestination(client, 'seg-erase', ['person.email']);
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const person = profile(
        'erase-me',
        { 'seg-erase': 'realized', 'seg-other': 'realized' },
        {
          person: { email: 'erase-me-please@example.com' },
        },
      );
      const line = `${JSON.stringify(person.snapshot)}\n`;
      assert.equal((await runCli(['ingest', '-'], env, line)).code, 0);
      await waitFor(async () => recordOf(await readAllRecords(fx.kinesis, stream), 'erase-me').length === 1, {
        timeoutMs: 30_000,
        what: 'the record of erase-me',
      });

      const forgotten = await runCli(['forget', 'erase-me', 'never-seen', '--json'], env);
      assert.equal(forgotten.code, 0, forgotten.stderr);
      assert.deepEqual(JSON.parse(forgotten.stdout), { forgotten: 1, exitsSent: 1, waiting: [], unannounced: null });
      const records = recordOf(await readAllRecords(fx.kinesis, stream), 'erase-me');
      assert.equal(records.length, 2);
      assert.deepEqual(statusesOf(records[1] as StoredRecord), { 'seg-erase': 'exited' });
      const exit = JSON.parse(records[1]?.data ?? '{}') as Record<string, unknown>;
      assert.deepEqual(exit.identityMap, { ecid: [{ id: 'ecid-erase-me' }] }, 'the exit names the person');
      assert.equal(exit.person, undefined, 'and carries none of their attributes');

      await assertNoBytes(join(fx.dir, 'store.sqlite'), ['erase-me', 'erase-me-please']);
      assert.deepEqual(JSON.parse((await runCli(['forget', 'erase-me', '--json'], env)).stdout), {
        forgotten: 0,
        exitsSent: 0,
        waiting: [],
        unannounced: null,
      });

      // Ingested again: never exported before, so a new entry (realized), not an update.
      assert.equal((await runCli(['ingest', '-'], env, line)).code, 0);
      await waitFor(async () => recordOf(await readAllRecords(fx.kinesis, stream), 'erase-me').length === 3, {
        timeoutMs: 60_000,
        what: 'the record of erase-me ingested again',
      }).catch(async (err: unknown) => {
        // Seen in about one run in twenty: what the destination and the stream show then.
        const seen = recordOf(await readAllRecords(fx.kinesis, stream), 'erase-me').map((r) => statusesOf(r));
        const status = await client.status(id);
        throw new Error(
          `${String(err)}; head ${await fx.store.head()}, stream ${JSON.stringify(seen)}, status ${JSON.stringify(status)}`,
        );
      });
      const again = recordOf(await readAllRecords(fx.kinesis, stream), 'erase-me')[2] as StoredRecord;
      assert.deepEqual(statusesOf(again), { 'seg-erase': 'realized' });
    });
  });
});
