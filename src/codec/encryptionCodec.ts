import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError } from '@temporalio/common';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { CodecKeyring } from './keyring';

/** Metadata of an encrypted payload: its encoding and the id of the key that encrypted it. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const ENCRYPTION_KEY_ID = 'encryption-key-id';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/**
 * Encrypts every payload with AES-256-GCM: the whole original payload (metadata and data) is
 * serialized and sealed, so history shows neither values nor their encodings. Each payload names
 * its key, so keys rotate: new payloads use the keyring's first key, old ones still decrypt with
 * theirs. Payloads that are not encrypted (histories from before encryption) decode as they are.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keyring: CodecKeyring) {}

  encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keyring.current;
    return Promise.resolve(
      payloads.map((payload) => {
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv(ALGORITHM, key, iv);
        const sealed = Buffer.concat([
          iv,
          cipher.update(temporal.api.common.v1.Payload.encode(payload).finish()),
          cipher.final(),
          cipher.getAuthTag(),
        ]);
        return {
          metadata: {
            [METADATA_ENCODING_KEY]: textEncoder.encode(ENCRYPTED_ENCODING),
            [ENCRYPTION_KEY_ID]: textEncoder.encode(id),
          },
          data: sealed,
        };
      }),
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    // A payload that does not decrypt rejects the promise (the SDK expects no synchronous throw).
    return Promise.resolve().then(() => payloads.map((payload) => this.decodeOne(payload)));
  }

  private decodeOne(payload: Payload): Payload {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (encoding === undefined || encoding === null || textDecoder.decode(encoding) !== ENCRYPTED_ENCODING)
      return payload;
    const idBytes = payload.metadata?.[ENCRYPTION_KEY_ID];
    const id = idBytes ? textDecoder.decode(idBytes) : '';
    const entry = this.keyring.byId.get(id);
    if (!entry)
      throw new ValueError(
        `payload encrypted with key ${JSON.stringify(id)}, which this process does not have; add it to the keyring`,
      );
    const data = Buffer.from(payload.data ?? new Uint8Array(0));
    if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError('encrypted payload is truncated');
    const decipher = createDecipheriv(ALGORITHM, entry.key, data.subarray(0, IV_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new ValueError(
        `payload encrypted with key ${id} does not authenticate (tampered, or a different key under the same id)`,
      );
    }
    return temporal.api.common.v1.Payload.decode(plain);
  }
}
