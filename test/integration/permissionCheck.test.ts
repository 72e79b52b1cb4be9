import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { permissionCheckFailure } from '../../src/domain/permissionCheck';
import type { KinesisPermission, PermissionCheckResult } from '../../src/domain/permissionCheck';
import { startKinesisEmulator } from '../../src/embedded/kinesisEmulator';
import type { KinesisEmulator } from '../../src/embedded/kinesisEmulator';
import { createKinesisClient } from '../../src/kinesis/client';
import { KinesisTerminalError } from '../../src/kinesis/errors';
import { checkStreamPermissions } from '../../src/kinesis/permissionCheck';
import { startKinesisFaultProxy } from '../support/kinesisFaultProxy';
import type { KinesisFaultProxy } from '../support/kinesisFaultProxy';
import { createStream, readAllRecords } from '../support/kinesisStream';

const credentials = { accessKeyId: 'AKIACHECKEXAMPLE01', secretAccessKey: 'test' };
const STREAM = 'stream-under-check';
/** Other streams, so ListStreams has pages to go through before it reaches STREAM. */
const OTHERS = ['a-stream', 'b-stream', 'c-stream', 'd-stream'];

const verdicts = (result: PermissionCheckResult): Record<string, string> =>
  Object.fromEntries([
    ...result.permissions.map((p): [string, string] => [p.permission, p.verdict]),
    ['stream', result.streamVerdict],
  ]);

