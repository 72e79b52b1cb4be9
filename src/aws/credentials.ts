import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import type { Credentials } from '../domain/destination';

export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

/**
 * Turns a credentials reference into what the AWS SDK takes. Secrets are read here, on the
 * worker, so they never travel through Temporal.
 */
export function resolveCredentials(credentials: Credentials, env: NodeJS.ProcessEnv = process.env): KinesisClientConfig['credentials'] {
  switch (credentials.type) {
    case 'accessKey': {
      const secretAccessKey = env[credentials.secretAccessKeyEnv];
      if (!secretAccessKey) {
        throw new CredentialsError(`credentials.secretAccessKeyEnv: environment variable ${credentials.secretAccessKeyEnv} is not set on the worker`);
      }
      return { accessKeyId: credentials.accessKeyId, secretAccessKey };
    }
    case 'assumeRole':
      throw new CredentialsError('credentials.type: assumeRole is not available in this version; use accessKey or default');
    case 'default':
      return undefined;
  }
}
