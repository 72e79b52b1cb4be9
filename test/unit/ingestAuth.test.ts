import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BearerTokens, IngestAuthError, ingestAuth, isLoopbackHost, tokensFromEnv } from '../../src/http/auth';

const A = 'token-a-0123456789abcdef';
const B = 'token-b-0123456789abcdef';

describe('ingest service tokens', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ka-tokens-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts exactly the configured bearer tokens', () => {
    const tokens = new BearerTokens([A, B]);
    assert.equal(tokens.accepts(`Bearer ${A}`), true);
    assert.equal(tokens.accepts(`bearer ${B}`), true, 'the scheme is case-insensitive');
    for (const wrong of [
      undefined,
      '',
      'Bearer',
      `Bearer ${A}x`,
      `Bearer ${A.slice(0, -1)}`,
      `Basic ${A}`,
      A,
      `Bearer ${A} ${B}`,
    ])
      assert.equal(tokens.accepts(wrong), false, String(wrong));
    assert.equal(new BearerTokens([]).accepts(`Bearer ${A}`), false);
  });

  it('reads tokens from the environment variable and from a file, one a line, comments left out', () => {
    const file = join(dir, 'tokens');
    writeFileSync(file, `# ingest tokens\n${B}\n\n`);
    assert.deepEqual(tokensFromEnv(file, { KINESIS_ACTIVATION_INGEST_TOKENS: ` ${A} ,` }), [A, B]);
    assert.deepEqual(tokensFromEnv(undefined, { KINESIS_ACTIVATION_INGEST_TOKENS_FILE: file }), [B]);
    assert.deepEqual(tokensFromEnv(undefined, {}), []);
  });

  it('rejects short tokens, empty and missing token files, naming the source', () => {
    assert.throws(
      () => tokensFromEnv(undefined, { KINESIS_ACTIVATION_INGEST_TOKENS: `${A},short` }),
      /KINESIS_ACTIVATION_INGEST_TOKENS: token 2 must be at least 16 characters/,
    );
    const empty = join(dir, 'empty');
    writeFileSync(empty, '# nothing\n');
    assert.throws(() => tokensFromEnv(empty, {}), /token file .*empty: no token in it/);
    assert.throws(() => tokensFromEnv(join(dir, 'absent'), {}), /token file .*absent: ENOENT/);
  });

  it('refuses to serve without tokens unless asked to, and then on loopback only', () => {
    assert.throws(() => ingestAuth([], { insecureNoAuth: false, host: '127.0.0.1' }), IngestAuthError);
    assert.throws(() => ingestAuth([], { insecureNoAuth: true, host: '0.0.0.0' }), /loopback only/);
    assert.throws(() => ingestAuth([], { insecureNoAuth: true, host: '::' }), /loopback only/);
    assert.throws(() => ingestAuth([A], { insecureNoAuth: true, host: '127.0.0.1' }), /tokens configured/);
    assert.equal(ingestAuth([], { insecureNoAuth: true, host: '127.0.0.1' }), null);
    assert.equal(ingestAuth([A], { insecureNoAuth: false, host: '0.0.0.0' })?.size, 1);
  });

  it('knows loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1', '::ffff:10.0.0.1'])
      assert.equal(isLoopbackHost(host), false, host);
  });
});
