import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import { ENCRYPTED_ENCODING, ENCRYPTION_KEY_ID, EncryptionCodec } from '../../src/codec/encryptionCodec';
import { keyringFromEnv, parseKeyring } from '../../src/codec/keyring';

const key = (): string => randomBytes(32).toString('base64');
const text = (bytes: Uint8Array | null | undefined): string => Buffer.from(bytes ?? new Uint8Array(0)).toString('utf8');
const SECRET_VALUE = { email: 'ann@example.com', secret: 'hunter2-distinctive' };

describe('payload encryption codec', () => {
  it('encrypts the whole payload, names its key, and decrypts it back exactly', async () => {
    const codec = new EncryptionCodec(parseKeyring(`k1:${key()}`, 'test'));
    const plain = defaultPayloadConverter.toPayload(SECRET_VALUE);
    const [encrypted] = await codec.encode([plain]);
    assert.ok(encrypted);
    assert.equal(text(encrypted.metadata?.encoding), ENCRYPTED_ENCODING);
    assert.equal(text(encrypted.metadata?.[ENCRYPTION_KEY_ID]), 'k1');
    const wire = Buffer.from(encrypted.data ?? new Uint8Array(0)).toString('latin1');
    assert.ok(!wire.includes('ann@example.com') && !wire.includes('json/plain'), 'neither value nor encoding in clear');
    const [decoded] = await codec.decode([encrypted]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded as Payload), SECRET_VALUE);
  });

  it('rotates keys: encrypts with the first key and decrypts with any known one', async () => {
    const [oldKey, newKey] = [key(), key()];
    const before = new EncryptionCodec(parseKeyring(`old:${oldKey}`, 'test'));
    const [sealedWithOld] = await before.encode([defaultPayloadConverter.toPayload('v1')]);
    const after = new EncryptionCodec(parseKeyring(`new:${newKey},old:${oldKey}`, 'test'));
    const [sealedWithNew] = await after.encode([defaultPayloadConverter.toPayload('v2')]);
    assert.equal(text(sealedWithNew?.metadata?.[ENCRYPTION_KEY_ID]), 'new');
    const decoded = await after.decode([sealedWithOld as Payload, sealedWithNew as Payload]);
    assert.deepEqual(
      decoded.map((p) => defaultPayloadConverter.fromPayload(p)),
      ['v1', 'v2'],
    );
    await assert.rejects(
      before.decode([sealedWithNew as Payload]),
      /encrypted with key "new", which this process does not have/,
    );
  });

  it('passes payloads that were never encrypted through, so older histories still decode', async () => {
    const codec = new EncryptionCodec(parseKeyring(key(), 'test'));
    const plain = defaultPayloadConverter.toPayload({ a: 1 });
    assert.deepEqual(await codec.decode([plain]), [plain]);
  });

  it('refuses a tampered payload', async () => {
    const codec = new EncryptionCodec(parseKeyring(`k:${key()}`, 'test'));
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload('x')]);
    const data = Buffer.from(sealed?.data ?? new Uint8Array(0));
    data[20] = (data[20] ?? 0) ^ 1;
    await assert.rejects(codec.decode([{ ...sealed, data }]), /does not authenticate/);
  });
});

describe('codec keyring configuration', () => {
  it('takes a bare key (id derived from it), or id:key entries newest first', () => {
    const bare = key();
    const single = parseKeyring(bare, 'X');
    assert.match(single.current.id, /^k[0-9a-f]{12}$/);
    assert.equal(parseKeyring(bare, 'X').current.id, single.current.id, 'the derived id is stable');
    const ring = parseKeyring(`2025-06:${key()},\n2025-01:${key()}`, 'X');
    assert.equal(ring.current.id, '2025-06');
    assert.deepEqual([...ring.byId.keys()], ['2025-06', '2025-01']);
  });

  for (const [value, message] of [
    ['', 'KINESIS_ACTIVATION_CODEC_KEY: no key given'],
    [
      'k1:not base64!',
      'KINESIS_ACTIVATION_CODEC_KEY: entry 1: key must be base64 (generate one with: openssl rand -base64 32)',
    ],
    [
      `k1:${randomBytes(16).toString('base64')}`,
      'KINESIS_ACTIVATION_CODEC_KEY: entry 1: key must be 32 bytes of base64, got 16 bytes (generate one with: openssl rand -base64 32)',
    ],
    [
      `k1:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`,
      'KINESIS_ACTIVATION_CODEC_KEY: key id k1 is given twice',
    ],
    [
      `bad id!:${randomBytes(32).toString('base64')}`,
      'KINESIS_ACTIVATION_CODEC_KEY: entry 1: key id must be 1-64 of A-Z a-z 0-9 . _ -',
    ],
  ] as const) {
    it(`rejects ${JSON.stringify(value.slice(0, 12))}... with one line naming the variable`, () => {
      // An empty variable means "not configured"; an explicitly empty keyring text is the error.
      assert.throws(
        () =>
          value === ''
            ? parseKeyring(value, 'KINESIS_ACTIVATION_CODEC_KEY')
            : keyringFromEnv({ KINESIS_ACTIVATION_CODEC_KEY: value }),
        { name: 'CodecKeyError', message },
      );
    });
  }

  it('reads a key file, and refuses both sources at once or an unreadable file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ka-keys-'));
    try {
      const file = join(dir, 'keys');
      writeFileSync(file, `# newest first\nnew:${key()}\nold:${key()}\n`);
      assert.deepEqual(
        [...(keyringFromEnv({ KINESIS_ACTIVATION_CODEC_KEY_FILE: file })?.byId.keys() ?? [])],
        ['new', 'old'],
      );
      assert.throws(
        () => keyringFromEnv({ KINESIS_ACTIVATION_CODEC_KEY: key(), KINESIS_ACTIVATION_CODEC_KEY_FILE: file }),
        {
          message: 'KINESIS_ACTIVATION_CODEC_KEY and KINESIS_ACTIVATION_CODEC_KEY_FILE are both set; set one',
        },
      );
      assert.throws(() => keyringFromEnv({ KINESIS_ACTIVATION_CODEC_KEY_FILE: join(dir, 'missing') }), {
        message: `KINESIS_ACTIVATION_CODEC_KEY_FILE: cannot read ${join(dir, 'missing')} (ENOENT)`,
      });
      assert.equal(keyringFromEnv({}), undefined, 'no key: payloads stay unencrypted');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
