import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { startCodecServer } from '../../src/codec/codecServer';
import type { CodecServer } from '../../src/codec/codecServer';
import { EncryptionCodec } from '../../src/codec/encryptionCodec';
import { parseKeyring } from '../../src/codec/keyring';
import { runCli } from '../support/cli';

const UI = 'http://127.0.0.1:8233';
const b64 = (text: string): string => Buffer.from(text).toString('base64');
const plainPayload = {
  metadata: { encoding: b64('json/plain') },
  data: b64(JSON.stringify({ email: 'ann@example.com' })),
};

interface Payloads {
  payloads: { metadata: Record<string, string>; data: string }[];
}

async function post(url: string, body: unknown, origin = UI): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin, 'x-namespace': 'default' },
    body: JSON.stringify(body),
  });
}

describe('codec endpoint for the Temporal Web UI', () => {
  const key = randomBytes(32).toString('base64');
  let server: CodecServer;

  before(async () => {
    server = await startCodecServer({
      codec: new EncryptionCodec(parseKeyring(`ui-key:${key}`, 'test')),
      allowedOrigins: [UI],
    });
  });
  after(() => server.stop());

  it("answers the UI's CORS preflight for its origin", async () => {
    const res = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: UI,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), UI);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /X-Namespace/);
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
  });

  it('encodes and decodes payloads in the proto3 JSON the UI sends', async () => {
    const encoded = (await (await post(`${server.url}/encode`, { payloads: [plainPayload] })).json()) as Payloads;
    const sealed = encoded.payloads[0];
    assert.ok(sealed);
    assert.equal(Buffer.from(sealed.metadata.encoding ?? '', 'base64').toString(), 'binary/encrypted');
    assert.equal(Buffer.from(sealed.metadata['encryption-key-id'] ?? '', 'base64').toString(), 'ui-key');
    assert.ok(!Buffer.from(sealed.data, 'base64').toString('latin1').includes('ann@example.com'));
    const res = await post(`${server.url}/decode`, encoded);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), UI);
    assert.deepEqual(await res.json(), { payloads: [plainPayload] });
  });

  it('refuses other origins and malformed bodies', async () => {
    const foreign = await post(`${server.url}/decode`, { payloads: [] }, 'http://evil.example');
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    assert.equal((await post(`${server.url}/decode`, { nothing: true })).status, 400);
    assert.equal((await post(`${server.url}/other`, { payloads: [] })).status, 404);
  });

  it('runs as `kinesis-activation codec-server` with the key from the environment', async () => {
    const missing = await runCli(['codec-server'], {
      KINESIS_ACTIVATION_CODEC_KEY: '',
      KINESIS_ACTIVATION_CODEC_KEY_FILE: '',
    });
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr,
      'kinesis-activation: no codec key: set KINESIS_ACTIVATION_CODEC_KEY or KINESIS_ACTIVATION_CODEC_KEY_FILE\n',
    );

    const bin = resolve(__dirname, '..', '..', 'bin', 'kinesis-activation');
    const child = spawn(process.execPath, [bin, 'codec-server', '--port', '0', '--json', '--allow-origin', UI], {
      env: { ...process.env, KINESIS_ACTIVATION_CODEC_KEY: `ui-key:${key}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
      const { url, keyIds } = JSON.parse(line) as { url: string; keyIds: string[] };
      assert.deepEqual(keyIds, ['ui-key']);
      // What the in-process server sealed, the command's server opens: same key, same format.
      const encoded = (await (await post(`${server.url}/encode`, { payloads: [plainPayload] })).json()) as Payloads;
      assert.deepEqual(await (await post(`${url}/decode`, encoded)).json(), { payloads: [plainPayload] });
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});
