import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startCodecServer } from '../../src/codec/codecServer';
import { dataConverterFor } from '../../src/codec/dataConverter';
import { ENCRYPTED_ENCODING, EncryptionCodec } from '../../src/codec/encryptionCodec';
import { parseKeyring } from '../../src/codec/keyring';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import type { DestinationSettingsInput } from '../../src/domain/destination';
import { waitFor } from '../../src/embedded/waitFor';
import { readAllRecords } from '../support/kinesisStream';
import { useKinesisFixture } from '../support/kinesisFixture';
import { historiesOfEveryRun, withWorker } from '../support/temporal';

const STREAM = 'secrets-stream';
const PROFILES = 5;

/** Every run of a workflow id (continued-as-new runs included), each history as raw proto bytes and as JSON. */
async function allHistories(client: Client, workflowId: string): Promise<{ bytes: Buffer; json: string }[]> {
  return (await historiesOfEveryRun(client, workflowId)).map((history) => ({
    bytes: Buffer.from(temporal.api.history.v1.History.encode(history).finish()),
    json: historyToJSON(history),
  }));
}

/** Every row of every table of a SQLite store, as text. */
function dumpSqlite(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    assert.ok(tables.length >= 4, 'the store has its tables');
    return tables
      .map(({ name }) => `${name}: ${JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all())}`)
      .join('\n');
  } finally {
    db.close();
  }
}

/**
 * Payloads in proto3 JSON (`{metadata: {encoding: base64}, data}`), except search attributes
 * (the server indexes them, so they cannot be encrypted), the SDK's own patch markers (which
 * hold only a patch id) and the SDK's data of a local activity marker (its id, type, attempt and
 * times; its result is a payload like any other).
 */
function payloadsOf(json: unknown, path = ''): { path: string; encoding: string }[] {
  if (typeof json !== 'object' || json === null) return [];
  const record = json as Record<string, unknown>;
  const encoding = (record.metadata as Record<string, unknown> | undefined)?.encoding;
  if (typeof encoding === 'string') return [{ path, encoding: Buffer.from(encoding, 'base64').toString() }];
  return Object.entries(record)
    .filter(
      ([key]) =>
        key !== 'searchAttributes' &&
        key !== 'patch-data' &&
        !(key === 'data' && path.endsWith('.markerRecordedEventAttributes.details')),
    )
    .flatMap(([key, value]) => payloadsOf(value, `${path}.${key}`));
}

const contains = (haystack: Buffer | string, needle: string): boolean =>
  typeof haystack === 'string' ? haystack.includes(needle) : haystack.includes(Buffer.from(needle));

