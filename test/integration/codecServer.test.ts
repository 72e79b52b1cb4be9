import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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

const TOKEN = randomBytes(24).toString('base64url');

async function post(url: string, body: unknown, origin = UI, authorization = `Bearer ${TOKEN}`): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      origin,
      'x-namespace': 'default',
      ...(authorization ? { authorization } : {}),
    },
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
      auth: { tokens: ['another-token', TOKEN] },
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

  it('answers 401 without a valid bearer token, with CORS so the UI can read it', async () => {
    const encoded = (await (await post(`${server.url}/encode`, { payloads: [plainPayload] })).json()) as Payloads;
    for (const authorization of [
      '',
      'Bearer',
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Basic ${TOKEN}`,
      `Bearer ${TOKEN} extra`,
    ]) {
      const res = await post(`${server.url}/decode`, encoded, UI, authorization);
      assert.equal(res.status, 401, `authorization ${JSON.stringify(authorization)}`);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      assert.equal(res.headers.get('access-control-allow-origin'), UI);
      assert.deepEqual(await res.json(), {
        message: 'a valid bearer token is required (Authorization: Bearer <token>)',
      });
    }
    // Without an Origin header (not a browser), a token is required all the same.
    const direct = await fetch(`${server.url}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(encoded),
    });
    assert.equal(direct.status, 401);
    // Either configured token opens it, the scheme in any case.
    assert.equal((await post(`${server.url}/decode`, encoded, UI, 'Bearer another-token')).status, 200);
    assert.equal((await post(`${server.url}/decode`, encoded, UI, `bearer ${TOKEN}`)).status, 200);
  });

  it('refuses to start open anywhere but on loopback, or with an empty token', async () => {
    const codec = new EncryptionCodec(parseKeyring(`ui-key:${key}`, 'test'));
    await assert.rejects(
      startCodecServer({ codec, host: '0.0.0.0', auth: { unauthenticatedLoopback: true } }),
      /^Error: codec endpoint without a token must listen on a loopback address, not 0\.0\.0\.0$/,
    );
    await assert.rejects(startCodecServer({ codec, auth: { tokens: [] } }), /needs at least one token/);
    await assert.rejects(startCodecServer({ codec, auth: { tokens: [''] } }), /needs at least one token/);
    const open = await startCodecServer({ codec, auth: { unauthenticatedLoopback: true } });
    try {
      const res = await post(`${open.url}/encode`, { payloads: [plainPayload] }, UI, '');
      assert.equal(res.status, 200);
    } finally {
      await open.stop();
    }
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

    const noToken = await runCli(['codec-server'], {
      KINESIS_ACTIVATION_CODEC_KEY: `ui-key:${key}`,
      KINESIS_ACTIVATION_CODEC_AUTH_TOKENS: '',
    });
    assert.equal(noToken.code, 1);
    assert.equal(
      noToken.stderr,
      'kinesis-activation: no auth token: pass --auth-token-file FILE or set KINESIS_ACTIVATION_CODEC_AUTH_TOKENS (or --unauthenticated on a loopback --host)\n',
    );

    const dir = mkdtempSync(join(tmpdir(), 'ka-codec-'));
    const tokenFile = join(dir, 'tokens');
    writeFileSync(tokenFile, `# the UI's token\n${TOKEN}\n\n`);
    const bin = resolve(__dirname, '..', '..', 'bin', 'kinesis-activation');
    const child = spawn(
      process.execPath,
      [bin, 'codec-server', '--port', '0', '--json', '--allow-origin', UI, '--auth-token-file', tokenFile],
      {
        env: { ...process.env, KINESIS_ACTIVATION_CODEC_KEY: `ui-key:${key}` },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
      const { url, keyIds } = JSON.parse(line) as { url: string; keyIds: string[] };
      assert.deepEqual(keyIds, ['ui-key']);
      // What the in-process server sealed, the command's server opens: same key, same format.
      const encoded = (await (await post(`${server.url}/encode`, { payloads: [plainPayload] })).json()) as Payloads;
      assert.deepEqual(await (await post(`${url}/decode`, encoded)).json(), { payloads: [plainPayload] });
      assert.equal((await post(`${url}/decode`, encoded, UI, 'Bearer wrong')).status, 401);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