describe('permission check against a Kinesis emulator', () => {
  let emulator: KinesisEmulator;
  /** Stands in for another region's endpoint: an account with no streams there. */
  let otherRegion: KinesisEmulator;
  let proxy: KinesisFaultProxy;
  let admin: KinesisClient;
  const clients: KinesisClient[] = [];

  const clientFor = (region: string): KinesisClient => {
    const client = createKinesisClient({ region, endpoint: proxy.endpoint, credentials });
    clients.push(client);
    return client;
  };

  before(async () => {
    emulator = await startKinesisEmulator();
    otherRegion = await startKinesisEmulator();
    proxy = await startKinesisFaultProxy(
      emulator.endpoint,
      {},
      { regionEndpoints: { 'eu-west-1': otherRegion.endpoint } },
    );
    admin = createKinesisClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials });
    for (const name of [...OTHERS, STREAM]) await createStream(admin, name, 1);
  });

  afterEach(() => proxy.reset());

  after(async () => {
    for (const client of [admin, ...clients]) client.destroy();
    await proxy.stop();
    await otherRegion.stop();
    await emulator.stop();
  });

  it('passes when every permission is granted, paging through ListStreams, and writes nothing to the stream', async () => {
    const result = await checkStreamPermissions(clientFor('us-east-1'), {
      stream: STREAM,
      region: 'us-east-1',
      listPageSize: 2,
    });
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.deepEqual(verdicts(result), {
      ListStreams: 'granted',
      PutRecord: 'granted',
      PutRecords: 'granted',
      stream: 'exists',
    });
    assert.equal(proxy.counts.ListStreams, 3, 'five streams, two per page: the third page lists the stream');
    assert.equal(proxy.counts.PutRecord, 1);
    assert.equal(proxy.counts.PutRecords, 1);
    assert.deepEqual(await readAllRecords(admin, STREAM), [], 'the probes wrote no record');
  });

  for (const denied of ['ListStreams', 'PutRecord', 'PutRecords'] as const satisfies readonly KinesisPermission[]) {
    it(`names ${denied} when AccessDenied answers it, and only it`, async () => {
      proxy.setFaults({ accessDenied: [denied] });
      const result = await checkStreamPermissions(clientFor('us-east-1'), { stream: STREAM, region: 'us-east-1' });
      assert.equal(result.ok, false);
      const expected: Record<string, string> = {
        ListStreams: 'granted',
        PutRecord: 'granted',
        PutRecords: 'granted',
        stream: 'exists',
      };
      expected[denied] = 'denied';
      // Without ListStreams the stream's existence is not known.
      if (denied === 'ListStreams') expected.stream = 'unknown';
      assert.deepEqual(verdicts(result), expected);
      assert.match(
        result.permissions.find((p) => p.permission === denied)?.detail ?? '',
        new RegExp(`^AccessDeniedException: .*kinesis:${denied} `),
      );
      assert.match(
        permissionCheckFailure(result),
        new RegExp(`^kinesis:${denied} denied on stream ${STREAM} \\(us-east-1\\): AccessDeniedException`),
      );
    });
  }

  it("reads the stream's record size limit with DescribeStreamSummary, where the service gives it", async () => {
    const check = () => checkStreamPermissions(clientFor('us-east-1'), { stream: STREAM, region: 'us-east-1' });
    // The emulator answers DescribeStreamSummary without MaxRecordSizeInKiB.
    const silent = await check();
    assert.equal(silent.ok, true);
    assert.deepEqual(silent.streamLimit, {
      verdict: 'granted',
      maxRecordBytes: null,
      detail: 'the stream did not say its MaxRecordSizeInKiB; records are held to 1 MiB',
    });
    proxy.setFaults({ maxRecordSizeInKiB: 2048 });
    const raised = await check();
    assert.deepEqual(raised.streamLimit, {
      verdict: 'granted',
      maxRecordBytes: 2 * 1024 * 1024,
      detail: 'the stream takes records up to 2048 KiB',
    });
    assert.equal(proxy.counts.DescribeStreamSummary, 2);
  });

  it('passes without DescribeStreamSummary, the grant being optional, and says records are held to 1 MiB', async () => {
    proxy.setFaults({ accessDenied: ['DescribeStreamSummary'], maxRecordSizeInKiB: 2048 });
    const result = await checkStreamPermissions(clientFor('us-east-1'), { stream: STREAM, region: 'us-east-1' });
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.streamLimit?.verdict, 'denied');
    assert.equal(result.streamLimit.maxRecordBytes, null);
    assert.match(
      result.streamLimit.detail,
      /^DescribeStreamSummary \(optional\) refused: AccessDeniedException: .*kinesis:DescribeStreamSummary .*; records are held to 1 MiB$/,
    );
  });

  it('reports a missing stream, and leaves the write grants unproven', async () => {
    const result = await checkStreamPermissions(clientFor('us-east-1'), {
      stream: 'no-such-stream',
      region: 'us-east-1',
    });
    assert.deepEqual(verdicts(result), {
      ListStreams: 'granted',
      PutRecord: 'unknown',
      PutRecords: 'unknown',
      stream: 'missing',
    });
    assert.equal(
      permissionCheckFailure(result),
      'stream no-such-stream not found: no stream named no-such-stream among the 5 ListStreams lists in us-east-1; check the stream name and the region',
    );
  });

  it('reports a stream of another region as missing in the configured region', async () => {
    // Requests signed for eu-west-1 reach that region's endpoint, where the stream does not exist.
    const result = await checkStreamPermissions(clientFor('eu-west-1'), { stream: STREAM, region: 'eu-west-1' });
    assert.equal(result.ok, false);
    assert.equal(result.streamVerdict, 'missing');
    assert.equal(
      result.streamDetail,
      `no stream named ${STREAM} among the 0 ListStreams lists in eu-west-1; check the stream name and the region`,
    );
    assert.equal(proxy.counts.ListStreams, 1);
  });

  for (const [kind, contentType, body] of [
    ['an HTML page', 'text/html', '<html><body>Not Found</body></html>'],
    ['JSON without an AWS error', 'application/json', '{"message":"no route"}'],
  ] as const) {
    it(`reports an endpoint that answers HTTP 404 with ${kind} as not Kinesis, not as denied permissions`, async () => {
      const server = createServer((_req, res) => {
        res.writeHead(404, { 'content-type': contentType });
        res.end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const client = createKinesisClient({
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        credentials,
      });
      try {
        await assert.rejects(
          checkStreamPermissions(client, { stream: STREAM, region: 'us-east-1' }),
          (err: unknown) => {
            assert.ok(err instanceof KinesisTerminalError, String(err));
            assert.equal(err.code, 'NotKinesisEndpoint');
            assert.equal(
              err.message,
              'NotKinesisEndpoint on ListStreams: the endpoint answered HTTP 404: is this a Kinesis endpoint?',
            );
            return true;
          },
        );
      } finally {
        client.destroy();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }

  it('throws errors a retry may fix, so the activity retries the whole check', async () => {
    proxy.setFaults({ serverErrorRate: 1 });
    await assert.rejects(checkStreamPermissions(clientFor('us-east-1'), { stream: STREAM, region: 'us-east-1' }), {
      name: 'InternalFailure',
    });
  });
});
