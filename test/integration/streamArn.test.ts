import assert from 'node:assert/strict';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { destinationSettingsSchema } from '../../src/domain/destination';
import type { DestinationSettings } from '../../src/domain/destination';
import { createKinesisClient } from '../../src/kinesis/client';
import { KinesisConnections } from '../../src/kinesis/connections';
import { checkStreamPermissions } from '../../src/kinesis/permissionCheck';
import { createStream, readAllRecords } from '../support/kinesisStream';
import { getTestMoto } from '../support/moto';

const STREAM = 'arn-stream';
/** The account moto serves. */
const ACCOUNT = '123456789012';
const SECRET_ENV = 'STREAM_ARN_TEST_SECRET';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

/**
 * A destination naming its stream by ARN, against moto's Kinesis (the local emulator takes no
 * StreamARN). moto looks a stream up by name when given one: a call that names the stream by the
 * ARN of another account fails, so only a call that sends StreamARN can fail that way.
 */
describe('a stream named by ARN (Kinesis on moto)', () => {
  let endpoint: string;
  let admin: KinesisClient;
  let writers: KinesisConnections;
  const arnOf = (account: string) => `arn:aws:kinesis:us-east-1:${account}:stream/${STREAM}`;
  const settingsFor = (stream: string): DestinationSettings =>
    destinationSettingsSchema.parse({
      name: 'by arn',
      region: 'us-east-1',
      stream,
      endpoint,
      credentials: { type: 'accessKey', accessKeyId: 'AKIAARNEXAMPLE0001', secretAccessKeyEnv: SECRET_ENV },
    });

  before(async () => {
    process.env[SECRET_ENV] = 'moto-accepts-any-secret';
    endpoint = (await getTestMoto()).endpoint;
    admin = createKinesisClient({ region: 'us-east-1', endpoint, credentials });
    await createStream(admin, STREAM, 1);
    writers = new KinesisConnections();
  });

  after(() => {
    writers.close();
    admin.destroy();
  });

  it('is checked and written to by its ARN', async () => {
    const settings = settingsFor(arnOf(ACCOUNT));
    const check = await writers.withClient('by-arn', settings, (client) =>
      checkStreamPermissions(client, { stream: settings.stream, region: settings.region }),
    );
    assert.equal(check.streamVerdict, 'exists', check.streamDetail);
    assert.equal(check.streamLimit?.verdict, 'granted', check.streamLimit?.detail);

    const before = (await readAllRecords(admin, STREAM)).length;
    const stats = await writers
      .forDestination('by-arn', settings)
      .write([{ profileId: 'p1', partitionKey: 'p1', data: Buffer.from('{"by":"arn"}') }], () => Promise.resolve());
    assert.equal(stats.recordsSent, 1);
    const records = await readAllRecords(admin, STREAM);
    assert.equal(records.length, before + 1);
    assert.equal(records.at(-1)?.data, '{"by":"arn"}');
  });

  it("sends StreamARN, not the name: another account's ARN of a stream of that name is not found", async () => {
    const settings = settingsFor(arnOf('210987654321'));
    const check = await writers.withClient('other-account', settings, (client) =>
      checkStreamPermissions(client, { stream: settings.stream, region: settings.region }),
    );
    // ListStreams lists the caller's account, where a stream of that name is.
    assert.equal(check.streamVerdict, 'exists');
    assert.deepEqual(
      check.permissions.filter((p) => p.permission !== 'ListStreams').map((p) => [p.permission, p.verdict]),
      [
        ['PutRecord', 'unknown'],
        ['PutRecords', 'unknown'],
      ],
    );
    assert.match(check.permissions[1]?.detail ?? '', /ResourceNotFoundException/);
    assert.equal(check.streamLimit?.verdict, 'unknown');
    await assert.rejects(
      writers
        .forDestination('other-account', settings)
        .write([{ profileId: 'p2', partitionKey: 'p2', data: Buffer.from('{}') }], () => Promise.resolve()),
      /ResourceNotFoundException/,
    );
  });
});
