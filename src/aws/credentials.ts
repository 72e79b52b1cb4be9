import { readFileSync } from 'node:fs';
import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { Credentials } from '../domain/destination';

export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

/** Session name of assumed-role sessions when the destination names none (shows in the customer's CloudTrail). */
export const DEFAULT_ROLE_SESSION_NAME = 'kinesis-activation';
/** Lifetime requested for assumed-role sessions; the SDK refreshes them 5 minutes before they expire. */
export const DEFAULT_ROLE_SESSION_SECONDS = 3600;

export interface CredentialOptions {
  /** The destination's region: its regional STS endpoint issues assumed-role sessions. */
  region: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Lifetime of assumed-role sessions. AWS accepts 900 up to the role's maximum (at most 43,200);
   * emulators accept shorter ones, which tests use to see sessions expire.
   */
  roleSessionSeconds?: number;
}

/**
 * Turns a credentials reference into what the AWS SDK takes. Secrets are read here, on the
 * worker, so they never travel through Temporal. Assumed-role credentials come as a provider,
 * never as resolved values: a client that lives across many activities (and long exports)
 * asks it again before the session expires.
 */
export function resolveCredentials(
  credentials: Credentials,
  options: CredentialOptions,
): KinesisClientConfig['credentials'] {
  const env = options.env ?? process.env;
  switch (credentials.type) {
    case 'accessKey':
      return { accessKeyId: credentials.accessKeyId, secretAccessKey: readSecret(credentials, env) };
    case 'assumeRole':
      // The worker's own identity (default chain) assumes the customer's role.
      return fromTemporaryCredentials({
        params: {
          RoleArn: credentials.roleArn,
          RoleSessionName: credentials.sessionName ?? DEFAULT_ROLE_SESSION_NAME,
          DurationSeconds: options.roleSessionSeconds ?? DEFAULT_ROLE_SESSION_SECONDS,
          ...(credentials.externalId !== undefined ? { ExternalId: credentials.externalId } : {}),
        },
        clientConfig: {
          region: options.region,
          ...(credentials.stsEndpoint !== undefined ? { endpoint: credentials.stsEndpoint } : {}),
        },
      });
    case 'default':
      return undefined;
  }
}

function readSecret(credentials: Extract<Credentials, { type: 'accessKey' }>, env: NodeJS.ProcessEnv): string {
  if (credentials.secretAccessKeyFile !== undefined) {
    let secret: string;
    try {
      secret = readFileSync(credentials.secretAccessKeyFile, 'utf8').trim();
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new CredentialsError(
        `credentials.secretAccessKeyFile: cannot read ${credentials.secretAccessKeyFile} on the worker (${reason})`,
      );
    }
    if (!secret)
      throw new CredentialsError(`credentials.secretAccessKeyFile: ${credentials.secretAccessKeyFile} is empty`);
    return secret;
  }
  const name = credentials.secretAccessKeyEnv ?? '';
  const secret = env[name];
  if (!secret)
    throw new CredentialsError(`credentials.secretAccessKeyEnv: environment variable ${name} is not set on the worker`);
  return secret;
}
