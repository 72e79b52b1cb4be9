import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/** Bearer tokens of the ingest service, comma-separated. */
export const INGEST_TOKENS_ENV = 'KINESIS_ACTIVATION_INGEST_TOKENS';
/** A file with the tokens, one a line or comma-separated (`#` starts a comment line). */
export const INGEST_TOKENS_FILE_ENV = 'KINESIS_ACTIVATION_INGEST_TOKENS_FILE';

/** A token configuration the service must not start with; the message names the fix. */
export class IngestAuthError extends Error {
  override name = 'IngestAuthError';
}

/** Shorter tokens are guessable; `openssl rand -base64 24` gives 32 characters. */
const MIN_TOKEN_LENGTH = 16;

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * The accepted bearer tokens, kept as SHA-256 digests: comparing digests of equal length with
 * timingSafeEqual, against every token without stopping at a match, tells a caller nothing
 * about how close a guess came or which token matched.
 */
export class BearerTokens {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digest);
  }

  get size(): number {
    return this.digests.length;
  }

  /** Whether an Authorization header value carries one of the tokens. */
  accepts(authorization: string | undefined): boolean {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    if (!match?.[1]) return false;
    const presented = digest(match[1]);
    let accepted = false;
    for (const known of this.digests) accepted = timingSafeEqual(presented, known) || accepted;
    return accepted;
  }
}

/** Tokens from comma- or line-separated text; `source` names where they came from in errors. */
export function parseTokens(text: string, source: string): string[] {
  const tokens = text
    .split(/[,\n]/)
    .map((t) => t.trim())
    .filter((t) => t !== '' && !t.startsWith('#'));
  tokens.forEach((token, i) => {
    if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token))
      throw new IngestAuthError(
        `${source}: token ${i + 1} must be at least ${MIN_TOKEN_LENGTH} characters without spaces ` +
          '(generate one with: openssl rand -base64 24)',
      );
  });
  return tokens;
}

/**
 * The tokens of KINESIS_ACTIVATION_INGEST_TOKENS and of a token file (`file`, else
 * KINESIS_ACTIVATION_INGEST_TOKENS_FILE).
 */
export function tokensFromEnv(file?: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const tokens = env[INGEST_TOKENS_ENV] ? parseTokens(env[INGEST_TOKENS_ENV], INGEST_TOKENS_ENV) : [];
  const path = file ?? env[INGEST_TOKENS_FILE_ENV];
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new IngestAuthError(`token file ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const fromFile = parseTokens(text, `token file ${path}`);
    if (fromFile.length === 0) throw new IngestAuthError(`token file ${path}: no token in it`);
    tokens.push(...fromFile);
  }
  return tokens;
}

/** Whether `host` only listens on this machine: a loopback address or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1' || /^::ffff:127\./i.test(bare);
}

/**
 * The tokens the service requires, or null for none: it refuses to start open unless asked to
 * with `insecureNoAuth` and listening on loopback only (and then with no token configured).
 */
export function ingestAuth(
  tokens: readonly string[],
  options: { insecureNoAuth: boolean; host: string },
): BearerTokens | null {
  if (options.insecureNoAuth) {
    if (tokens.length > 0)
      throw new IngestAuthError(`--insecure-no-auth with tokens configured: drop the flag, or the tokens`);
    if (!isLoopbackHost(options.host))
      throw new IngestAuthError(
        `--insecure-no-auth listens on loopback only (such as 127.0.0.1), not on ${options.host}: ` +
          `configure tokens in ${INGEST_TOKENS_ENV} or a token file`,
      );
    return null;
  }
  if (tokens.length === 0)
    throw new IngestAuthError(
      `no ingest token: set ${INGEST_TOKENS_ENV} (comma-separated) or give --token-file; ` +
        '--insecure-no-auth serves without one on loopback only',
    );
  return new BearerTokens(tokens);
}
