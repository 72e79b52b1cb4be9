import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export const CODEC_AUTH_TOKENS_ENV = 'KINESIS_ACTIVATION_CODEC_AUTH_TOKENS';

/** Who may call the codec endpoint. */
export type CodecAuth =
  /** Callers presenting `Authorization: Bearer <one of these>`. */
  | { tokens: readonly string[] }
  /**
   * Anyone who reaches it: only on a loopback address, where only processes of this machine do
   * (`dev`: the Web UI of a dev server cannot send a static token).
   */
  | { unauthenticatedLoopback: true };

/**
 * The tokens of `--auth-token-file` (one per line; blank lines and `#` comments skipped), else
 * of KINESIS_ACTIVATION_CODEC_AUTH_TOKENS (comma-separated); none when neither is given.
 */
export function readAuthTokens(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  let text: string;
  let separator: RegExp;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`--auth-token-file: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    separator = /\r?\n/;
  } else {
    text = env[CODEC_AUTH_TOKENS_ENV] ?? '';
    separator = /,/;
  }
  return text
    .split(separator)
    .map((token) => token.trim())
    .filter((token) => token !== '' && !token.startsWith('#'));
}

/** Checks `Authorization` headers against the configured tokens, in time independent of where they differ. */
export function bearerCheck(auth: CodecAuth, host: string): (authorization: string | undefined) => boolean {
  if ('unauthenticatedLoopback' in auth) {
    if (!isLoopback(host))
      throw new Error(`codec endpoint without a token must listen on a loopback address, not ${host}`);
    return () => true;
  }
  if (auth.tokens.length === 0 || auth.tokens.some((token) => token === '' || /\s/.test(token)))
    throw new Error('codec endpoint needs at least one token, each without spaces');
  // Comparing digests gives equal lengths, which timingSafeEqual needs, and hides the tokens' lengths.
  const digests = auth.tokens.map(digest);
  return (authorization) => {
    const presented = /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
    const candidate = digest(presented ?? '');
    let matched = false;
    for (const expected of digests) matched = timingSafeEqual(expected, candidate) || matched;
    return presented !== undefined && matched;
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