describe('secrets and profile data never reach Temporal history or the store in clear text', () => {
  const fx = useKinesisFixture('secrets', { streams: { [STREAM]: 1 } });

  it('runs activations with secrets from an environment variable and a file, then finds them nowhere', async () => {
    const run = randomUUID();
    const envSecret = `env-secret-${run}`;
    const fileSecret = `file-secret-${run}`;
    const secretVar = `SECRETS_E2E_${run.replace(/-/g, '_').toUpperCase()}`;
    process.env[secretVar] = envSecret;
    const secretFile = join(fx.dir, 'secret-access-key');
    writeFileSync(secretFile, `${fileSecret}\n`);
    const emails = Array.from({ length: PROFILES }, (_, i) => `person-${i}-${run}@example.com`);

    const keyring = parseKeyring(`test-key:${randomBytes(32).toString('base64')}`, 'test');
    const codec = new EncryptionCodec(keyring);
    const codecToken = randomBytes(16).toString('hex');
    const codecServer = await startCodecServer({ codec, allowedOrigins: [], auth: { tokens: [codecToken] } });

    const base = { region: 'us-east-1', stream: STREAM, endpoint: fx.emulator.endpoint };
    const destinations: DestinationSettingsInput[] = [
      {
        ...base,
        name: `env-${run}`,
        credentials: { type: 'accessKey', accessKeyId: 'AKIASECRETSEXAMPL1', secretAccessKeyEnv: secretVar },
      },
      {
        ...base,
        name: `file-${run}`,
        credentials: { type: 'accessKey', accessKeyId: 'AKIASECRETSEXAMPL2', secretAccessKeyFile: secretFile },
      },
    ];
    try {
      await withWorker(
        fx.store,
        async ({ client }) => {
          const ids: string[] = [];
          for (const settings of destinations) ids.push((await client.createDestination(settings)).id);
          for (const id of ids)
            await client.activate(id, { segments: [{ id: 'seg', name: 'Segment' }], attributes: ['person.email'] });
          const lines = emails.map((email, i) =>
            JSON.stringify({
              profileId: `p${i}-${run}`,
              identityMap: { email: [{ id: email }] },
              person: { email },
              segmentMembership: {
                ups: { seg: { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } },
              },
            }),
          );
          const ingested = await client.ingest(Readable.from([lines.join('\n')]));
          assert.equal(ingested.accepted, PROFILES);
          for (const id of ids) {
            await waitFor(async () => (await client.status(id)).counters.exported === PROFILES, {
              timeoutMs: 60_000,
              what: `destination ${id} to export every profile`,
            });
          }
          const records = await readAllRecords(fx.kinesis, STREAM);
          assert.equal(
            records.length,
            2 * PROFILES,
            'both destinations exported, so both secrets were resolved and used',
          );
          assert.ok(
            records.every((r) => emails.some((email) => r.data.includes(email))),
            'the records do carry the emails',
          );

          for (const id of ids) {
            const histories = await allHistories(client.client, destinationWorkflowId(id));
            assert.ok(histories.length >= 1);
            for (const { bytes, json } of histories) {
              for (const secret of [envSecret, fileSecret, ...emails]) {
                assert.ok(!contains(bytes, secret) && !contains(json, secret), `${secret} is in the history of ${id}`);
              }
              // Control: the settings (with the variable's name) are in history, only encrypted.
              assert.ok(!contains(bytes, secretVar), 'the workflow input is encrypted');
              const payloads = payloadsOf(JSON.parse(json));
              assert.ok(payloads.length > 5, 'history has payloads');
              assert.deepEqual(
                payloads.filter((p) => p.encoding !== ENCRYPTED_ENCODING),
                [],
                'every payload outside search attributes is encrypted',
              );
            }
            // The codec endpoint gives key holders the clear text (the Web UI's /decode).
            const started = JSON.parse(histories[0]?.json ?? '{}') as {
              events: { workflowExecutionStartedEventAttributes?: { input: { payloads: unknown[] } } }[];
            };
            const input = started.events[0]?.workflowExecutionStartedEventAttributes?.input;
            const response = await fetch(`${codecServer.url}/decode`, {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                'x-namespace': 'default',
                authorization: `Bearer ${codecToken}`,
              },
              body: JSON.stringify(input),
            });
            assert.equal(response.status, 200);
            const decoded = (await response.json()) as { payloads: { metadata: { encoding: string }; data: string }[] };
            assert.equal(Buffer.from(decoded.payloads[0]?.metadata.encoding ?? '', 'base64').toString(), 'json/plain');
            const workflowInput = JSON.parse(Buffer.from(decoded.payloads[0]?.data ?? '', 'base64').toString()) as {
              destinationId: string;
              settings: { stream: string };
            };
            assert.equal(workflowInput.destinationId, id);
            assert.equal(workflowInput.settings.stream, STREAM);
          }
        },
        { dataConverter: dataConverterFor(keyring) },
      );

      const storeText = dumpSqlite(join(fx.dir, 'store.sqlite'));
      assert.ok(storeText.includes(secretVar) && storeText.includes(secretFile), 'the store keeps the references');
      assert.ok(!storeText.includes(envSecret) && !storeText.includes(fileSecret), 'the store keeps no secret');
    } finally {
      delete process.env[secretVar];
      await codecServer.stop();
    }
  });
});
