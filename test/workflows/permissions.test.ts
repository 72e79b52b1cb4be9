import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { DestinationSettingsInput } from '../../src/domain/destination';
import type { PermissionCheckResult } from '../../src/domain/permissionCheck';
import { waitFor } from '../../src/embedded/waitFor';
import { runCli } from '../support/cli';
import { updateFailure } from '../support/updateFailure';
import { useKinesisFixture } from '../support/kinesisFixture';
import { processEnv, withWorker } from '../support/temporal';

const STREAM = 'permission-stream';
const ACTIVATION = { segments: [{ id: 'seg' }], attributes: ['person.email'] };

describe('permission checks of a destination actor', () => {
  const fx = useKinesisFixture('perm', { proxy: true, streams: { [STREAM]: 1 } });

  it('stops a destination whose grant is missing, names it in status and `destination check`, and resumes once it is granted', async () => {
    process.env.PERMISSION_TEST_SECRET = 'permission-test-secret';
    const settings: DestinationSettingsInput = {
      name: 'perm',
      region: 'us-east-1',
      stream: STREAM,
      endpoint: fx.proxy.endpoint,
      credentials: {
        type: 'accessKey',
        accessKeyId: 'AKIAPERMEXAMPLE001',
        secretAccessKeyEnv: 'PERMISSION_TEST_SECRET',
      },
    };
    fx.proxy.setFaults({ accessDenied: ['PutRecords'] });
    await withWorker(fx.store, async ({ client, temporal, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const { id } = await client.createDestination(settings);

      // Checked at creation: a non-retryable failure (one attempt) that stops the destination.
      const stopped = await waitFor(
        async () => ((await client.status(id)).permissions ? client.status(id) : undefined),
        { timeoutMs: 30_000, what: 'the first check' },
      );
      assert.equal(stopped.state, 'error');
      assert.match(
        stopped.lastError ?? '',
        /^kinesis:PutRecords denied on stream permission-stream \(us-east-1\): AccessDeniedException: /,
      );
      assert.deepEqual(
        stopped.permissions?.permissions.map((p) => [p.permission, p.verdict]),
        [
          ['ListStreams', 'granted'],
          ['PutRecord', 'granted'],
          ['PutRecords', 'denied'],
        ],
      );
      assert.equal(fx.proxy.injected.accessDenied, 1, 'the failed check was not retried');

      // Checked before an activation: refused, the mapping unchanged.
      assert.match(
        await updateFailure(client.activate(id, ACTIVATION)),
        /^kinesis:PutRecords denied on stream permission-stream/,
      );
      assert.equal((await client.status(id)).activation, null);

      const denied = await runCli(['destination', 'check', id], env);
      assert.equal(denied.code, 1);
      const lines = denied.stdout.trimEnd().split('\n');
      assert.equal(lines.length, 5, denied.stdout);
      assert.match(lines[0] ?? '', /^ListStreams +ok +listed /);
      assert.match(lines[1] ?? '', /^PutRecord +ok +authorized/);
      assert.match(lines[2] ?? '', /^PutRecords +denied +AccessDeniedException: .*kinesis:PutRecords/);
      assert.match(lines[3] ?? '', /^stream +ok +permission-stream is listed in us-east-1$/);
      assert.match(
        lines[4] ?? '',
        /^record size +ok +the stream did not say its MaxRecordSizeInKiB; records are held to 1 MiB$/,
      );
      assert.match(
        denied.stderr,
        /^kinesis-activation: kinesis:PutRecords denied on stream permission-stream \(us-east-1\): .*\n$/,
      );

      const deniedJson = await runCli(['destination', 'check', id, '--json'], env);
      assert.equal(deniedJson.code, 1);
      const parsed = JSON.parse(deniedJson.stdout) as PermissionCheckResult;
      assert.equal(parsed.ok, false);
      assert.equal(parsed.permissions.find((p) => p.permission === 'PutRecords')?.verdict, 'denied');

      // The grant is given: the check passes, the destination leaves the error state.
      fx.proxy.reset();
      const granted = await runCli(['destination', 'check', id], env);
      assert.equal(granted.code, 0, granted.stderr);
      assert.deepEqual(
        granted.stdout
          .trimEnd()
          .split('\n')
          .map((line) => line.slice(0, 19).trimEnd().replace(/ +/g, ' ')),
        ['ListStreams ok', 'PutRecord ok', 'PutRecords ok', 'stream ok', 'record size ok'],
      );
      const status = await runCli(['status', id], env);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /\nState: +idle\n/);
      assert.match(
        status.stdout,
        /\nPermissions: +ListStreams granted, PutRecord granted, PutRecords granted; stream exists \(checked [^)]+\)\n$/,
      );
      assert.doesNotMatch(status.stdout, /Last error/);

      const activated = await client.activate(id, ACTIVATION);
      assert.deepEqual(activated.activation, ACTIVATION);
      assert.equal(activated.permissions?.ok, true);

      // New settings are checked before they apply: a missing stream leaves the old ones in place.
      const failure = await updateFailure(client.configure(id, { ...settings, stream: 'missing-stream' }));
      assert.equal(
        failure,
        'stream missing-stream not found: no stream named missing-stream among the 1 ListStreams lists in us-east-1; check the stream name and the region',
      );
      const after = await client.status(id);
      assert.equal(after.stream, STREAM);
      assert.equal(after.state, 'idle');
      assert.equal(((await fx.store.getDestination(id))?.settings as { stream?: string } | undefined)?.stream, STREAM);
    });
  });

  it("reads the stream's record size at check time; without DescribeStreamSummary the check passes and says 1 MiB", async () => {
    process.env.PERMISSION_TEST_SECRET = 'permission-test-secret';
    fx.proxy.setFaults({ accessDenied: ['DescribeStreamSummary'], maxRecordSizeInKiB: 2048 });
    await withWorker(fx.store, async ({ client, temporal, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const { id } = await client.createDestination({
        name: 'record-size',
        region: 'us-east-1',
        stream: STREAM,
        endpoint: fx.proxy.endpoint,
        credentials: {
          type: 'accessKey',
          accessKeyId: 'AKIAPERMEXAMPLE003',
          secretAccessKeyEnv: 'PERMISSION_TEST_SECRET',
        },
      });
      const created = await waitFor(
        async () => ((await client.status(id)).permissions ? client.status(id) : undefined),
        { timeoutMs: 30_000, what: 'the first check' },
      );
      assert.equal(created.state, 'idle', created.lastError ?? '');
      assert.equal(created.permissions?.streamLimit?.verdict, 'denied');

      const denied = await runCli(['destination', 'check', id], env);
      assert.equal(denied.code, 0, denied.stderr);
      assert.match(
        denied.stdout,
        /\nrecord size +denied +DescribeStreamSummary \(optional\) refused: AccessDeniedException: .*; records are held to 1 MiB\n$/,
      );

      fx.proxy.setFaults({ accessDenied: [] });
      const granted = await runCli(['destination', 'check', id, '--json'], env);
      assert.equal(granted.code, 0, granted.stderr);
      assert.deepEqual((JSON.parse(granted.stdout) as PermissionCheckResult).streamLimit, {
        verdict: 'granted',
        maxRecordBytes: 2 * 1024 * 1024,
        detail: 'the stream takes records up to 2048 KiB',
      });
      assert.equal((await client.status(id)).permissions?.streamLimit?.maxRecordBytes, 2 * 1024 * 1024);
      const shown = await runCli(['destination', 'show', id], env);
      assert.match(shown.stdout, /at most the stream's MaxRecordSizeInKiB \(1 MiB when not known\)/);
    });
    fx.proxy.reset();
  });

  it('fails the check at once, naming the reference, when the worker cannot resolve the secret', async () => {
    await withWorker(fx.store, async ({ client, temporal, taskQueue }) => {
      const env = processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite'));
      const { id } = await client.createDestination({
        name: 'unresolvable',
        region: 'us-east-1',
        stream: STREAM,
        endpoint: fx.proxy.endpoint,
        credentials: {
          type: 'accessKey',
          accessKeyId: 'AKIAPERMEXAMPLE002',
          secretAccessKeyEnv: 'NOT_SET_ON_THIS_WORKER',
        },
      });
      const expected =
        'permission check did not complete: credentials.secretAccessKeyEnv: environment variable NOT_SET_ON_THIS_WORKER is not set on the worker';
      const stopped = await waitFor(async () => ((await client.status(id)).lastError ? client.status(id) : undefined), {
        timeoutMs: 30_000,
        what: 'the first check to fail',
      });
      assert.equal(stopped.state, 'error');
      assert.equal(stopped.lastError, expected);
      assert.equal(stopped.permissions, null, 'no permission was tried');
      const checked = await runCli(['destination', 'check', id], env);
      assert.equal(checked.code, 1);
      assert.equal(checked.stdout, '');
      assert.equal(checked.stderr, `kinesis-activation: ${expected}\n`);
    });
  });
});
