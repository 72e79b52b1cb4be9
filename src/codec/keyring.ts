import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Environment variables that configure payload encryption (one of them, not both). */
export const CODEC_KEY_ENV = 'KINESIS_ACTIVATION_CODEC_KEY';
export const CODEC_KEY_FILE_ENV = 'KINESIS_ACTIVATION_CODEC_KEY_FILE';

export interface CodecKey {
  id: string;
  /** 32 bytes: an AES-256 key. */
  key: Buffer;
}

/** The keys payloads are encrypted with: the first encrypts, every one decrypts (key rotation). */
export interface CodecKeyring {
  current: CodecKey;
  byId: ReadonlyMap<string, CodecKey>;
}

/** A bad key configuration; the message names the variable and the entry. */
export class CodecKeyError extends Error {
  override name = 'CodecKeyError';
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Parses `id:base64key` entries separated by commas or line breaks, newest first. An entry
 * without an id gets one derived from the key, so a single bare key also works.
 */
export function parseKeyring(text: string, source: string): CodecKeyring {
  const entries = text
    .split(/[,\n]/)
    .map((e) => e.trim())
    .filter((e) => e !== '' && !e.startsWith('#'));
  if (entries.length === 0) throw new CodecKeyError(`${source}: no key given`);
  const keys = entries.map((entry, i) => parseEntry(entry, `${source}: entry ${i + 1}`));
  const byId = new Map<string, CodecKey>();
  for (const key of keys) {
    if (byId.has(key.id)) throw new CodecKeyError(`${source}: key id ${key.id} is given twice`);
    byId.set(key.id, key);
  }
  return { current: keys[0] as CodecKey, byId };
}

function parseEntry(entry: string, where: string): CodecKey {
  const colon = entry.indexOf(':');
  const encoded = colon < 0 ? entry : entry.slice(colon + 1).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded))
    throw new CodecKeyError(`${where}: key must be base64 (generate one with: openssl rand -base64 32)`);
  const key = Buffer.from(encoded, 'base64');
  if (key.length !== 32)
    throw new CodecKeyError(
      `${where}: key must be 32 bytes of base64, got ${key.length} bytes (generate one with: openssl rand -base64 32)`,
    );
  const id =
    colon < 0 ? `k${createHash('sha256').update(key).digest('hex').slice(0, 12)}` : entry.slice(0, colon).trim();
  if (!KEY_ID.test(id)) throw new CodecKeyError(`${where}: key id must be 1-64 of A-Z a-z 0-9 . _ -`);
  return { id, key };
}

/** The keyring configured in the environment, or undefined when payloads are not encrypted. */
export function keyringFromEnv(env: NodeJS.ProcessEnv = process.env): CodecKeyring | undefined {
  const inline = env[CODEC_KEY_ENV];
  const file = env[CODEC_KEY_FILE_ENV];
  if (inline && file) throw new CodecKeyError(`${CODEC_KEY_ENV} and ${CODEC_KEY_FILE_ENV} are both set; set one`);
  if (inline) return parseKeyring(inline, CODEC_KEY_ENV);
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CodecKeyError(
      `${CODEC_KEY_FILE_ENV}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
  return parseKeyring(text, `${CODEC_KEY_FILE_ENV} (${file})`);
}
