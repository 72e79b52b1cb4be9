import { randomUUID } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { ActivationClient } from '../../src/client/activationClient';
import type { Activation } from '../../src/domain/activation';
import { ensureStream } from '../../src/embedded/ensureStream';

/**
 * A destination on a new one-shard stream of the emulator at `endpoint`, activated with
 * `activation`; its secret is read from the environment variable `secretEnv` (set here).
 */
export async function emulatorDestination(
  client: ActivationClient,
  kinesis: KinesisClient,
  endpoint: string,
  activation: Activation,
  secretEnv = 'TEST_DESTINATION_SECRET',
): Promise<{ id: string; stream: string }> {
  process.env[secretEnv] ??= 'any';
  const stream = `test-${randomUUID()}`;
  await ensureStream(kinesis, stream, 1);
  const { id } = await client.createDestination({
    name: stream,
    region: 'us-east-1',
    stream,
    endpoint,
    credentials: { type: 'accessKey', accessKeyId: 'AKIATESTDESTINAT01', secretAccessKeyEnv: secretEnv },
  });
  await client.activate(id, activation);
  return { id, stream };
}
