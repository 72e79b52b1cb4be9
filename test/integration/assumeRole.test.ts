import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { KinesisConnections } from '../../src/kinesis/connections';
import { destinationSettingsSchema } from '../../src/domain/destination';
import type { DestinationSettingsInput } from '../../src/domain/destination';
import { startKinesisEmulator } from '../../src/embedded/kinesisEmulator';
import type { KinesisEmulator } from '../../src/embedded/kinesisEmulator';
import { waitFor } from '../../src/embedded/waitFor';
import { createKinesisClient } from '../../src/kinesis/client';
import type { OutgoingRecord } from '../../src/kinesis/outgoingRecord';
import { openStore } from '../../src/store/openStore';
import type { Store } from '../../src/store/store';
import { startKinesisFaultProxy } from '../support/kinesisFaultProxy';
import type { KinesisFaultProxy } from '../support/kinesisFaultProxy';
import { createStream, readAllRecords } from '../support/kinesisStream';
import { getTestMoto } from '../support/moto';
import type { TestMoto } from '../support/moto';
import { withWorker } from '../support/temporal';

const ROLE_ARN = 'arn:aws:iam::123456789012:role/kinesis-writer';
/** Sessions this short are always within the SDK's 5-minute refresh window, so each call asks STS again. */
const SESSION_SECONDS = 1;
/** The proxy refuses a session older than this with ExpiredTokenException, as AWS does once it expired. */
const SESSION_LIFETIME_MS = 1500;

describe('AssumeRole credentials (STS on moto)', () => {
  let moto: TestMoto;
  let emulator: KinesisEmulator;
  let proxy: KinesisFaultProxy;
  let admin: KinesisClient;
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  const settingsFor = (stream: string, externalId: string): DestinationSettingsInput => ({
    name: 'assume-role',
    region: 'us-east-1',
    stream,
    endpoint: proxy.endpoint,
    credentials: {
      type: 'assumeRole',
      roleArn: ROLE_ARN,
      externalId,
      sessionName: 'ka-test-session',
      stsEndpoint: moto.endpoint,
    },
  });

  before(async () => {
    moto = await getTestMoto();
    emulator = await startKinesisEmulator();
    proxy = await startKinesisFaultProxy(emulator.endpoint);
    admin = createKinesisClient({
      region: 'us-east-1',
      endpoint: emulator.endpoint,
      credentials: { accessKeyId: 'admin', secretAccessKey: 'admin' },
    });
    // The worker's own identity (the default chain, here its environment) assumes the customer's role.
    process.env.AWS_ACCESS_KEY_ID = 'AKIAWORKEREXAMPLE1';
    process.env.AWS_SECRET_ACCESS_KEY = 'worker-secret';
  });

  afterEach(() => proxy.reset());

  after(async () => {
    for (const [name, value] of [
      ['AWS_ACCESS_KEY_ID', saved.id],
      ['AWS_SECRET_ACCESS_KEY', saved.secret],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    admin.destroy();
    await proxy.stop();
    await emulator.stop();
  });

  it('keeps a long export going past the expiry of its first session, with sessions of the role, external id and session name', async () => {
    const stream = 'assume-role-long';
    await createStream(admin, stream, 1);
    const externalId = `ext-${randomUUID()}`;
    const settings = destinationSettingsSchema.parse(settingsFor(stream, externalId));
    const writers = new KinesisConnections({ roleSessionSeconds: SESSION_SECONDS });
    // One shard takes 1,000 records/s: 4,000 records take at least 3 s, twice a session's lifetime.
    proxy.setFaults({ shardThrottling: true, credentialLifetimeMs: SESSION_LIFETIME_MS });
    const records: OutgoingRecord[] = Array.from({ length: 4000 }, (_, i) => ({
      profileId: `p${i}`,
      partitionKey: `p${i}`,
      data: Buffer.from(`{"n":${i}}`),
    }));
    let acked = 0;
    try {
      const stats = await writers.forDestination('long-export', settings).write(records, (group) => {
        acked += group.length;
        return Promise.resolve();
      });
      assert.equal(stats.recordsSent, 4000);
    } finally {
      writers.close();
    }
    assert.equal(acked, 4000);
    assert.equal((await readAllRecords(admin, stream)).length, 4000);
    assert.equal(proxy.injected.expiredTokens, 0, 'no call went out with an expired session');
    const keyIds = proxy.observed.accessKeyIds;
    assert.ok(keyIds.length >= 2, `sessions were renewed during the export (saw ${keyIds.length})`);

    const sessions = await moto.assumedRoles();
    const ours = sessions.filter((s) => s.external_id === externalId);
    assert.ok(
      keyIds.every((id) => ours.some((s) => s.access_key_id === id)),
      'every call was signed by a session of this destination',
    );
    assert.ok(ours.every((s) => s.role_arn === ROLE_ARN && s.session_name === 'ka-test-session'));

    // Control: the first session really is expired by now, so the later calls needed new ones.
    const first = (await moto.assumedRoles()).find((s) => s.access_key_id === keyIds[0]) as unknown as {
      secret_access_key: string;
      session_token: string;
    };
    const stale = createKinesisClient({
      region: 'us-east-1',
      endpoint: proxy.endpoint,
      credentials: {
        accessKeyId: keyIds[0] as string,
        secretAccessKey: first.secret_access_key,
        sessionToken: first.session_token,
      },
    });
    try {
      await assert.rejects(
        stale.send(
          new PutRecordsCommand({ StreamName: stream, Records: [{ PartitionKey: 'x', Data: Buffer.from('{}') }] }),
        ),
        { name: 'ExpiredTokenException' },
      );
    } finally {
      stale.destroy();
    }
  });

  it('runs a destination end to end: permission check and export with the assumed role', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ka-role-'));
    const store: Store = await openStore(join(dir, 'store.sqlite'));
    const stream = 'assume-role-e2e';
    await createStream(admin, stream, 1);
    const externalId = `ext-${randomUUID()}`;
    try {
      await withWorker(
        store,
        async ({ client }) => {
          const { id } = await client.createDestination(settingsFor(stream, externalId));
          const checked = await waitFor(async () => (await client.status(id)).permissions, {
            timeoutMs: 30_000,
            what: 'the first permission check',
          });
          assert.equal(checked.ok, true, JSON.stringify(checked));
          await client.activate(id, { segments: [{ id: 'seg' }], attributes: ['person.email'] });
          const profile = {
            profileId: 'p1',
            identityMap: { ecid: [{ id: '1' }] },
            person: { email: 'a@example.com' },
            segmentMembership: { ups: { seg: { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
          };
          await client.ingest(Readable.from([JSON.stringify(profile)]));
          await waitFor(async () => (await client.status(id)).counters.exported === 1, {
            timeoutMs: 30_000,
            what: 'the export',
          });
        },
        { aws: { roleSessionSeconds: 900 } },
      );
      assert.equal((await readAllRecords(admin, stream)).length, 1);
      assert.ok((await moto.assumedRoles()).some((s) => s.external_id === externalId && s.role_arn === ROLE_ARN));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
